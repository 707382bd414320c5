"""Global equalization and histograms of float images on the GPU, in Triton: the CPU core's ``equalize_float``
phase by phase, bit for bit with it.

Covers ``float16``, ``float32`` and ``float64`` images at the defaults: ``nbins`` 4096 bins spanning each
image's finite counted values, the output range [0, 1].  The phases (``equalize.hpp``, ``binning.hpp``):

- **Range**: each image's lowest and highest finite counted value and their count, as partial results per
  block then one program per image, which also computes the binning (the core's ``FloatBins``: the scale
  ``nbins / (hi - lo)`` rounded up until ``hi`` sits at position ``nbins``, or a division where that scale
  overflows).  An image with nothing counted, or one value, is mapped by the identity rescale (values clipped
  to [0, 1], NaN kept).  A range whose width overflows a float64 is refused with the core's ValueError, which
  costs one read of a flag from the device.
- **Histogram**: each finite counted value clipped to the range, its bin guessed from its position and
  corrected against the edges ``k (hi - lo) / nbins + lo``, as NumPy's histogram bins.
- **Levels**: ``level[k] = out_lo + span (below(k) / total)`` at each edge, and each bin's slope.
- **Map**: ``y = level[k] + (t - k) slope[k]`` at position t, k = min(floor(t), nbins), in float64 with no fused
  multiply-adds (the core is compiled without them), rounded to float32 and then, for float16, to float16 (as
  the CPU path computes float16 in float32).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from histeq._kernels import FLOAT_NBINS

_BLOCK = 1024
#: Float images' default number of bins.
NBINS = FLOAT_NBINS
#: Per image (float64): lo, hi, scale, step, divide (1.0 or 0.0), mode (0: identity rescale, 1: equalize,
#: 2: too wide) and the count of finite counted values.
PARAMS = 7


@triton.jit
def _stats_kernel(image, counted, partial, pixels, mask_stride, blocks, BLOCK: tl.constexpr, MASKED: tl.constexpr):
    """Range phase, part 1: program (image, block) writes (lowest, highest, count) of its finite counted values."""
    row = tl.program_id(0)
    block = tl.program_id(1)
    offsets = block * BLOCK + tl.arange(0, BLOCK)
    inside = offsets < pixels
    values = tl.load(image + row.to(tl.int64) * pixels + offsets, mask=inside, other=0).to(tl.float64)
    kept = inside & (tl.abs(values) <= 1.7976931348623157e308)  # finite
    if MASKED:
        kept = kept & (tl.load(counted + row.to(tl.int64) * mask_stride + offsets, mask=inside, other=0) != 0)
    out = partial + (row.to(tl.int64) * blocks + block) * 3
    tl.store(out, tl.min(tl.where(kept, values, float("inf")), 0))
    tl.store(out + 1, tl.max(tl.where(kept, values, float("-inf")), 0))
    tl.store(out + 2, tl.sum(kept.to(tl.int64), 0).to(tl.float64))


@triton.jit
def _next_double(x, up):
    """The float64 next to the nonzero finite x, upwards or downwards."""
    bits = x.to(tl.int64, bitcast=True)
    return tl.where((x > 0) == up, bits + 1, bits - 1).to(tl.float64, bitcast=True)


@triton.jit
def image_binning(params, image):
    """(lo, hi, scale, step, divide, mode, counted) of image ``image`` from the range phase's ``params``."""
    setting = params + image.to(tl.int64) * 7  # PARAMS
    return (
        tl.load(setting),
        tl.load(setting + 1),
        tl.load(setting + 2),
        tl.load(setting + 3),
        tl.load(setting + 4) != 0,
        tl.load(setting + 5),
        tl.load(setting + 6),
    )


