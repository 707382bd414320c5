"""Histogram matching and specification: mapping images onto a target distribution."""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from histeq import _checks as _validate
from histeq._backends.cpu import color as _color
from histeq._backends.cpu import exact as _exact
from histeq._fitted import equalize as mapping
from histeq._kernels import FLOAT_NBINS, DtypeInfo, core, dtype_info, require_tables, resolve_threads, table_budget
from histeq._layout import BatchLayout, grey_axes
from histeq._spec import (
    bin_centres,
    bin_range,
    counted_histograms,
    counted_ranges,
    finite_range,
    histogram_bins,
    make_spec,
)

__all__ = ["match", "specify", "fit_match", "fit_specify"]

DISTRIBUTIONS = ("uniform", "rayleigh", "exponential")
_SLACK = 1e-12


class Target(NamedTuple):
    """A target distribution as its quantile function, in the image's units.

    ``fraction`` (non-decreasing, ending at 1) against ``value``: the
    quantile function is linear between the points.  Discrete targets list
    the occupied levels with the fraction of pixels at or below each (the
    convention of ``skimage.exposure.match_histograms``); continuous ones list
    bin edges with the fraction below each edge (starting at 0).
    """

    fraction: np.ndarray
    value: np.ndarray
    discrete: bool
    step: bool = False  # discrete only: the first level whose fraction reaches q, no interpolation

    def quantile(self, q: np.ndarray, left: bool = False) -> np.ndarray:
        """The value at fraction q, linear between the points.  Where the target has a gap (repeated
        fractions), the value just above it (right-continuous), or with ``left`` the value just below it."""
        xp, fp = self.fraction, self.value
        if xp.size == 1:
            return np.full(np.shape(q), fp[0])
        if self.step:  # fractions are sums of weights: forgive their rounding
            return fp[np.minimum(np.searchsorted(xp, np.asarray(q) - _SLACK), xp.size - 1)]
        j = np.clip(np.searchsorted(xp, q, side="left" if left else "right") - 1, 0, xp.size - 2)
        rise = xp[j + 1] - xp[j]
        t = np.full(np.shape(q), 0.0 if left else 1.0)
        np.divide(q - xp[j], rise, out=t, where=rise > 0)
        return fp[j] + np.clip(t, 0.0, 1.0) * (fp[j + 1] - fp[j])

    def by_rank(self, n: int) -> np.ndarray:
        """The n values of an exact specification, ascending: the target's histogram scaled to n pixels
        (discrete), or its quantiles at (r + 1/2) / n (continuous)."""
        if self.discrete:
            weights = np.diff(self.fraction, prepend=0.0)
            return np.repeat(self.value, _exact.counts_from_weights(weights, n))
        return self.quantile((np.arange(n) + 0.5) / n)


def _discrete(levels: np.ndarray, weights: np.ndarray, step: bool = False) -> Target:
    keep = weights > 0
    cum = np.cumsum(weights[keep], dtype=np.float64)
    return Target(cum / cum[-1], np.asarray(levels)[keep].astype(np.float64), True, step)


def _continuous(edges: np.ndarray, weights: np.ndarray, points: np.ndarray | None = None) -> Target:
    """Weights spread evenly inside each bin of ``edges``, except where ``points`` (one per bin, NaN for none)
    puts a bin's whole weight on one value: the quantile function is then flat at that value across the bin's
    fractions, with jumps at its ends."""
    # Without the empty bins at either end, the quantile function's ends are where the mass starts and ends.
    occupied = np.flatnonzero(weights)
    first, last = occupied[0], occupied[-1]
    weights, edges = weights[first : last + 1], np.asarray(edges, dtype=np.float64)[first : last + 2]
    cum = np.concatenate([[0.0], np.cumsum(weights, dtype=np.float64)])
    fraction = cum / cum[-1]
    if points is None or np.isnan(points[first : last + 1]).all():
        return Target(fraction, edges, False)
    points = points[first : last + 1]
    spread = np.isnan(points)
    # Two knots a bin, at the fractions below and above it: its edges, or its point twice.
    value = np.stack([np.where(spread, edges[:-1], points), np.where(spread, edges[1:], points)], axis=1)
    return Target(np.stack([fraction[:-1], fraction[1:]], axis=1).ravel(), value.ravel(), False)


