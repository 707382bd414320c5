"""The before/after figure: images, histograms and cumulative distributions."""

from __future__ import annotations

import numpy as np

from histeq._histogram import cumulative_distribution, histogram

__all__ = ["before_after", "contact_sheet"]


def _grey(image: np.ndarray, channel_axis: int | None) -> np.ndarray:
    if channel_axis is None:
        return image
    rgb = np.moveaxis(image, channel_axis, -1)[..., :3].astype(np.float64)
    return (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(image.dtype)


def _value_range(image: np.ndarray, value_range=None) -> tuple[float, float]:
    """What black and white stand for: ``value_range``, else the dtype's range (integers) or [0, 1]."""
    if value_range is not None:
        return value_range
    if image.dtype.kind in "ui":
        info = np.iinfo(image.dtype)
        return int(info.min), int(info.max)
    return 0.0, 1.0


def _shown(image: np.ndarray, channel_axis: int | None, value_range=None) -> np.ndarray:
    if channel_axis is not None:
        image = np.moveaxis(image, channel_axis, -1)
    lo, hi = _value_range(image, value_range)
    return np.clip((np.nan_to_num(image.astype(np.float64)) - lo) / (hi - lo), 0, 1)


def before_after(original, result, *, channel_axis=None, titles=("original", "equalized"), nbins=256, value_range=None):
    """A matplotlib Figure: both images above their histograms and cumulative distributions.

    Parameters
    ----------
    original, result : (M, N[, C]) ndarray
        2-D grey or colour images of one dtype.
    channel_axis : int, optional
        Colour axis; the plots then show the histograms of the red, green and
        blue channels (lines) over that of the BT.601 luma (bars), and the
        luma's cumulative distribution.
    titles : (str, str)
        Column titles.
    nbins : int
        Bins of the plotted histograms.
    value_range : (lo, hi), optional
        The values shown black and white, and the histograms' range, for both
        images (e.g. a DICOM image's stored range).  Default: the dtype's range
        for integers, [0, 1] for floats.

    Returns
    -------
    matplotlib.figure.Figure
        Save it with ``fig.savefig(path)``.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'histeq[plot]'") from None
    fig = Figure(figsize=(10, 8), layout="constrained")
    axes = fig.subplots(2, 2, height_ratios=(3, 2))
    for column, (image, title) in enumerate(zip((original, result), titles)):
        ax = axes[0, column]
        shown = _shown(image, channel_axis, value_range)
        ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title)
        ax.set_axis_off()
        grey = _grey(image, channel_axis)
        info_range = _value_range(grey, value_range)
        counts, edges = histogram(grey, nbins=nbins, in_range=info_range)
        cdf, centers = cumulative_distribution(grey, nbins=nbins, in_range=info_range)
        hist_ax = axes[1, column]
        hist_ax.bar(
            edges[:-1],
            counts,
            width=np.diff(edges),
            align="edge",
            color="0.35" if channel_axis is None else "0.75",
            label="luma (BT.601)",
        )
        if channel_axis is not None:
            channels = np.moveaxis(image, channel_axis, -1)
            for c, (colour, name) in enumerate(zip(("tab:red", "tab:green", "tab:blue"), ("red", "green", "blue"))):
                channel_counts, _ = histogram(channels[..., c], nbins=nbins, in_range=info_range)
                hist_ax.step(edges[:-1], channel_counts, where="post", color=colour, linewidth=0.8, label=name)
            hist_ax.legend(loc="upper left", fontsize="small", frameon=False)
        hist_ax.set_xlim(edges[0], edges[-1])
        hist_ax.set_xlabel("level")
        hist_ax.set_ylabel("pixels per bin")
        cdf_ax = hist_ax.twinx()
        cdf_colour = "tab:red" if channel_axis is None else "black"  # red is a channel's colour
        cdf_ax.plot(centers, cdf, color=cdf_colour)
        cdf_ax.set_ylim(0, 1.02)
        cdf_ax.set_ylabel("cumulative fraction", color=cdf_colour)
    return fig


def contact_sheet(original, result, *, axes, channel_axis=None, titles=("original", "equalized"), count=8):
    """A matplotlib Figure: up to ``count`` images of a batch, evenly sampled, originals above results.

    Parameters
    ----------
    original, result : ndarray
        Batches of one shape and dtype whose ``axes`` are the two spatial axes of each image.
    axes : (int, int)
        The spatial axes.
    channel_axis : int, optional
        Colour axis (kept for display).
    titles : (str, str)
        Row labels.
    count : int
        Most images shown.

    Returns
    -------
    matplotlib.figure.Figure
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'histeq[plot]'") from None
    ndim = np.ndim(original)
    spatial = tuple(sorted(a % ndim for a in axes))
    if len(spatial) != 2:
        raise ValueError(f"a contact sheet shows 2-D images; got axes {axes}")
    channel = None if channel_axis is None else channel_axis % ndim
    kept = spatial + (() if channel is None else (channel,))
    batch = [a for a in range(ndim) if a not in kept]

    def images(array):
        moved = np.moveaxis(np.asarray(array), batch + list(kept), list(range(ndim)))
        return moved.reshape((-1,) + moved.shape[len(batch) :])

    before, after = images(original), images(result)
    picks = np.unique(np.linspace(0, len(before) - 1, min(count, len(before))).round().astype(int))
    fig = Figure(figsize=(1.6 * len(picks) + 1, 3.6), layout="constrained")
    grid = np.atleast_2d(fig.subplots(2, len(picks), squeeze=False))
    for column, index in enumerate(picks):
        for row, (stack, title) in enumerate(zip((before, after), titles)):
            shown = _shown(stack[index], None if channel is None else -1)
            ax = grid[row, column]
            ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"#{index}", fontsize=8)
            if column == 0:
                ax.set_ylabel(title)
    return fig
