"""``match`` and ``specify`` of 8- and 16-bit integer images on the GPU, in Triton: the CPU path's level tables
(``matching._level_table``), bit for bit.

The targets are the CPU path's own (``matching.specify_target`` and ``matching.reference_targets``: small
arrays of fractions and values, built on the host and copied to the device).  Per image, on the device: the
histogram (``clahe.tile_histograms``, one tile), then the table, level k to the target's quantile at the
fraction ``q = c(k) / N`` of pixels at or below it (a binary search over the target's fractions; linear between
its points, or with ``STEP`` the first point whose fraction reaches q), rounded halves up and clipped to the
dtype, and the mapping through it (``clahe.interpolate`` with one tile).  An image with nothing counted
keeps its levels.
"""

from __future__ import annotations

import numpy as np
import torch
import triton
import triton.language as tl

from histeq._backends.gpu.clahe import TileGrid, interpolate, tile_histograms

#: Levels a table program walks at a time: 4096 spilled (476 bytes stored, 680 loaded) and 2048 a few bytes;
#: 1024 needs 94 registers and spills none (ptxas -v for the H100).
_CHUNK = 1024
#: matching's forgiveness of the fractions' rounding in step targets (matching._SLACK).
SLACK = 1e-12


@triton.jit
def _count_below(points, n, v, STRICT: tl.constexpr, STEPS: tl.constexpr):
    """How many of the n ascending ``points`` are below v (STRICT: <, else <=): NumPy's searchsorted, left or
    right, by binary search."""
    low = tl.zeros(v.shape, tl.int64)
    high = tl.zeros(v.shape, tl.int64) + n
    for _ in tl.static_range(STEPS):
        active = low < high
        middle = (low + high) // 2
        point = tl.load(points + middle, mask=active, other=0.0)
        if STRICT:
            right = point < v
        else:
            right = point <= v
        low = tl.where(active & right, middle + 1, low)
        high = tl.where(active & ~right, middle, high)
    return low


@triton.jit
def _tables_kernel(
    counts,
    fractions,
    values,
    starts,
    sizes,
    target_of,
    tables,
    level_lo,
    level_hi,
    LEVELS: tl.constexpr,
    CHUNK: tl.constexpr,
    STEP: tl.constexpr,
    STEPS: tl.constexpr,
    SLACK: tl.constexpr,
):
    """One program per image: its table of output levels from its histogram and its target's points
    (``fractions``, ``values``: every target's, packed; ``starts``/``sizes``: each target's place)."""
    row = tl.program_id(0).to(tl.int64)
    target = tl.load(target_of + row)
    xp = fractions + tl.load(starts + target)
    fp = values + tl.load(starts + target)
    n = tl.load(sizes + target)
    steps = tl.arange(0, CHUNK)
    total = tl.zeros([], tl.int64)
    for start in range(0, LEVELS, CHUNK):
        total += tl.sum(tl.load(counts + row * LEVELS + start + steps).to(tl.int64), 0)
    carry = tl.zeros([], tl.int64)
    for start in range(0, LEVELS, CHUNK):
        at = start + steps
        running = tl.cumsum(tl.load(counts + row * LEVELS + at).to(tl.int64), 0) + carry
        carry = tl.max(running, 0)
        q = running.to(tl.float64) / total.to(tl.float64)
        if STEP:
            slack = tl.full([], SLACK, tl.float64)  # float64, whichever type Triton gives a bare constant
            value = tl.load(fp + tl.minimum(_count_below(xp, n, q - slack, True, STEPS), n - 1))
        else:
            j = tl.minimum(tl.maximum(_count_below(xp, n, q, False, STEPS) - 1, 0), tl.maximum(n - 2, 0))
            below = tl.load(xp + j)
            rise = tl.load(xp + j + 1, mask=n > 1, other=0.0) - below
            t = tl.where(rise > 0, (q - below) / tl.where(rise > 0, rise, 1.0), 1.0)
            t = tl.minimum(tl.maximum(t, 0.0), 1.0)
            low_value = tl.load(fp + j)
            value = low_value + t * (tl.load(fp + j + 1, mask=n > 1, other=0.0) - low_value)
            value = tl.where(n == 1, low_value, value)
        level = tl.minimum(tl.maximum(tl.floor(value + 0.5), level_lo.to(tl.float64)), level_hi.to(tl.float64))
        level = tl.where(total == 0, (at + level_lo).to(tl.float64), level)  # nothing counted: unchanged
        tl.store(tables + row * LEVELS + at, level.to(tables.dtype.element_ty))


def map_batch(
    images: torch.Tensor,
    mask: torch.Tensor | None,
    grid: TileGrid,
    targets: list,
    target_of: np.ndarray,
    level_lo: int,
    levels: int,
) -> torch.Tensor:
    """Each image of a contiguous ``(images, pixels)`` tensor of 8- or 16-bit integers mapped onto its target
    (``targets[target_of[b]]``, matching's Target objects); ``grid``: one tile over the pixels (integer
    weights); ``mask`` as in ``clahe.clahe_batch``."""
    device = images.device
    out = torch.empty_like(images)
    count = images.shape[0]
    if count == 0 or images.shape[1] == 0:
        return out
    counts, _ = tile_histograms(images, mask, grid, level_lo, levels)
    sizes = np.array([t.fraction.size for t in targets], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    packed = [
        torch.as_tensor(a, device=device)
        for a in (
            np.concatenate([t.fraction for t in targets]).astype(np.float64),
            np.concatenate([t.value for t in targets]).astype(np.float64),
            starts,
            sizes,
            np.asarray(target_of, dtype=np.int64),
        )
    ]
    steps = {t.step for t in targets}
    if len(steps) != 1:
        raise ValueError("the targets of one call are all step targets or none")
    tables = torch.empty((count, levels), dtype=images.dtype, device=device)
    _tables_kernel[(count,)](
        counts,
        *packed,
        tables,
        level_lo,
        level_lo + levels - 1,
        SLACK=SLACK,
        LEVELS=levels,
        CHUNK=min(levels, _CHUNK),
        STEP=steps.pop(),
        STEPS=int(sizes.max()).bit_length() + 1,
        enable_fp_fusion=False,
    )
    interpolate(images, tables, out, grid, level_lo, levels)
    return out