def _to_scale(values: np.ndarray, source: DtypeInfo, dest: DtypeInfo) -> np.ndarray:
    """Values of dtype ``source`` in the units of ``dest``: unchanged within one dtype (or between floats),
    otherwise mapped linearly between the nominal ranges (the dtype's range for integers, [0, 1] for floats)."""
    if source.dtype == dest.dtype or (source.is_float and dest.is_float):
        return values
    with np.errstate(over="ignore"):  # floats near the float64 limit, in an integer dtype's units
        scaled = dest.lo + (values - source.lo) * ((dest.hi - dest.lo) / (source.hi - source.lo))
    # Clipped far beyond any integer dtype yet where differences of two values (the quantile's interpolation)
    # stay finite: no inf, and no inf - inf, downstream.
    bound = np.finfo(np.float64).max / 4
    return np.clip(scaled, -bound, bound)


def _flatten(arr, info, spatial, mask):
    layout = BatchLayout(arr.shape, spatial)
    return layout, layout.flatten(arr, info.compute), None if mask is None else layout.flatten(mask)


def _bin_count(info: DtypeInfo, nbins: int, image_bytes: int) -> int:
    """The bins of an image's histogram: one per level for integers of at most 16 bits, otherwise ``nbins``;
    a ValueError when their tables would take more than a call on ``image_bytes`` may."""
    bins = int(info.hi - info.lo + 1) if info.kind == "levels" else nbins
    require_tables(_TABLE_BYTES_PER_BIN * bins, image_bytes, f"matching over {bins} bins")
    return bins


def _histograms(flat, flat_mask, info, nbins, threads):
    """Counts (B, bins) and bin ranges (B, 3: lo, hi, counted) of every image of ``flat`` (B, P), one bin per
    level for integers of at most 16 bits, otherwise ``nbins`` over each image's finite range."""
    levels = info.kind == "levels"
    count = int(info.hi - info.lo + 1) if levels else nbins
    counts = np.empty((flat.shape[0], count), dtype=np.int64)
    ranges = np.empty((flat.shape[0], 3), dtype=np.float64)
    core.histogram(
        flat, flat_mask, counts, ranges, histogram_bins(count, info.lo, info.hi, data_range=not levels), threads=threads
    )
    return counts, ranges


def _by_level(info: DtypeInfo, ranges: np.ndarray, nbins: int) -> np.ndarray:
    """Which images of ``info``'s dtype, with counted ranges ``ranges`` (B, 3), are matched level by level:
    32-bit integers with counted pixels over at most ``nbins`` levels, as integers of at most 16 bits always
    are; other 32-bit images are binned over their range, as floats are."""
    if info.kind != "wide":
        return np.zeros(ranges.shape[0], dtype=bool)
    return (ranges[:, 2] > 0) & (ranges[:, 1] - ranges[:, 0] + 1 <= nbins)


def _reference_targets(ref, ref_info, info, spatial, ref_mask, nbins, threads, discrete):
    """One target per image of the reference (its layout along ``spatial``)."""
    _, flat, flat_mask = _flatten(ref, ref_info, spatial, ref_mask)
    bins = int(ref_info.hi - ref_info.lo + 1) if ref_info.kind == "levels" else nbins
    require_tables(_TABLE_BYTES_PER_BIN * flat.shape[0] * bins, flat.nbytes, f"{flat.shape[0]} reference histogram(s)")
    if ref_info.kind == "levels":
        counts, _ = _histograms(flat, flat_mask, ref_info, nbins, threads)
        return [_target_of_bins(row, ref_info.lo, ref_info.hi, ref_info, info, discrete) for row in counts]
    if ref_info.kind == "float":
        return _binned_targets(flat, flat_mask, ref_info, info, nbins, threads, discrete)
    by_level = _by_level(ref_info, counted_ranges(flat, flat_mask, threads), nbins)
    targets: list = [None] * flat.shape[0]
    for rows, levels in ((np.flatnonzero(by_level), True), (np.flatnonzero(~by_level), False)):
        if rows.size == 0:
            continue
        rows_mask = None if flat_mask is None else flat_mask[rows]
        if levels:
            counts, ranges = counted_histograms(
                flat[rows], rows_mask, ref_info, make_spec(ref_info, nbins, None, None), threads
            )
            made = [_target_of_bins(row, lo, hi, ref_info, info, discrete) for row, (lo, hi, _) in zip(counts, ranges)]
        else:
            made = _binned_targets(
                flat[rows].astype(ref_info.mapped_as.compute), rows_mask, ref_info, info, nbins, threads, discrete
            )
        for b, target in zip(rows, made):
            targets[b] = target
    return targets


def _binned_targets(flat, flat_mask, ref_info, info, nbins, threads, discrete):
    """The targets of reference images binned over their ranges: floats, or 32-bit integers as float64."""
    counts = np.empty((flat.shape[0], nbins), dtype=np.int64)
    ranges, low, high = np.empty((flat.shape[0], 3)), np.empty(counts.shape), np.empty(counts.shape)
    core.histogram_extremes(
        flat, flat_mask, counts, ranges, low, high, histogram_bins(nbins, 0.0, 1.0, True), threads=threads
    )
    if np.any(ranges[:, 2] == 0):
        raise ValueError(_NOTHING_COUNTED)
    return [
        _target_of_bins(counts[b], ranges[b, 0], ranges[b, 1], ref_info, info, discrete, (low[b], high[b]))
        for b in range(flat.shape[0])
    ]