@triton.jit
def _setup_kernel(partial, params, blocks, CHUNK: tl.constexpr, NBINS: tl.constexpr):
    """Range phase, part 2: one program per image reduces its blocks' partial results and writes its binning
    (the core's bin_range, widening a one-value range as NumPy does, and FloatBins)."""
    row = tl.program_id(0)
    steps = tl.arange(0, CHUNK)
    lowest = tl.full([], float("inf"), tl.float64)
    highest = tl.full([], float("-inf"), tl.float64)
    count = tl.zeros([], tl.float64)
    for start in range(0, blocks, CHUNK):
        at = partial + (row.to(tl.int64) * blocks + start + steps) * 3
        inside = start + steps < blocks
        lowest = tl.minimum(lowest, tl.min(tl.load(at, mask=inside, other=float("inf")), 0))
        highest = tl.maximum(highest, tl.max(tl.load(at + 1, mask=inside, other=float("-inf")), 0))
        count += tl.sum(tl.load(at + 2, mask=inside, other=0.0), 0)
    equalized = (count > 0) & (lowest != highest)
    lo = tl.where(count > 0, lowest, 0.0)
    hi = tl.where(count > 0, highest, 1.0)
    same = lo == hi
    lo = tl.where(same, lo - 0.5, lo)
    hi = tl.where(same, hi + 0.5, hi)
    still = lo == hi
    lo = tl.where(still, _next_double(lo, False), lo)
    hi = tl.where(still, _next_double(hi, True), hi)
    width = hi - lo
    too_wide = tl.abs(width) > 1.7976931348623157e308
    scale = NBINS / width
    divide = tl.abs(scale) > 1.7976931348623157e308
    searching = ~(divide | too_wide)
    while searching:
        searching = width * scale < NBINS
        scale = tl.where(searching, _next_double(scale, True), scale)
    out = params + row.to(tl.int64) * 7  # PARAMS, in image_binning's order
    tl.store(out, lo)
    tl.store(out + 1, hi)
    tl.store(out + 2, scale)
    tl.store(out + 3, width / NBINS)
    tl.store(out + 4, divide.to(tl.float64))
    tl.store(out + 5, tl.where(too_wide, 2.0, tl.where(equalized, 1.0, 0.0)))
    tl.store(out + 6, count)


@triton.jit
def position(x, lo, hi, scale, divide, NBINS: tl.constexpr):
    """x in units of bins: 0 at lo, at least NBINS at hi."""
    return tl.where(divide, (x - lo) / (hi - lo) * NBINS, (x - lo) * scale)


@triton.jit
def float_bin(values, lo, hi, scale, step, divide, NBINS: tl.constexpr):
    """The bins of finite ``values`` (clipped to [lo, hi]) as NumPy's histogram bins them (bin k from edge k,
    ``k step + lo``, the last edge hi): guessed from the position, then corrected against the edges, as the
    guess is off by rounding (at most one bin where bins are not tiny next to the values)."""
    x = tl.minimum(tl.maximum(values, lo), hi)
    t = position(x, lo, hi, scale, divide, NBINS)
    b = tl.where(t >= NBINS, NBINS - 1, tl.where(t > 0, t, 0.0).to(tl.int64))
    low = (b > 0) & (x < b.to(tl.float64) * step + lo)
    while tl.max(low.to(tl.int32), 0) > 0:
        b = tl.where(low, b - 1, b)
        low = (b > 0) & (x < b.to(tl.float64) * step + lo)
    upper = tl.where(b + 1 == NBINS, hi, (b + 1).to(tl.float64) * step + lo)
    high = (b < NBINS - 1) & (x >= upper)
    while tl.max(high.to(tl.int32), 0) > 0:
        b = tl.where(high, b + 1, b)
        upper = tl.where(b + 1 == NBINS, hi, (b + 1).to(tl.float64) * step + lo)
        high = (b < NBINS - 1) & (x >= upper)
    return b


