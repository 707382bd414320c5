"""Histograms of a Dask array: one image's per-chunk histograms summed lazily, or one histogram per image, block by
block."""

from __future__ import annotations

from typing import Any

import numpy as np

from histeq import _checks as _validate
from histeq import _chunks as _dask
from histeq._backends.cpu import histogram as cpu_histogram
from histeq._kernels import resolve_threads
from histeq._spec import bin_centres, bin_range, make_spec, whole_level_bins


def histograms(image: Any, nbins: Any, mask: Any, axes: Any, channel_axis: Any, in_range: Any, threads: Any) -> Any:
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
                return cpu_histogram.in_memory(
                    block, bins, block_mask, spatial, channel, in_range, threads, fit_levels
                )[which]

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
                return cpu_histogram.counted_levels(block, block_mask, spatial, channel, threads)

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
        return counts, cpu_histogram.bin_edges(np.array(spec.lo), np.array(spec.hi), bins, info.is_float)
    lo, hi = spec.lo, spec.hi
    if spec.data_range:
        vmin, vmax, count = _dask.finite_range(image, mask)
        lo, hi = bin_range(vmin, vmax, info) if count else (0.0, 1.0 if info.is_float else 0.0)
    bins = whole_level_bins(info, spec.nbins, hi - lo + 1)
    counts = _dask.histogram_counts(image, mask, info, bins, lo, hi, resolve_threads(threads), lazy=True)
    return (
        da.from_delayed(counts, (bins,), dtype=np.int64),
        cpu_histogram.bin_edges(np.array(lo), np.array(hi), bins, info.is_float),
    )


def cumulative(image: Any, nbins: Any, mask: Any, axes: Any, channel_axis: Any, in_range: Any, threads: Any) -> Any:
    """The cumulative distribution of the histograms, lazily: NaN for an image with nothing counted."""
    import dask.array as da

    counted, edges = histograms(image, nbins, mask, axes, channel_axis, in_range, threads)
    cum = da.cumsum(counted, axis=-1, dtype=np.float64)
    total = cum[..., -1:]
    return da.where(total > 0, cum / da.where(total > 0, total, 1), np.nan), bin_centres(edges)