_NOTHING_COUNTED = "the reference has no counted pixel (all masked, or all NaN/infinite)"


def _target_of_bins(counts, lo, hi, ref_info, info, discrete, extremes=None):
    """The target of a reference's histogram ``counts`` over [lo, hi] (in the reference's units), in the units of
    images of dtype ``info``: one bin per integer level when ``extremes`` is None, else float bins with the least
    and greatest counted value of each, (low, high).  A bin whose counted values are all one value holds that
    value, not a spread over its width: a reference of a few distinct values (labels, a mask as floats,
    quantized data) is matched onto those values.  ``discrete``: an integer image's target, whose levels are the
    bins' centres (or values)."""
    if counts.sum() == 0:
        raise ValueError(_NOTHING_COUNTED)
    if extremes is None:
        return _discrete(_to_scale(np.arange(lo, hi + 1), ref_info, info), counts)
    edges = _to_scale(np.linspace(lo, hi, counts.size + 1), ref_info, info)
    low, high = extremes
    points = np.where((counts > 0) & (low == high), _to_scale(low, ref_info, info), np.nan)
    if discrete:
        return _discrete(np.where(np.isnan(points), bin_centres(edges), points), counts)
    return _continuous(edges, counts, points)


def dask_reference_target(reference, reference_mask, info, nbins, threads):
    """The target of a whole reference image for a whole grey Dask image: a Dask reference is reduced chunk by
    chunk (its range first, then its histogram, and for bins over its range their extremes), as
    _reference_targets computes it in memory."""
    from histeq import _chunks as _dask

    discrete = not info.is_float
    reference, _ = _validate.narrowed(reference, "reference")
    if not _dask.is_dask(reference):
        ref, ref_info = _validate.image(reference, "reference")
        ref_mask = _validate.mask(reference_mask, ref.shape)
        return _reference_targets(ref, ref_info, info, tuple(range(ref.ndim)), ref_mask, nbins, threads, discrete)[0]
    ref_info = dtype_info(reference.dtype)
    if ref_info.kind == "levels":
        counts = _dask.histogram_counts(
            reference, reference_mask, ref_info, int(ref_info.hi - ref_info.lo + 1), ref_info.lo, ref_info.hi, threads
        )
        return _target_of_bins(counts, ref_info.lo, ref_info.hi, ref_info, info, discrete)
    vmin, vmax, count = _dask.finite_range(reference, reference_mask)
    if count == 0:
        raise ValueError(_NOTHING_COUNTED)
    if _by_level(ref_info, np.array([[vmin, vmax, count]]), nbins)[0]:
        counts = _dask.histogram_counts(reference, reference_mask, ref_info, int(vmax - vmin + 1), vmin, vmax, threads)
        return _target_of_bins(counts, vmin, vmax, ref_info, info, discrete)
    bin_info = ref_info.mapped_as
    work = reference.astype(bin_info.dtype, copy=False)
    lo, hi = bin_range(vmin, vmax, bin_info)
    counts, low, high = _dask.histogram_extremes(work, reference_mask, bin_info, nbins, lo, hi, threads)
    return _target_of_bins(counts, lo, hi, ref_info, info, discrete, (low, high))