@triton.jit
def pixel_position(v, lo, hi, scale, divide, NBINS: tl.constexpr):
    """(t, k, nan_or_zero) of float64 pixels v: the position of v clipped to [lo, hi] (NaN at lo), its bin
    k = min(floor(t), NBINS) in the levels, and NaN for NaN pixels, else 0 (added last to their result)."""
    above_lo = tl.where(v < lo, lo, v)  # NaN stays NaN
    clipped = tl.where(hi < above_lo, hi, above_lo)
    x = tl.where(lo < clipped, clipped, lo)
    t = position(x, lo, hi, scale, divide, NBINS)
    return t, tl.minimum(t.to(tl.int32), NBINS), clipped - clipped


@triton.jit
def _histogram_kernel(
    image, counted, params, counts, pixels, mask_stride, BLOCK: tl.constexpr, NBINS: tl.constexpr, MASKED: tl.constexpr
):
    """Histogram phase: program (image, block) bins its finite counted values as NumPy's edges do."""
    row = tl.program_id(0)
    offsets = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inside = offsets < pixels
    lo, hi, scale, step, divide, _, _ = image_binning(params, row)
    values = tl.load(image + row.to(tl.int64) * pixels + offsets, mask=inside, other=0).to(tl.float64)
    kept = inside & (tl.abs(values) <= 1.7976931348623157e308)
    if MASKED:
        kept = kept & (tl.load(counted + row.to(tl.int64) * mask_stride + offsets, mask=inside, other=0) != 0)
    b = float_bin(tl.where(kept, values, lo), lo, hi, scale, step, divide, NBINS)
    tl.atomic_add(counts + row.to(tl.int64) * NBINS + b, tl.full([BLOCK], 1, tl.int32), mask=kept, sem="relaxed")


@triton.jit
def _levels_kernel(counts, levels, slopes, out_lo, span, NBINS: tl.constexpr):
    """Levels phase: one program per image writes the output at each edge and each bin's rise."""
    row = tl.program_id(0).to(tl.int64)
    k = tl.arange(0, NBINS)
    h = tl.load(counts + row * NBINS + k).to(tl.int64)
    running = tl.cumsum(h, 0)
    total = tl.sum(h, 0).to(tl.float64)
    level = out_lo + span * ((running - h).to(tl.float64) / total)
    top = out_lo + span * (total / total)
    above = out_lo + span * (running.to(tl.float64) / total)  # the level at edge k + 1
    above = tl.where(k == NBINS - 1, top, above)
    tl.store(levels + row * (NBINS + 1) + k, level)
    tl.store(levels + row * (NBINS + 1) + NBINS, top)
    tl.store(slopes + row * (NBINS + 1) + k, above - level)
    tl.store(slopes + row * (NBINS + 1) + NBINS, 0.0)


@triton.jit
def _map_kernel(
    image,
    out,
    params,
    levels,
    slopes,
    pixels,
    out_lo,
    span,
    BLOCK: tl.constexpr,
    NBINS: tl.constexpr,
    NARROW: tl.constexpr,
):
    """Map phase: program (image, block) maps its values through the image's levels, or by the identity
    rescale (the nominal range [0, 1] to the output range).  NARROW: float16 or float32 output, rounded to
    float32 first (the CPU path computes float16 in float32)."""
    row = tl.program_id(0)
    offsets = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inside = offsets < pixels
    lo, hi, scale, _, divide, mode, _ = image_binning(params, row)
    v = tl.load(image + row.to(tl.int64) * pixels + offsets, mask=inside, other=0).to(tl.float64)
    if mode == 1.0:
        t, k, nan_or_zero = pixel_position(v, lo, hi, scale, divide, NBINS)
        base = row.to(tl.int64) * (NBINS + 1) + k
        y = (
            tl.load(levels + base, mask=inside, other=0.0)
            + (t - k.to(tl.float64)) * tl.load(slopes + base, mask=inside, other=0.0)
            + nan_or_zero
        )
    else:
        x = tl.where(v < 0.0, 0.0, tl.where(v > 1.0, 1.0, v))
        y = tl.where(v != v, v, out_lo + (x - 0.0) * (span / 1.0))
    if NARROW:
        y = y.to(tl.float32)
    tl.store(out + row.to(tl.int64) * pixels + offsets, y.to(out.dtype.element_ty), mask=inside)


