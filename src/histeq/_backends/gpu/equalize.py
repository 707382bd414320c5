"""Global equalization of 8-bit images on the GPU, in Triton: the CPU core's phases (histogram, table, apply) as
three kernels, bit for bit with it, for ``equalize`` of ``uint8`` images and its ``compat='opencv'`` and
``'pillow'`` (the peers' tables of ``peer_equalize.hpp``).  The kernels run on CPU tensors under Triton's
interpreter (``TRITON_INTERPRET=1``), which is how the tests check them without a GPU.

histeq's table is the core's ``equalizing_lut``: with c the inclusive cumulative histogram, ``low`` the first
occupied level and N the pixel count, level k maps to ``round_half_up(255 (c(k) - c(low)) / (N - c(low)))``
(0 below ``low``); an image with one occupied level is left as it is (the identity rescale of the default
ranges).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from histeq._backends.gpu.clahe import count_into

#: Pixels per program of the histogram and apply kernels.
_BLOCK = 4096
_LEVELS = 256
#: Images of at most this many pixels, or batches of at least this many images (which fill the GPU alone), run
#: the three phases in one program per image: one launch, no histogram buffer.
_WHOLE_IMAGE_PIXELS = 1 << 16
_WHOLE_IMAGES = 512


@triton.jit
def _histogram_kernel(
    image, counted, counts, pixels, mask_stride, BLOCK: tl.constexpr, LEVELS: tl.constexpr, MASKED: tl.constexpr
):
    """Phase 1: each program counts BLOCK pixels of one image in registers, then adds them to the image's
    histogram (one atomic add per level, not per pixel).  MASKED: only pixels where ``counted`` is true count
    (``mask_stride``: 0 for one mask shared by every image, else the pixels of an image)."""
    row = tl.program_id(0)
    block = tl.program_id(1)
    offsets = block * BLOCK + tl.arange(0, BLOCK)
    inside = offsets < pixels
    values = tl.load(image + row.to(tl.int64) * pixels + offsets, mask=inside, other=0).to(tl.int32)
    if MASKED:
        inside = inside & (tl.load(counted + row.to(tl.int64) * mask_stride + offsets, mask=inside, other=0) != 0)
    count_into(counts + row * LEVELS, values, inside, BLOCK, LEVELS)


@triton.jit
def _table(histogram, LEVELS: tl.constexpr, RULE: tl.constexpr):
    """The table (int64 levels) of a histogram (LEVELS int64 counts): histeq's (RULE 0), exact integers, or a
    peer's (RULE 1: cv2.equalizeHist, RULE 2: PIL.ImageOps.equalize; see tests/_reference.py)."""
    levels = tl.arange(0, LEVELS)
    cumulative = tl.cumsum(histogram, 0)
    total = tl.sum(histogram, 0)
    low = tl.min(tl.where(histogram > 0, levels, LEVELS), 0)
    c_low = tl.sum(tl.where(levels == low, histogram, 0), 0)
    if RULE == 0:
        spread = total - c_low
        divisor = tl.maximum(spread, 1)
        equalized = (2 * 255 * (cumulative - c_low) + divisor) // (2 * divisor)  # halves up
        table = tl.where(levels < low, 0, equalized)
        table = tl.where(spread == 0, levels, table)  # one occupied level: the identity
    elif RULE == 1:
        # In single precision: the scale's division through float64 rounds as float32 division does.
        scale = (255.0 / (total - c_low).to(tl.float32).to(tl.float64)).to(tl.float32)
        level = (cumulative - c_low).to(tl.float32) * scale
        nearest = tl.floor(level)
        fraction = level - nearest
        odd = (nearest.to(tl.int32) % 2) != 0
        nearest = tl.where((fraction > 0.5) | ((fraction == 0.5) & odd), nearest + 1.0, nearest)  # halves to even
        table = tl.minimum(tl.maximum(nearest, 0.0), 255.0).to(tl.int64)
        table = tl.where((low == LEVELS) | (c_low == total), levels, table)
    else:
        occupied = tl.sum((histogram > 0).to(tl.int64), 0)
        last = tl.max(tl.where(histogram > 0, levels, 0), 0)
        step = (total - tl.sum(tl.where(levels == last, histogram, 0), 0)) // 255
        divisor = tl.maximum(step, 1)
        table = tl.minimum((step // 2 + cumulative - histogram) // divisor, 255)
        table = tl.where((occupied <= 1) | (step == 0), levels, table)
    return table


@triton.jit
def _table_kernel(counts, tables, LEVELS: tl.constexpr, RULE: tl.constexpr):
    """Phase 2: one program per image turns its histogram into its table."""
    row = tl.program_id(0)
    levels = tl.arange(0, LEVELS)
    histogram = tl.load(counts + row * LEVELS + levels).to(tl.int64)
    tl.store(tables + row * LEVELS + levels, _table(histogram, LEVELS, RULE).to(tl.uint8))


@triton.jit
def _whole_image_kernel(
    image,
    counted,
    tables,
    out,
    pixels,
    mask_stride,
    BLOCK: tl.constexpr,
    LEVELS: tl.constexpr,
    MASKED: tl.constexpr,
    RULE: tl.constexpr,
):
    """The three phases in one program per image, for images of a few blocks (a batch of small images, one
    launch): the histogram in registers, the table through ``tables`` (the image's row, read back by every
    pixel), then every pixel through it."""
    row = tl.program_id(0).to(tl.int64)
    steps = tl.arange(0, BLOCK)
    histogram = tl.zeros([LEVELS], tl.int32)
    for start in range(0, pixels, BLOCK):
        inside = start + steps < pixels
        values = tl.load(image + row * pixels + start + steps, mask=inside, other=0).to(tl.int32)
        if MASKED:
            inside = inside & (tl.load(counted + row * mask_stride + start + steps, mask=inside, other=0) != 0)
        histogram += tl.histogram(values, LEVELS, mask=inside)
    levels = tl.arange(0, LEVELS)
    tl.store(tables + row * LEVELS + levels, _table(histogram.to(tl.int64), LEVELS, RULE).to(tl.uint8))
    tl.debug_barrier()
    for start in range(0, pixels, BLOCK):
        inside = start + steps < pixels
        values = tl.load(image + row * pixels + start + steps, mask=inside, other=0).to(tl.int32)
        mapped = tl.load(tables + row * LEVELS + values, mask=inside, other=0)
        tl.store(out + row * pixels + start + steps, mapped, mask=inside)


@triton.jit
def _apply_kernel(image, tables, out, pixels, BLOCK: tl.constexpr, LEVELS: tl.constexpr):
    """Phase 3: every pixel through its image's table."""
    row = tl.program_id(0)
    block = tl.program_id(1)
    offsets = block * BLOCK + tl.arange(0, BLOCK)
    inside = offsets < pixels
    base = row.to(tl.int64) * pixels
    values = tl.load(image + base + offsets, mask=inside, other=0).to(tl.int32)
    mapped = tl.load(tables + row * LEVELS + values, mask=inside, other=0)
    tl.store(out + base + offsets, mapped, mask=inside)


#: The table rules: histeq's, and the peers' of compat='opencv' and 'pillow'.
RULES = {None: 0, "opencv": 1, "pillow": 2}


def equalize_batch(flat: torch.Tensor, mask: torch.Tensor | None = None, compat: str | None = None) -> torch.Tensor:
    """Each row of a contiguous ``(images, pixels)`` uint8 tensor equalized on its own, on the tensor's device.

    ``mask``: the pixels that feed each histogram (every pixel is mapped), a contiguous bool tensor of shape
    ``(images, pixels)`` or ``(pixels,)`` (one mask for every image).  ``compat``: None, or the peer whose
    table rule to follow (a key of RULES)."""
    if flat.dtype != torch.uint8 or flat.ndim != 2 or not flat.is_contiguous():
        raise TypeError("the GPU kernels take contiguous (images, pixels) uint8 tensors")
    images, pixels = flat.shape
    if mask is not None and (
        mask.dtype != torch.bool
        or not mask.is_contiguous()
        or mask.device != flat.device
        or tuple(mask.shape) not in ((images, pixels), (pixels,))
    ):
        raise TypeError("the GPU kernels take a contiguous bool mask of shape (images, pixels) or (pixels,)")
    out = torch.empty_like(flat)
    if images == 0 or pixels == 0:
        return out
    tables = torch.empty((images, _LEVELS), dtype=torch.uint8, device=flat.device)
    counted = flat if mask is None else mask.view(torch.uint8)
    mask_stride = pixels if mask is not None and mask.ndim == 2 else 0
    if pixels <= _WHOLE_IMAGE_PIXELS or images >= _WHOLE_IMAGES:
        _whole_image_kernel[(images,)](
            flat,
            counted,
            tables,
            out,
            pixels,
            mask_stride,
            BLOCK=_BLOCK,
            LEVELS=_LEVELS,
            MASKED=mask is not None,
            RULE=RULES[compat],
            enable_fp_fusion=False,
        )
        return out
    counts = torch.zeros((images, _LEVELS), dtype=torch.int32, device=flat.device)
    grid = (images, triton.cdiv(pixels, _BLOCK))
    _histogram_kernel[grid](
        flat, counted, counts, pixels, mask_stride, BLOCK=_BLOCK, LEVELS=_LEVELS, MASKED=mask is not None
    )
    _table_kernel[(images,)](counts, tables, LEVELS=_LEVELS, RULE=RULES[compat], enable_fp_fusion=False)
    _apply_kernel[grid](flat, tables, out, pixels, BLOCK=_BLOCK, LEVELS=_LEVELS)
    return out
