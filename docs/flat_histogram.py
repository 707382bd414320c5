"""Why is my histogram not flat after equalization?  The figure that answers it.

Run:  python docs/flat_histogram.py [OUT.png]   (default: docs/flat_histogram.png)

The camera photograph (shipped with scikit-image), its global equalization and
its exact equalization, each above its histogram and cumulative distribution.
Needs the ``plot`` and ``test`` extras (matplotlib, scikit-image).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import histeq


def figure(image: np.ndarray):
    from matplotlib.figure import Figure

    results = {
        "original": image,
        "equalize: one level in, one level out": histeq.equalize(image),
        "equalize(exact=True): ties split": histeq.equalize(image, exact=True),
    }
    fig = Figure(figsize=(13, 7.5), layout="constrained")
    axes = fig.subplots(3, len(results), height_ratios=(3, 1.2, 1.2))
    for column, (title, result) in enumerate(results.items()):
        counts, edges = histeq.histogram(result)
        cdf, centers = histeq.cumulative_distribution(result)
        axes[0, column].imshow(result, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        axes[0, column].set_title(title)
        axes[0, column].set_axis_off()
        axes[1, column].bar(centers, counts, width=1.0, color="0.3")
        axes[1, column].set_xlim(edges[0], edges[-1])
        axes[1, column].set_ylim(0, 12000)
        axes[1, column].set_ylabel("pixels per level" if column == 0 else "")
        axes[2, column].plot(centers, cdf, color="0.2")
        axes[2, column].plot([0, 255], [0, 1], color="0.6", linestyle=":")
        axes[2, column].set_xlim(edges[0], edges[-1])
        axes[2, column].set_ylabel("cumulative" if column == 0 else "")
    return fig


def main(argv: list[str] | None = None) -> Path:
    from skimage import data

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(__file__).parent / "flat_histogram.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    figure(data.camera()).savefig(out, dpi=60)
    print(out)
    return out


if __name__ == "__main__":
    main()
