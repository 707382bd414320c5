"""CLAHE's clip rule on the GPU (Triton helpers): the CPU core's ``clip.hpp``, the same float64 steps in the
same order, so that the kernels that call them (``clahe``, ``clahe_float``) build the core's tables
bit for bit where their callers launch them without fused multiply-adds.

Clipping with redistribution: ``h' = min(h, t) + (c - t)``, c the clip limit times the mean bin height (at
least the mean), t <= c solving ``sum(max(h - t, 0)) = nbins (c - t)`` by Newton's method from ``t = c``.
Images wider than a byte measure the limit on groups of the bins their counted values span: each group's
total is clipped, every bin keeps its share of it, and the group's lift spreads evenly over its bins.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def floor_of(t):
    """The core's floor_of: for an integer count h and 0 <= t, h > t exactly when h > floor_of(t)."""
    return tl.where(t < 4611686018427387904.0, tl.floor(t), 4611686018427387904.0).to(tl.int64)


@triton.jit
def _above(h, level):
    """(how many of the counts h exceed level, their sum)."""
    over = h > level
    return tl.sum(over.to(tl.int64), 0), tl.sum(tl.where(over, h, 0), 0)


@triton.jit
def clip_threshold(h, nbins, total, clip):
    """The core's clip_histogram of the counts h (nbins of them, the others 0): (clipped, threshold t, lift).
    The limit c is clip times the mean (at least the mean); Newton's method from t = c finds the t whose
    clipped mass sum(max(h - t, 0)) lifts every bin by c - t."""
    count = nbins.to(tl.float64)
    total_f = total.to(tl.float64)
    mean = total_f / count
    limit = clip * total_f / count
    limit = tl.where(limit > mean, limit, mean)
    m, s = _above(h, floor_of(limit))
    clipped = m > 0
    full = clipped & (m == nbins)
    searching = clipped & (m != nbins)
    t = limit
    while searching:
        t = (count * limit - s.to(tl.float64)) / (nbins - m).to(tl.float64)
        m_next, s_next = _above(h, floor_of(t))
        moved = m_next != m
        full = moved & (m_next == nbins)
        searching = moved & (m_next != nbins)
        m = m_next
        s = s_next
    return clipped, tl.where(full, 0.0, t), tl.where(full, mean, limit - t)


@triton.jit
def cumulative_at(row, at):
    """The inclusive cumulative histogram at the bins ``at`` (0 below bin 0)."""
    return tl.load(row + at, mask=at >= 0, other=0).to(tl.int64)


@triton.jit
def group_start(g, lo, span, count):
    """The first bin of group g of the bins [lo, lo + span) cut in ``count`` groups (the core's BinGroups)."""
    num = 2 * g * span - count
    return lo + tl.where(num <= 0, 0, (num + 2 * count - 1) // (2 * count))


@triton.jit
def grouped_terms(row, lo, span, count, total, clip, scratch, GROUPS: tl.constexpr):
    """Clips the group totals of a tile whose cumulative histogram is ``row`` (the counted range: ``span``
    bins from ``lo``, in ``count`` groups) and writes each group's terms to ``scratch`` (4 x GROUPS float64:
    base, share, step, first bin).  Returns (clipped, F at ``lo``)."""
    g = tl.arange(0, GROUPS)
    begin = group_start(g, lo, span, count)
    end = group_start(g + 1, lo, span, count)
    sums = tl.where(g < count, cumulative_at(row, end - 1) - cumulative_at(row, begin - 1), 0)
    clipped, threshold, lift = clip_threshold(sums, count, total, clip)
    over = sums.to(tl.float64) > threshold
    kept = tl.where(over, 0, sums)
    below = tl.cumsum(kept, 0) - kept
    above = tl.cumsum(over.to(tl.int64), 0) - over.to(tl.int64)
    tl.store(scratch + g, (below.to(tl.float64) + above.to(tl.float64) * threshold) + g.to(tl.float64) * lift)
    tl.store(scratch + GROUPS + g, tl.where(over, threshold / tl.maximum(sums, 1).to(tl.float64), 1.0))
    tl.store(scratch + 2 * GROUPS + g, lift / tl.maximum(end - begin, 1).to(tl.float64))
    tl.store(scratch + 3 * GROUPS + g, begin.to(tl.float64))
    tl.debug_barrier()
    h_lo = (cumulative_at(row, lo) - cumulative_at(row, lo - 1)).to(tl.float64)
    return clipped, h_lo * tl.load(scratch + GROUPS) + tl.load(scratch + 2 * GROUPS)


@triton.jit
def grouped_cumulative(row, at, lo, span, count, total, scratch, GROUPS: tl.constexpr):
    """F at the bins ``at`` from the group terms in ``scratch``: 0 below the counted range, the pixel count
    above it."""
    inside = (at >= lo) & (at < lo + span)
    g = tl.where(inside, (2 * (at - lo) + 1) * count // (2 * span), 0)
    begin = tl.load(scratch + 3 * GROUPS + g).to(tl.int64)
    partial = cumulative_at(row, at) - cumulative_at(row, begin - 1)
    f = (tl.load(scratch + g) + partial.to(tl.float64) * tl.load(scratch + GROUPS + g)) + (at - begin + 1).to(
        tl.float64
    ) * tl.load(scratch + 2 * GROUPS + g)
    return tl.where(at < lo, 0.0, tl.where(inside, f, total.to(tl.float64)))
