"""The CLAHE gallery: original, global equalization and CLAHE, each above its histogram.

Run:  python docs/gallery.py [OUT.png]   (default: docs/_build/gallery.png)

Images that ship with scikit-image (a photograph, a low-contrast moon surface,
coins under uneven light) and the bundled sample micrograph; no downloads.  Needs the ``plot`` and ``test``
extras (matplotlib, scikit-image).
"""

from __future__ import annotations

import sys
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np

import histeq
from histeq import io


def _images() -> dict[str, np.ndarray]:
    from skimage import data

    with as_file(files("histeq") / "data" / "sample.png") as sample:
        micrograph = io.read_image(sample)
    return {
        "camera": data.camera(),
        "moon": data.moon(),
        "coins": data.coins(),
        "micrograph (bundled sample)": micrograph,
    }


def figure(images: dict[str, np.ndarray]):
    from matplotlib.figure import Figure

    methods = {
        "original": lambda im: im,
        "global equalization": histeq.equalize,
        "CLAHE, 8x8 tiles, clip 2": lambda im: histeq.clahe(im, tiles=8, clip_limit=2.0),
        # The clip limit is relative to the mean over all bins: binning only the
        # image's own range makes it bite on low-contrast images.
        "CLAHE, clip 2, bins over the image's range": lambda im: histeq.clahe(
            im, tiles=8, clip_limit=2.0, in_range=(int(im.min()), int(im.max()))
        ),
    }
    fig = Figure(figsize=(4 * len(methods), 5.2 * len(images)), layout="constrained")
    rows = fig.subfigures(len(images), 1)
    for row, (name, image) in zip(np.atleast_1d(rows), images.items()):
        row.suptitle(f"{name}: {image.dtype}, {image.shape[0]}x{image.shape[1]}")
        axes = row.subplots(2, len(methods), height_ratios=(3, 1))
        top = float(np.iinfo(image.dtype).max) if image.dtype.kind in "ui" else 1.0
        for column, (title, method) in enumerate(methods.items()):
            result = method(image)
            axes[0, column].imshow(result, cmap="gray", vmin=0, vmax=top, interpolation="nearest")
            axes[0, column].set_title(title)
            axes[0, column].set_axis_off()
            counts, edges = histeq.histogram(result, nbins=256, in_range=(0, int(top)) if top > 1 else (0.0, 1.0))
            axes[1, column].bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="0.3")
            axes[1, column].set_yticks([])
            axes[1, column].set_xlim(edges[0], edges[-1])
    return fig


def main(argv: list[str] | None = None) -> Path:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(__file__).parent / "_build" / "gallery.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    figure(_images()).savefig(out, dpi=60)
    print(out)
    return out


if __name__ == "__main__":
    main()
