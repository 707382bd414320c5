"""Histograms and cumulative distributions, per image of a batch."""

from __future__ import annotations

import numpy as np

from . import _validate
from . import dask as _dask
from ._kernels import require_tables, resolve_threads
from ._layout import BatchLayout
from ._spec import bin_centres, bin_range, counted_histograms, counted_ranges, make_spec, whole_level_bins
from ._types import ArrayLike, Axes, ChannelAxis, Image, Range

__all__ = ["histogram", "cumulative_distribution"]


@_validate.public(returns_image=False)
def histogram(
    image: Image,
    *,
    nbins: int | None = None,
    mask: ArrayLike = None,
    axes: Axes = None,
    channel_axis: ChannelAxis = None,
    in_range: Range = None,
    threads: int | None = None,
) -> tuple[Image, Image]:
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
    if _dask.is_dask(image):
        return _dask_histogram(image, nbins, mask, axes, channel_axis, in_range, threads)
    return _in_memory(image, nbins, mask, axes, channel_axis, in_range, threads)


def _in_memory(image, nbins, mask, axes, channel_axis, in_range, threads, fit_levels=True):
    call = _validate.call(image, mask, nbins, in_range, None, channel_axis, axes)
    mask_per_channel = _validate.channel_mask(call.mask, call.channel, call.arr.shape)
    spec = make_spec(call.info, call.nbins, call.in_range, None)
    counts, edges, _ = _batch_histogram(
        call.arr, call.info, call.spatial, mask_per_channel, spec, resolve_threads(threads), fit_levels
    )
    return counts, edges


@_validate.public(returns_image=False)
def cumulative_distribution(
    image: Image,
    *,
    nbins: int | None = None,
    mask: ArrayLike = None,
    axes: Axes = None,
    channel_axis: ChannelAxis = None,
    in_range: Range = None,
    threads: int | None = None,
) -> tuple[Image, Image]:
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
    counts, edges = histogram(
        image, nbins=nbins, mask=mask, axes=axes, channel_axis=channel_axis, in_range=in_range, threads=threads
    )
    cum = np.cumsum(counts, axis=-1, dtype=np.float64)
    total = cum[..., -1:]
    if _dask.is_dask(cum):
        import dask.array as da

        return da.where(total > 0, cum / da.where(total > 0, total, 1), np.nan), bin_centres(edges)
    cdf = np.full_like(cum, np.nan)
    np.divide(cum, total, out=cdf, where=total > 0)
    return cdf, bin_centres(edges)


def _dask_histogram(image, nbins, mask, axes, channel_axis, in_range, threads):
    """A Dask array.  One grey image: per-chunk histograms summed lazily (the range found first for floats and
    32-bit integers without ``in_range``).  Batches and channels: one histogram per image, block by block."""
    import dask.array as da

    info, channel, spatial, mask = _dask.checked(image, mask, channel_axis, axes)
    spec = make_spec(info, _validate.nbins(nbins), _validate.value_range(in_range, info, "in_range"), None)
    if channel is not None or len(spatial) != image.ndim:  # one histogram per image, block by block
        batch_axes = [a for a in range(image.ndim) if a not in spatial]
        # batch axes keep their chunks; the channel axis is one chunk
        chunks = tuple((image.shape[a],) if a == channel else image.chunks[a] for a in batch_axes)

        def part(which, width, bins, fit_levels):
            def of_block(block, block_mask):
                return _in_memory(block, bins, block_mask, spatial, channel, in_range, threads, fit_levels)[which]

            return _dask.by_image_blocks(
                image,
                mask,
                spatial,
                channel,
                of_block,
                drop_axis=list(spatial),
                new_axis=len(batch_axes),
                dtype=np.int64 if which == 0 else np.float64,
                chunks=chunks + ((width,),),
            )

        bins, fit_levels = spec.nbins, True
        if spec.data_range and not info.is_float:  # every block gets the bins the widest image asks for

            def levels(block, block_mask):
                return _counted_levels(block, block_mask, spatial, channel, threads)

            widest = (
                _dask.by_image_blocks(
                    image, mask, spatial, channel, levels, drop_axis=list(spatial), dtype=np.float64, chunks=chunks
                )
                .max()
                .compute()
            )
            bins, fit_levels = whole_level_bins(info, spec.nbins, widest), False
        elif not spec.data_range:
            bins = whole_level_bins(info, spec.nbins, spec.hi - spec.lo + 1)
        counts = part(0, bins, bins, fit_levels)
        if spec.data_range:
            return counts, part(1, bins + 1, bins, fit_levels)
        return counts, _edges(np.array(spec.lo), np.array(spec.hi), bins, info.is_float)
    lo, hi = spec.lo, spec.hi
    if spec.data_range:
        vmin, vmax, count = _dask.finite_range(image, mask)
        lo, hi = bin_range(vmin, vmax, info) if count else (0.0, 1.0 if info.is_float else 0.0)
    bins = whole_level_bins(info, spec.nbins, hi - lo + 1)
    counts = _dask.histogram_counts(image, mask, info, bins, lo, hi, resolve_threads(threads), lazy=True)
    return (da.from_delayed(counts, (bins,), dtype=np.int64), _edges(np.array(lo), np.array(hi), bins, info.is_float))


def _counted_levels(image, mask, spatial, channel, threads):
    """The number of levels in the counted range of every image of integers ``image`` (its batch shape)."""
    call = _validate.call(image, mask, None, None, None, channel, spatial)
    layout = BatchLayout(call.arr.shape, call.spatial)
    flat_mask = _validate.channel_mask(call.mask, call.channel, call.arr.shape)
    ranges = counted_ranges(
        layout.flatten(call.arr, call.info.compute),
        None if flat_mask is None else layout.flatten(flat_mask),
        resolve_threads(threads),
    )
    return (ranges[:, 1] - ranges[:, 0] + 1).reshape(layout.batch_shape)


def _batch_histogram(arr, info, spatial, mask, spec, threads, fit_levels=True):
    """Counts, edges and counted-pixel totals of every image, in the caller's batch shape (see
    counted_histograms for ``fit_levels``)."""
    layout = BatchLayout(arr.shape, spatial)
    edges = 8 * (spec.nbins + 1) * (layout.batch if spec.data_range else 1)
    require_tables(
        8 * layout.batch * spec.nbins * 2 + edges, arr.nbytes, f"{layout.batch} histogram(s) of {spec.nbins} bins"
    )
    flat = layout.flatten(arr, info.compute)
    flat_mask = None if mask is None else layout.flatten(mask)
    counts, ranges = counted_histograms(flat, flat_mask, info, spec, threads, fit_levels)
    nbins, shape = counts.shape[1], layout.batch_shape
    if spec.data_range:
        edges = _edges(ranges[:, 0:1], ranges[:, 1:2], nbins, info.is_float).reshape(shape + (-1,))
    else:  # the same bins for every image
        edges = _edges(np.array(ranges[0, 0]), np.array(ranges[0, 1]), nbins, info.is_float)
    return counts.reshape(shape + (nbins,)), edges, ranges[:, 2].reshape(shape)


def _edges(lo, hi, nbins, is_float):
    # Integer bins tile the levels [lo, hi], each level owning [v - 1/2, v + 1/2).
    if not is_float:
        lo, hi = lo - 0.5, hi + 0.5
    # The last edge is hi itself (k (hi - lo) / nbins + lo could round past it, or overflow).
    inner = np.arange(nbins, dtype=np.float64) * ((hi - lo) / nbins) + lo
    return np.concatenate([inner, np.broadcast_to(hi, inner.shape[:-1] + (1,))], axis=-1)