def _map(arr, info, spatial, mask, targets, target_of, nbins, exact, threads, uncounted=None):
    """Map every image of ``arr`` (no channel axis) onto ``targets[target_of[b]]``; (result, ties or None).

    ``uncounted(values, info)``: under ``exact``, equalize's rule for an image with nothing to equalize (no
    counted pixel, or all its counted pixels of one value); without it (match, specify) an image with no counted
    pixel is left as it is."""
    work_info = info.mapped_as
    layout, flat, flat_mask = _flatten(arr.astype(work_info.dtype, copy=False), work_info, spatial, mask)
    if exact:
        out, ties = _map_exact(flat, flat_mask, layout, info, targets, target_of, threads, uncounted)
        return layout.restore(out), ties
    out = np.empty_like(flat)
    # Images a group at a time, so that their histograms and tables stay within a bounded size.
    bins = _bin_count(work_info, nbins, flat.nbytes)
    group = max(1, table_budget(flat.nbytes) // (2 * _TABLE_BYTES_PER_BIN * bins))
    for g0 in range(0, layout.batch, group):
        part = slice(g0, min(g0 + group, layout.batch))
        out[part] = _map_group(
            flat[part],
            None if flat_mask is None else flat_mask[part],
            work_info,
            info,
            [targets[t] for t in target_of[part]],
            nbins,
            threads,
        )
    return (layout.restore(out) if work_info.kind == "levels" else _restore(layout, out, info)), None


def _map_exact(flat, flat_mask, layout, info, targets, target_of, threads, uncounted):
    """Exact specification of the images of ``flat`` (B, P): (out, ties).  NaN and infinite values are not
    counted, as in the histograms of the other paths: NaN stays NaN, -inf and +inf take the two ends of the
    target.  An image with nothing to specify becomes ``uncounted`` (see _map), with no tie."""
    pixel_order, ties = _exact.order(flat, layout, threads)
    counted = flat_mask
    if info.is_float or flat.dtype.kind == "f":
        finite = np.isfinite(flat)
        if not finite.all():
            counted = finite if counted is None else counted & finite
    out, left = _exact.assign(
        flat,
        pixel_order,
        counted,
        lambda b, n: info.cast(targets[target_of[b]].by_rank(n)),
        info.dtype,
        None if uncounted is None else lambda values: uncounted(values, info),
        one_level=uncounted is not None,
    )
    ties[left] = 0
    if info.is_float:
        for b in np.flatnonzero(~left):
            target = targets[target_of[b]]
            out[b][flat[b] == -np.inf] = info.cast(target.quantile(np.float64(0.0)))
            out[b][flat[b] == np.inf] = info.cast(target.quantile(np.float64(1.0)))
        out[np.isnan(flat)] = np.nan
    return out, ties


#: Bytes per histogram bin that mapping an image takes: its count, and its table entry or pieces.
_TABLE_BYTES_PER_BIN = 64


def _map_group(flat, flat_mask, work_info, info, targets, nbins, threads):
    """The images of ``flat`` (G, P), each mapped onto its target."""
    if work_info.kind == "levels":
        counts, _ = _histograms(flat, flat_mask, work_info, nbins, threads)
        tables = np.stack([_level_table(counts[b], target, info) for b, target in enumerate(targets)])
        out = np.empty_like(flat)
        core.apply_lut(flat, tables, out, lo=int(info.lo), threads=threads)
        return out
    if info.kind != "wide":
        return _map_binned(flat, flat_mask, work_info, targets, nbins, threads)
    ints = flat.astype(info.compute)
    by_level = _by_level(info, counted_ranges(ints, flat_mask, threads), nbins)
    out = np.empty_like(flat)
    for rows, levels in ((np.flatnonzero(by_level), True), (np.flatnonzero(~by_level), False)):
        if rows.size == 0:
            continue
        rows_mask, rows_targets = None if flat_mask is None else flat_mask[rows], [targets[r] for r in rows]
        out[rows] = (
            _map_levels(ints[rows], rows_mask, info, rows_targets, nbins, threads)
            if levels
            else _map_binned(flat[rows], rows_mask, work_info, rows_targets, nbins, threads)
        )
    return out


def _map_levels(ints, ints_mask, info, targets, nbins, threads):
    """32-bit integer images (G, P) level by level (see _by_level), as float64."""
    counts, ranges = counted_histograms(ints, ints_mask, info, make_spec(info, nbins, None, None), threads)
    out = np.empty(ints.shape, dtype=np.float64)
    for r, target in enumerate(targets):
        first, table = _wide_table(counts[r], ranges[r, 0], target, info)
        out[r] = table[np.clip(ints[r].astype(np.int64) - int(first), 0, table.size - 1)]
    return out


def _map_binned(flat, flat_mask, work_info, targets, nbins, threads):
    """Float images (G, P), or 32-bit integer ones as float64: binned over their ranges, through pieces."""
    counts, ranges = _histograms(flat, flat_mask, work_info, nbins, threads)
    keep = ranges[:, 2] == 0  # nothing counted: the image is left as it is
    nothing = (np.arange(counts.shape[1] + 1.0),) + (np.zeros(counts.shape[1] + 1),) * 2
    pieces = [nothing if keep[b] else _pieces(counts[b], target) for b, target in enumerate(targets)]
    bin_ranges = np.ascontiguousarray(ranges[:, :2])
    bin_ranges[keep] = (0.0, 1.0)
    out = mapping.map_pieces(flat, bin_ranges, counts.shape[1], pieces, threads)
    out[keep] = flat[keep]
    return out


def _wide_table(counts: np.ndarray, lo: float, target: Target, info: DtypeInfo) -> tuple[float, np.ndarray]:
    """(first level, outputs) of a 32-bit image counted one bin per level from ``lo``: as _level_table, the
    level below ``lo`` (fraction 0) first, which every lower value takes, unless ``lo`` is the dtype's lowest;
    values above the last level take its output."""
    values = info.cast(target.quantile(np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])))
    return (lo, values[1:]) if lo <= info.lo else (lo - 1, values)