def binning(images: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The range phase of a contiguous ``(images, pixels)`` float tensor: ``(images, PARAMS)`` float64
    parameters; a ValueError where a range is too wide for finite bins.  ``mask`` as in equalize_batch."""
    count, pixels = images.shape
    blocks = triton.cdiv(pixels, _BLOCK)
    partial = torch.empty((count, blocks, 3), dtype=torch.float64, device=images.device)
    counted = images if mask is None else mask.view(torch.uint8)
    mask_stride = pixels if mask is not None and mask.ndim == 2 else 0
    _stats_kernel[(count, blocks)](
        images, counted, partial, pixels, mask_stride, blocks, BLOCK=_BLOCK, MASKED=mask is not None
    )
    params = torch.empty((count, PARAMS), dtype=torch.float64, device=images.device)
    _setup_kernel[(count,)](partial, params, blocks, CHUNK=1024, NBINS=NBINS, enable_fp_fusion=False)
    if bool((params[:, 5] == 2.0).any()):
        raise ValueError(
            "an image's values span a range too wide for finite bins (hi - lo overflows); scale the image down"
        )
    return params


def histograms(images: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(counts (images, NBINS) int64, edges (images, NBINS + 1) float64)`` of a contiguous ``(images,
    pixels)`` float tensor, each image binned over its finite counted values; ``mask`` as in equalize_batch."""
    params = binning(images, mask)
    counts = _counts(images, mask, params)
    lo, hi, step = params[:, 0:1], params[:, 1:2], params[:, 3:4]
    k = torch.arange(NBINS, dtype=torch.float64, device=images.device)
    return counts.to(torch.int64), torch.cat([k * step + lo, hi], dim=1)


def _counts(images, mask, params) -> torch.Tensor:
    count, pixels = images.shape
    counts = torch.zeros((count, NBINS), dtype=torch.int32, device=images.device)
    counted = images if mask is None else mask.view(torch.uint8)
    mask_stride = pixels if mask is not None and mask.ndim == 2 else 0
    _histogram_kernel[(count, triton.cdiv(pixels, _BLOCK))](
        images,
        counted,
        params,
        counts,
        pixels,
        mask_stride,
        BLOCK=_BLOCK,
        NBINS=NBINS,
        MASKED=mask is not None,
        enable_fp_fusion=False,
    )
    return counts


def equalize_batch(images: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Each row of a contiguous ``(images, pixels)`` float16/32/64 tensor equalized on its own, on its device
    (output range [0, 1]).  ``mask``: None, or a contiguous bool tensor ``(images, pixels)`` or ``(pixels,)``
    (shared): the pixels that feed each histogram; every pixel is mapped.  A batch whose histograms, levels
    and slopes would pass ``clahe.PASS_BYTES`` runs a part at a time."""
    from histeq._backends.gpu.clahe import image_passes, part_of

    count, pixels = images.shape
    out = torch.empty_like(images)
    if count == 0 or pixels == 0:
        return out
    params = binning(images, mask)
    for part in image_passes(count, 1, 20 * (NBINS + 1)):
        _equalize_part(images[part], part_of(mask, part), params[part], out[part])
    return out


def _equalize_part(images, mask, params, out) -> None:
    count, pixels = images.shape
    counts = _counts(images, mask, params)
    levels = torch.empty((count, NBINS + 1), dtype=torch.float64, device=images.device)
    slopes = torch.empty_like(levels)
    _levels_kernel[(count,)](counts, levels, slopes, 0.0, 1.0, NBINS=NBINS, enable_fp_fusion=False, num_warps=8)
    _map_kernel[(count, triton.cdiv(pixels, _BLOCK))](
        images,
        out,
        params,
        levels,
        slopes,
        pixels,
        0.0,
        1.0,
        BLOCK=_BLOCK,
        NBINS=NBINS,
        NARROW=images.dtype != torch.float64,
        enable_fp_fusion=False,
    )
