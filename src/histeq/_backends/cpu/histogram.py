"""Histograms and cumulative distributions, per image of a batch."""

from __future__ import annotations

import numpy as np

from histeq import _checks as _validate
from histeq import _chunks as _dask
from histeq._kernels import require_tables, resolve_threads
from histeq._layout import BatchLayout
from histeq._spec import bin_centres, bin_range, counted_histograms, counted_ranges, make_spec, whole_level_bins

__all__ = ["histogram", "cumulative_distribution"]


def histogram(image, *, nbins, mask, axes, channel_axis, in_range, threads):
    """The CPU backend's :func:`histeq.histogram` (its arguments checked by the request)."""
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


def cumulative_distribution(image, *, nbins, mask, axes, channel_axis, in_range, threads):
    """The CPU backend's :func:`histeq.cumulative_distribution` (its arguments checked by the request)."""
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
