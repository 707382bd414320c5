"""Histograms and cumulative distributions, per image of a batch."""

from __future__ import annotations

import numpy as np

from histeq import _checks as _validate
from histeq._kernels import require_tables, resolve_threads
from histeq._layout import BatchLayout
from histeq._request import Request
from histeq._spec import bin_centres, counted_histograms, counted_ranges, make_spec

__all__ = ["histograms", "cumulative", "in_memory", "counted_levels", "bin_edges"]


def histograms(request: Request) -> tuple[np.ndarray, np.ndarray]:
    """The CPU backend's :func:`histeq.histogram`."""
    return _of(request.in_memory(), request.arguments["threads"])


def cumulative(request: Request) -> tuple[np.ndarray, np.ndarray]:
    """The CPU backend's :func:`histeq.cumulative_distribution`: NaN for an image with nothing counted."""
    counted, edges = histograms(request)
    cum = np.cumsum(counted, axis=-1, dtype=np.float64)
    total = cum[..., -1:]
    cdf = np.full_like(cum, np.nan)
    np.divide(cum, total, out=cdf, where=total > 0)
    return cdf, bin_centres(edges)


def in_memory(image, nbins, mask, axes, channel_axis, in_range, threads, fit_levels=True):
    """The histograms of one block of a Dask array (see ``counted_histograms`` for ``fit_levels``)."""
    return _of(_validate.call(image, mask, nbins, in_range, None, channel_axis, axes), threads, fit_levels)


def _of(call: _validate.Call, threads, fit_levels=True):
    mask_per_channel = _validate.channel_mask(call.mask, call.channel, call.arr.shape)
    spec = make_spec(call.info, call.nbins, call.in_range, None)
    counts, edges, _ = _batch_histogram(
        call.arr, call.info, call.spatial, mask_per_channel, spec, resolve_threads(threads), fit_levels
    )
    return counts, edges


def counted_levels(image, mask, spatial, channel, threads):
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
        edges = bin_edges(ranges[:, 0:1], ranges[:, 1:2], nbins, info.is_float).reshape(shape + (-1,))
    else:  # the same bins for every image
        edges = bin_edges(np.array(ranges[0, 0]), np.array(ranges[0, 1]), nbins, info.is_float)
    return counts.reshape(shape + (nbins,)), edges, ranges[:, 2].reshape(shape)


def bin_edges(lo, hi, nbins, is_float):
    # Integer bins tile the levels [lo, hi], each level owning [v - 1/2, v + 1/2).
    if not is_float:
        lo, hi = lo - 0.5, hi + 0.5
    # The last edge is hi itself (k (hi - lo) / nbins + lo could round past it, or overflow).
    inner = np.arange(nbins, dtype=np.float64) * ((hi - lo) / nbins) + lo
    return np.concatenate([inner, np.broadcast_to(hi, inner.shape[:-1] + (1,))], axis=-1)
