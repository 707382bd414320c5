"""Colour images on the GPU, in Triton: the intensity channel (luma or HSV value) of RGB(A) pixels, and RGB
rebuilt around its equalized version, bit for bit with the CPU core's ``color.hpp``.

The equalization of the intensity in between is the grey GPU path's (``backend``).  Pixels come as a contiguous
``(pixels, channels)`` tensor of 3 or 4 channels (an alpha channel is kept), in the dtype the CPU path computes
in (float16 as float32); floats in float64 steps without fused multiply-adds.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

_BLOCK = 1024
#: The colour modes with kernels here.
MODES = {"luma": 0, "value": 1}


@triton.jit
def _fmax(a, b):
    """C's fmax: a NaN operand is ignored."""
    return tl.where(a != a, b, tl.where(b != b, a, tl.where(a > b, a, b)))


@triton.jit
def _intensity_kernel(
    rgb, out, pixels, CHANNELS: tl.constexpr, MODE: tl.constexpr, FLOAT: tl.constexpr, BLOCK: tl.constexpr
):
    """Luma (MODE 0: BT.601; integers with OpenCV's 14-bit weights, rounded) or HSV value (MODE 1) per pixel."""
    p = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    inside = p < pixels
    r = tl.load(rgb + p * CHANNELS, mask=inside, other=0)
    g = tl.load(rgb + p * CHANNELS + 1, mask=inside, other=0)
    b = tl.load(rgb + p * CHANNELS + 2, mask=inside, other=0)
    if MODE == 0:
        if FLOAT:
            # float64 constants, whichever type a Triton version gives a bare literal
            red, green, blue = (
                tl.full([], 0.299, tl.float64),
                tl.full([], 0.587, tl.float64),
                tl.full([], 0.114, tl.float64),
            )
            y = red * r.to(tl.float64) + green * g.to(tl.float64) + blue * b.to(tl.float64)
        else:
            weighted = 4899 * r.to(tl.int32) + 9617 * g.to(tl.int32) + 1868 * b.to(tl.int32)
            y = (weighted + 8192) >> 14
    elif FLOAT:
        y = _fmax(_fmax(r, g), b)
    else:
        y = tl.maximum(tl.maximum(r, g), b)
    tl.store(out + p, y.to(out.dtype.element_ty), mask=inside)


@triton.jit
def _clamp(x, lo, hi, FLOAT: tl.constexpr):
    """The core's clamp_to: x in [lo, hi] (NaN kept), integers rounded halves up."""
    x = tl.where(x < lo, lo, tl.where(x > hi, hi, x))
    if not FLOAT:
        x = tl.floor(x + 0.5)
    return x


@triton.jit
def _rebuild_kernel(
    rgb,
    old,
    new,
    out,
    pixels,
    lo,
    hi,
    CHANNELS: tl.constexpr,
    MODE: tl.constexpr,
    FLOAT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """RGB around the new intensity: luma's change added to every channel (MODE 0), or the channels scaled by
    the new value over the old (MODE 1; a black pixel becomes grey at the new value)."""
    p = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    inside = p < pixels
    before = tl.load(old + p, mask=inside, other=0)
    after = tl.load(new + p, mask=inside, other=0)
    for c in tl.static_range(3):
        channel = tl.load(rgb + p * CHANNELS + c, mask=inside, other=0)
        if MODE == 0:
            if FLOAT:
                level = _clamp(channel.to(tl.float64) + (after.to(tl.float64) - before.to(tl.float64)), lo, hi, FLOAT)
            else:
                level = channel.to(tl.int32) + (after.to(tl.int32) - before.to(tl.int32))
                level = tl.where(level < lo, lo, tl.where(level > hi, hi, level))
        else:
            old_v = before.to(tl.float64)
            new_v = after.to(tl.float64)
            if FLOAT:
                scaled = channel.to(tl.float64) * (new_v / old_v)
            else:
                twice = 2 * tl.maximum(before.to(tl.int64), 1)
                scaled = ((2 * channel.to(tl.int64) * after.to(tl.int64) + before.to(tl.int64)) // twice).to(tl.float64)
            level = _clamp(tl.where(old_v > 0, scaled, new_v), lo, hi, FLOAT)
        tl.store(out + p * CHANNELS + c, level.to(out.dtype.element_ty), mask=inside)
    if CHANNELS == 4:
        tl.store(out + p * CHANNELS + 3, tl.load(rgb + p * CHANNELS + 3, mask=inside, other=0), mask=inside)


def intensity(rgb: torch.Tensor, mode: str) -> torch.Tensor:
    """The intensity ``(pixels,)`` of a contiguous ``(pixels, 3 or 4)`` tensor, in its dtype."""
    pixels, channels = rgb.shape
    out = torch.empty(pixels, dtype=rgb.dtype, device=rgb.device)
    _intensity_kernel[(triton.cdiv(pixels, _BLOCK),)](
        rgb,
        out,
        pixels,
        CHANNELS=channels,
        MODE=MODES[mode],
        FLOAT=rgb.dtype.is_floating_point,
        BLOCK=_BLOCK,
        enable_fp_fusion=False,
    )
    return out


def rebuild(rgb: torch.Tensor, old: torch.Tensor, new: torch.Tensor, mode: str, lo: float, hi: float) -> torch.Tensor:
    """RGB(A) ``(pixels, channels)`` around the new intensity, each channel in [lo, hi] (the dtype's nominal
    range)."""
    pixels, channels = rgb.shape
    out = torch.empty_like(rgb)
    floats = rgb.dtype.is_floating_point
    _rebuild_kernel[(triton.cdiv(pixels, _BLOCK),)](
        rgb,
        old,
        new,
        out,
        pixels,
        float(lo) if floats else int(lo),
        float(hi) if floats else int(hi),
        CHANNELS=channels,
        MODE=MODES[mode],
        FLOAT=floats,
        BLOCK=_BLOCK,
        enable_fp_fusion=False,
    )
    return out