def _level_table(counts: np.ndarray, target: Target, info: DtypeInfo) -> np.ndarray:
    """The output of every level of an integer image (at most 16 bits) with histogram ``counts``: the target's
    value at the level's cumulative fraction, rounded; the identity when nothing is counted."""
    total = counts.sum()
    if total == 0:
        return np.arange(info.lo, info.hi + 1).astype(info.dtype)
    return info.cast(target.quantile(np.cumsum(counts) / total))


def _pieces(counts: np.ndarray, target: Target) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, level, slope) of the pieces of Q(F(t)) for a float image with histogram ``counts`` (at least one
    count), t a value's position in bins: F the fraction of pixels below it (linear inside each bin), Q the
    target's quantile function.

    Each bin edge starts a piece, and so does every knot of Q that falls strictly inside a bin's fractions: a
    piece is then linear in t, and a jump of Q over a gap in the target falls between pieces, so no value maps
    into the gap.  A piece maps from Q just above the fraction at its start to Q just below the fraction at its
    end (the next start)."""
    nbins = counts.size
    below = np.concatenate([[0.0], np.cumsum(counts)]) / counts.sum()
    knots = np.unique(target.fraction)
    k = np.clip(np.searchsorted(below, knots, side="right") - 1, 0, nbins - 1)
    inside = (knots > below[k]) & (knots < below[k + 1])
    k, knots = k[inside], knots[inside]
    # A knot is a break strictly inside its bin: where its position rounds to an edge, the nearest position
    # inside (no pixel's position lies between the two).
    split = k + (knots - below[k]) / (below[k + 1] - below[k])
    split = np.where(split > k, split, np.nextafter(k.astype(np.float64), np.inf))
    split = np.where(split < k + 1, split, np.nextafter(k + 1.0, -np.inf))
    # Each start's fractions: the least (where the piece before it ends) and the greatest (where it begins) of
    # the knots that share its position.
    start, group = np.unique(np.concatenate([np.arange(nbins + 1.0), split]), return_inverse=True)
    fractions = np.concatenate([below, knots])
    ends, begins = np.full(start.size, np.inf), np.full(start.size, -np.inf)
    np.minimum.at(ends, group, fractions)
    np.maximum.at(begins, group, fractions)
    level = target.quantile(begins)
    slope = np.zeros_like(level)
    with np.errstate(over="ignore"):  # a piece narrower than a float's resolution: its rise is never reached
        slope[:-1] = np.maximum(target.quantile(ends[1:], left=True) - level[:-1], 0.0) / np.diff(start)
    slope = np.minimum(slope, np.finfo(np.float64).max)
    return start, level, slope


def fit_target(arr, info, mask, target, nbins, threads, lazy=False):
    """The mapping of one whole grey image (NumPy or Dask) onto ``target``, as _map builds it: an
    EqualizeMapping, or with ``lazy`` (Dask) a delayed one whose histogram is reduced over the chunks."""
    from histeq import _chunks as _dask

    is_dask = _dask.is_dask(arr)
    bins = _bin_count(info, nbins, math.prod(arr.shape) * info.dtype.itemsize)

    def mapping_of(kind, lo, hi, bins, values):
        return mapping.EqualizeMapping(
            dtype=str(info.dtype),
            kind=kind,
            lo=float(lo),
            hi=float(hi),
            nbins=int(bins),
            nominal_lo=float(info.lo),
            nominal_hi=float(info.hi),
            out_lo=float(info.lo),
            out_hi=float(info.hi),
            values=values,
        )

    def histogram(work, work_info, bins, lo, hi):
        if is_dask:
            return _dask.histogram_counts(work, mask, work_info, bins, lo, hi, threads, lazy=lazy)
        return mapping.counts_in_bins(work, mask, work_info, bins, lo, hi, threads)

    def later(fn, *args):
        if not lazy:
            return fn(*args)
        import dask

        return dask.delayed(fn)(*args)

    if info.kind == "levels":
        counts = histogram(arr, info, bins, info.lo, info.hi)
        return later(
            lambda c: mapping_of("table", info.lo, info.hi, bins, _level_table(c, target, info).astype(np.int64)),
            counts,
        )
    work_info = info.mapped_as
    work = arr.astype(work_info.dtype, copy=False)
    vmin, vmax, count = (_dask.finite_range if is_dask else finite_range)(work, mask)
    if count == 0:  # nothing counted: the image is left as it is
        return mapping_of("identity", 0.0, 1.0, 0, np.zeros(0))
    if _by_level(info, np.array([[vmin, vmax, count]]), nbins)[0]:

        def table(c):
            first, values = _wide_table(c, vmin, target, info)
            return mapping_of("table", first, first + values.size - 1, values.size, values.astype(np.int64))

        return later(table, histogram(arr, info, int(vmax - vmin + 1), vmin, vmax))
    lo, hi = bin_range(vmin, vmax, work_info)
    counts = histogram(work, work_info, nbins, lo, hi)
    return later(lambda c: mapping_of("pieces", lo, hi, nbins, np.stack(_pieces(c, target))), counts)


def _restore(layout, out, info):
    return info.cast(layout.restore(out))


def _prepare(image, mask, nbins, axes, channel_axis, color, exact, return_ties, threads):
    call = _validate.call(image, mask, nbins, None, None, channel_axis, axes)
    mode = _color.resolve_mode(color, call.channel, call.arr.shape, call.info, default="per-channel")
    check_flags(exact, return_ties)
    if call.nbins is not None and call.info.kind == "levels":
        raise ValueError(f"nbins applies to float and 32-bit integer images; {call.info.dtype} uses one bin per level")
    return (
        call.arr,
        call.info,
        call.channel,
        call.spatial,
        call.mask,
        mode,
        call.nbins or FLOAT_NBINS,
        resolve_threads(threads),
    )


def _apply(arr, info, channel, spatial, mask, mode, make_targets, nbins, exact, threads, uncounted=None):
    """Map every image of ``arr`` (grey, channel by channel, or the intensity of colour images) onto its target.

    make_targets(info, shape, spatial) gives (targets, target_of) for the images actually mapped: ``arr``
    itself, or its intensity (no channel axis); ``uncounted(values, info)``: equalize's rule for an image with
    nothing to equalize (see _map).  Returns (result, ties, batch shape of the ties)."""
    if mode == "per-channel":
        targets, target_of = make_targets(info, arr.shape, spatial)
        result, ties = _map(
            arr,
            info,
            spatial,
            _validate.channel_mask(mask, channel, arr.shape),
            targets,
            target_of,
            nbins,
            exact,
            threads,
            uncounted,
        )
        return result, ties, BatchLayout(arr.shape, spatial).batch_shape
    grey_info = _color.intensity_info(info, mode)
    grey_shape = tuple(n for a, n in enumerate(arr.shape) if a != channel)
    grey_spatial = grey_axes(spatial, channel)
    targets, target_of = make_targets(grey_info, grey_shape, grey_spatial)
    ties = []

    def map_intensity(intensity, intensity_info, axes, grey_mask, _spec, threads):
        mapped, image_ties = _map(
            intensity, intensity_info, axes, grey_mask, targets, target_of, nbins, exact, threads, uncounted
        )
        ties.append(image_ties)
        return mapped

    result = _color.equalize(arr, info, channel, spatial, mask, mode, None, None, threads, map_intensity)
    return result, ties[0], BatchLayout(grey_shape, grey_spatial).batch_shape


def pairing(shape, spatial, ref_shape, channel, ref_channel):
    """(spatial axes of the reference, target index of every image): one reference image per image when the
    reference has the image's batch shape, one per channel with a channel axis, else one for all."""
    batch_axes = [a for a in range(len(shape)) if a not in spatial]
    batch_shape = tuple(shape[a] for a in batch_axes)
    count = int(np.prod(batch_shape))
    if len(ref_shape) == len(shape) and all(ref_shape[a] == shape[a] for a in batch_axes):
        return spatial, np.arange(count)
    if channel is not None:
        if ref_shape[ref_channel] != shape[channel]:
            raise ValueError(
                f"the reference must have as many channels as the image ({shape[channel]}); got shape {ref_shape}"
            )
        return (
            tuple(a for a in range(len(ref_shape)) if a != ref_channel),
            np.indices(batch_shape)[batch_axes.index(channel)].ravel(),
        )
    return tuple(range(len(ref_shape))), np.zeros(count, dtype=np.int64)


