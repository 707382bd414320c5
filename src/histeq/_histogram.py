"""The public histograms: each function its signature, its docstring and one call."""

from __future__ import annotations

from typing import Any, overload

import numpy as np

from histeq import _dispatch
from histeq._types import ArrayLike, Axes, ChannelAxis, Image, Range, Sequenced

__all__ = ["histogram", "cumulative_distribution"]


@overload
def histogram(
    image: np.ndarray,
    *,
    nbins: int | None = ...,
    mask: ArrayLike = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    in_range: Range = ...,
    threads: int | None = ...,
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def histogram(
    image: Image,
    *,
    nbins: int | None = ...,
    mask: ArrayLike = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    in_range: Range = ...,
    threads: int | None = ...,
) -> tuple[Any, Any]: ...
@overload
def histogram(
    image: Sequenced,
    *,
    nbins: int | None = ...,
    mask: ArrayLike = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    in_range: Range = ...,
    threads: int | None = ...,
) -> tuple[np.ndarray, np.ndarray]: ...
def histogram(
    image: Image | Sequenced,
    *,
    nbins: int | None = None,
    mask: ArrayLike = None,
    axes: Axes = None,
    channel_axis: ChannelAxis = None,
    in_range: Range = None,
    threads: int | None = None,
) -> tuple[Any, Any]:
    """Histogram of every image of a batch.

    Parameters
    ----------
    image : (..., M, N[, ...]) ndarray
        Integer or floating-point array.
    nbins : int, optional
        Number of bins.  Default: one per level for integers of at most 16 bits
        (uint8: 256, uint16/int16: 65536), 65536 for 32-bit integers, 4096
        for floats.  Integer data are binned in whole levels: never more bins
        than the range has levels (a 32-bit image holding three levels gets
        three bins; in a batch, every image gets the bins of the widest, each
        in whole levels from its lowest counted value).
    mask : bool ndarray, optional
        Only pixels where ``mask`` is True are counted.  Shape of the image
        without the channel axis, or broadcastable to it.
    axes : int or tuple of int, optional
        Spatial axes of one image; every other axis (the channel axis included)
        is a batch axis with a histogram per entry.  Default: all axes but the
        channel axis.
    channel_axis : int, optional
        Axis of colour channels; each channel gets its own histogram.
    in_range : (lo, hi), optional
        Range the bins cover.  Values outside are counted in the end bins.
        Default: the dtype's range for integers of at most 16 bits, each
        image's own range of finite values for 32-bit integers and floats.
    threads : int, optional
        Number of threads (default: :func:`histeq.get_num_threads`).

    Returns
    -------
    counts : (..., nbins) int64 ndarray
        Pixel counts per bin, ``...`` being the batch shape (the axes that are
        neither spatial nor the channel axis); NaN and infinite values are
        never counted.
    bin_edges : (nbins + 1,) or (..., nbins + 1) float64 ndarray
        Bin edges, shared by all images when the range is fixed (integers of
        at most 16 bits, or ``in_range`` given), otherwise one row per image.
        Integer levels sit at bin centres: with one bin per level the edges
        of uint8 are -0.5, 0.5, ..., 255.5.  A value on an inner edge belongs
        to the bin above it; the last bin is closed (as in ``numpy.histogram``).

    Examples
    --------
    >>> import numpy as np, histeq
    >>> counts, edges = histeq.histogram(np.array([[0, 1], [1, 255]], dtype=np.uint8))
    >>> counts[[0, 1, 255]].tolist(), int(counts.sum())
    ([1, 2, 1], 4)
    """
    return _dispatch.call("histogram", locals())


@overload
def cumulative_distribution(
    image: np.ndarray,
    *,
    nbins: int | None = ...,
    mask: ArrayLike = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    in_range: Range = ...,
    threads: int | None = ...,
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def cumulative_distribution(
    image: Image,
    *,
    nbins: int | None = ...,
    mask: ArrayLike = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    in_range: Range = ...,
    threads: int | None = ...,
) -> tuple[Any, Any]: ...
@overload
def cumulative_distribution(
    image: Sequenced,
    *,
    nbins: int | None = ...,
    mask: ArrayLike = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    in_range: Range = ...,
    threads: int | None = ...,
) -> tuple[np.ndarray, np.ndarray]: ...
def cumulative_distribution(
    image: Image | Sequenced,
    *,
    nbins: int | None = None,
    mask: ArrayLike = None,
    axes: Axes = None,
    channel_axis: ChannelAxis = None,
    in_range: Range = None,
    threads: int | None = None,
) -> tuple[Any, Any]:
    """Cumulative distribution of every image of a batch.

    Takes the arguments of :func:`histogram`.

    Returns
    -------
    cdf : (..., nbins) float64 ndarray
        Fraction of counted pixels in each bin or below it; the last entry is 1.
        All NaN for an image with no counted pixel.
    bin_centers : (nbins,) or (..., nbins) float64 ndarray
        Centres of the bins (the integer levels themselves for integer images
        with one bin per level).

    Examples
    --------
    >>> import numpy as np, histeq
    >>> cdf, centers = histeq.cumulative_distribution(np.array([0, 0, 1, 3], dtype=np.uint8))
    >>> cdf[:4].tolist(), centers[:4].tolist()
    ([0.5, 0.75, 0.75, 1.0], [0.0, 1.0, 2.0, 3.0])
    """
    return _dispatch.call("cumulative_distribution", locals())