def check_flags(exact, return_ties):
    for name, flag in (("exact", exact), ("return_ties", return_ties)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if return_ties and not exact:
        raise ValueError("return_ties needs exact=True")


def _finish(result, ties, layout_shape, return_ties):
    if not return_ties:
        return result
    ties = ties.reshape(layout_shape)
    return result, (int(ties) if ties.ndim == 0 else ties)


def match(
    image,
    reference,
    *,
    mask,
    reference_mask,
    nbins,
    axes,
    channel_axis,
    color,
    channel_order,
    exact,
    return_ties,
    threads,
):
    """The CPU backend's :func:`histeq.match` (its arguments checked by the request)."""
    arr, info, channel, spatial, checked_mask, mode, bin_count, nthreads = _prepare(
        image, mask, nbins, axes, channel_axis, color, exact, return_ties, threads
    )
    ref, ref_info = _validate.image(reference, "reference")
    # The reference's channel axis is the image's, counted from the end (a batch may share one RGB reference).
    ref_channel = None if channel is None else channel - arr.ndim + ref.ndim
    if channel is not None and ref_channel < 0:
        raise ValueError(
            f"the reference must have a channel axis like the image's axis {channel}; got shape {ref.shape}"
        )
    if mode != "per-channel":
        _color.resolve_mode(mode, ref_channel, ref.shape, ref_info, default=mode)
        ref, ref_info = _color.intensity_image(ref, ref_info, ref_channel, mode, nthreads)
        ref_channel = None
    grey_ref_shape = tuple(n for a, n in enumerate(ref.shape) if a != ref_channel)
    ref_mask = _validate.channel_mask(_validate.mask(reference_mask, grey_ref_shape), ref_channel, ref.shape)

    def make_targets(image_info, shape, image_spatial):
        image_channel = channel if mode == "per-channel" else None  # colour modes map channel-free intensities
        ref_spatial, target_of = pairing(shape, image_spatial, ref.shape, image_channel, ref_channel)
        return _reference_targets(
            ref, ref_info, image_info, ref_spatial, ref_mask, bin_count, nthreads, not image_info.is_float
        ), target_of

    result, ties, batch_shape = _apply(
        arr, info, channel, spatial, checked_mask, mode, make_targets, bin_count, exact, nthreads
    )
    return _finish(result, ties, batch_shape, return_ties)


def _named_weights(name: str, count: int, alpha: float) -> np.ndarray:
    """Weights of a named distribution over ``count`` levels at x = (k + 1/2) / count, the largest 1: computed
    from their logarithms, so that no alpha overflows; an alpha that leaves one level all the weight is
    refused (it would set every pixel to one value)."""
    x = (np.arange(count) + 0.5) / count
    if name == "uniform":
        return np.ones(count)
    with np.errstate(over="ignore", divide="ignore", under="ignore", invalid="ignore"):
        if name == "rayleigh":
            log = np.log(x) - 0.5 * (x / alpha) ** 2  # x / alpha^2 exp(-x^2 / 2 alpha^2), less its constant
        else:
            log = -alpha * x  # alpha exp(-alpha x), less its constant
        weights = np.exp(log - log.max())
    if not np.isfinite(log.max()) or np.count_nonzero(weights > 1e-12) < 2:
        raise ValueError(
            f"alpha={alpha!r} puts all the weight of the {name} distribution on one of the {count} "
            "output levels (x runs from 0 to 1 across them); choose an alpha nearer 1"
        )
    return weights


def specify(
    image,
    histogram,
    *,
    mask,
    nbins,
    axes,
    channel_axis,
    color,
    channel_order,
    out_range,
    alpha,
    exact,
    return_ties,
    threads,
):
    """The CPU backend's :func:`histeq.specify` (its arguments checked by the request)."""
    arr, info, channel, spatial, checked_mask, mode, bin_count, nthreads = _prepare(
        image, mask, nbins, axes, channel_axis, color, exact, return_ties, threads
    )
    out_bounds = _validate.value_range(out_range, info, "out_range")
    if out_bounds is not None and mode != "per-channel":
        raise ValueError(f"out_range applies to grey and per-channel images, not color={mode!r}")
    weights = target_weights(histogram, alpha)

    def make_targets(image_info, shape, image_spatial):
        return [specify_target_of(weights, alpha, image_info, out_bounds, mode)], np.zeros(
            BatchLayout(shape, image_spatial).batch, dtype=np.int64
        )

    result, ties, batch_shape = _apply(
        arr, info, channel, spatial, checked_mask, mode, make_targets, bin_count, exact, nthreads
    )
    return _finish(result, ties, batch_shape, return_ties)


def target_weights(histogram, alpha):
    """specify's ``histogram`` and ``alpha``, checked: a distribution's name or float64 weights."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive finite number, got {alpha!r}")
    if isinstance(histogram, str):
        return _validate.choice(histogram, "histogram", DISTRIBUTIONS, allow_none=False)
    weights = np.asarray(histogram)
    if weights.dtype.kind not in "iuf":
        raise TypeError(
            f"histogram must be an array of numbers or a name in {DISTRIBUTIONS}, got dtype {weights.dtype}"
        )
    weights = weights.astype(np.float64)
    if weights.ndim != 1 or weights.size == 0:
        raise ValueError(f"histogram must be a non-empty 1-D array, got shape {weights.shape}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("histogram weights must be finite and non-negative")
    if not weights.max() > 0:
        raise ValueError("histogram weights are all zero: there is no target")
    return weights / weights.max()  # the same target, and sums that cannot overflow (weights of 1e308)


def specify_target_of(weights, alpha, info, out_range, mode):
    """The target of checked ``weights`` (or a distribution's name) for images of dtype ``info``."""
    out_lo, out_hi = out_range if out_range is not None else _color.intensity_range(info, mode)
    if isinstance(weights, str):
        count = int(min(out_hi - out_lo + 1, 65536)) if info.kind == "levels" else 256
        weights = _named_weights(weights, count, float(alpha))
    return _uniform_or_given(info, out_lo, out_hi, weights)


def _uniform_or_given(info, out_lo, out_hi, weights):
    """The target of weights over levels spread evenly on [out_lo, out_hi]."""
    count = weights.size
    if info.kind == "levels":
        if count > out_hi - out_lo + 1:
            raise ValueError(f"histogram has {count} levels but the output range holds {int(out_hi - out_lo + 1)}")
        step = (out_hi - out_lo) / (count - 1) if count > 1 else 0.0
        return _discrete(np.floor(out_lo + np.arange(count) * step + 0.5), weights, step=True)
    return _continuous(np.linspace(out_lo, out_hi, count + 1), weights)


def uniform_target(info: DtypeInfo, out_lo: float, out_hi: float) -> Target:
    """The uniform histogram over [out_lo, out_hi]: every integer level of it once (levels dtypes), else an
    even density."""
    if info.kind == "levels":
        levels = np.arange(out_lo, out_hi + 1)
        return _discrete(levels, np.ones(levels.size))
    return _continuous(np.array([out_lo, out_hi]), np.ones(1))


def specify_target(info: DtypeInfo, histogram, alpha, out_range) -> Target:
    """The one target ``specify`` maps grey images of dtype ``info`` onto (its arguments checked)."""
    out_bounds = _validate.value_range(out_range, info, "out_range")
    return specify_target_of(target_weights(histogram, alpha), alpha, info, out_bounds, "per-channel")


def reference_targets(counts: np.ndarray, ref_info: DtypeInfo, info: DtypeInfo) -> list[Target]:
    """The targets of reference images of at most 16-bit integers from their histograms ``counts`` (one row
    each, one bin per level), in the units of images of dtype ``info``, as ``match`` builds them."""
    return [_target_of_bins(row, ref_info.lo, ref_info.hi, ref_info, info, True) for row in counts]


def specify_exactly(arr, info, channel, spatial, mask, mode, make_targets, exact, return_ties, threads, uncounted):
    """Exact specification of every image of ``arr`` onto its target, as ``match`` and ``specify`` with
    ``exact=True`` do: make_targets and uncounted as in _apply.  Returns the result, or (result, ties) with
    ``return_ties``."""
    check_flags(exact, return_ties)
    result, ties, batch_shape = _apply(
        arr, info, channel, spatial, mask, mode, make_targets, None, True, threads, uncounted
    )
    return _finish(result, ties, batch_shape, return_ties)


def _fit_image(image, mask, nbins):
    """(array, info, mask, nbins) of the one grey image a fit_* function learns from, NumPy or Dask."""
    from histeq import _chunks as _dask

    arr, info, mask = _dask.one_image(image, mask)
    bin_count = _validate.nbins(nbins)
    if bin_count is not None and info.kind == "levels":
        raise ValueError(f"nbins applies to float and 32-bit integer images; {info.dtype} uses one bin per level")
    return arr, info, mask, bin_count or FLOAT_NBINS


def fit_match(image, reference, *, mask, reference_mask, nbins, threads):
    """The CPU backend's :func:`histeq.fit_match` (its arguments checked by the request)."""
    arr, info, checked_mask, bin_count = _fit_image(image, mask, nbins)
    nthreads = resolve_threads(threads)
    target = dask_reference_target(reference, reference_mask, info, bin_count, nthreads)
    return fit_target(arr, info, checked_mask, target, bin_count, nthreads)


def fit_specify(image, histogram, *, mask, nbins, out_range, alpha, threads):
    """The CPU backend's :func:`histeq.fit_specify` (its arguments checked by the request)."""
    arr, info, checked_mask, bin_count = _fit_image(image, mask, nbins)
    weights = target_weights(histogram, alpha)
    target = specify_target_of(weights, alpha, info, _validate.value_range(out_range, info, "out_range"), "per-channel")
    return fit_target(arr, info, checked_mask, target, bin_count, resolve_threads(threads))
