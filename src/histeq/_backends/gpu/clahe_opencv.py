"""``clahe(compat='opencv')`` on the GPU, in Triton: cv2.CLAHE's arithmetic as the CPU core reproduces it
(``clahe_opencv.hpp``), bit for bit, for ``uint8`` and ``uint16`` 2-D images.

The geometry (tile size, count limit) is ``_compat.opencv_geometry``'s.  Three kernels:

- **Histograms** of the tiles of the image padded at the bottom and right, mirrored without repeating the edge.
- **Tables**: each histogram clipped once at the count limit, the excess handed out evenly and the remainder
  one each on every ``(bins // remainder)``-th bin from the first; level k = ``min(rint(float(c(k)) scale),
  top)`` in single precision.
- **Blend** of the four tables around each pixel, ``(tl xa1 + tr xa) ya1 + (bl xa1 + br xa) ya`` in single
  precision (no fused multiply-adds), rounded halves to even.
"""

from __future__ import annotations

import numpy as np
import torch
import triton
import triton.language as tl

from histeq._backends.gpu.clahe import box_block, count_into, image_passes

_BLOCK = 1024
#: Levels a table program clips and sums at a time: 4096 spilled (255 registers, 180 bytes of 16-bit tables'
#: stores), 2048 needs 168 registers and spills none (ptxas -v for the H100).
_CHUNK = 2048


@triton.jit
def _mirrored(i, n):
    """Index i of an axis of n, mirrored at the ends without repeating them (NumPy's "reflect")."""
    period = tl.maximum(2 * (n - 1), 1)
    i = i % period
    return tl.where(n == 1, 0, tl.where(i < n, i, period - i))


@triton.jit
def _histogram_kernel(
    image, counts, height, width, tiles_x, tile_h, tile_w, tiles, BLOCK: tl.constexpr, LEVELS: tl.constexpr
):
    """Program (image x tile, block) counts BLOCK pixels of one padded tile."""
    program = tl.program_id(0)
    image_index = program // tiles
    tile = program % tiles
    q = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inside = q < tile_h * tile_w
    y = _mirrored((tile // tiles_x) * tile_h + q // tile_w, height)
    x = _mirrored((tile % tiles_x) * tile_w + q % tile_w, width)
    values = tl.load(image + image_index.to(tl.int64) * height * width + y * width + x, mask=inside, other=0).to(
        tl.int32
    )
    count_into(counts + program.to(tl.int64) * LEVELS, values, inside, BLOCK, LEVELS)


@triton.jit
def _nearest_even(x):
    """x rounded to the nearest integer, halves to even, for 0 <= x < 2**23 (the float addition rounds)."""
    return (x + 8388608.0) - 8388608.0


@triton.jit
def _tables_kernel(counts, tables, limit, scale, LEVELS: tl.constexpr, CHUNK: tl.constexpr):
    """One program per (image, tile): OpenCV's clip (limit 0: none) and table, CHUNK levels at a time."""
    program = tl.program_id(0).to(tl.int64)
    row = counts + program * LEVELS
    steps = tl.arange(0, CHUNK)
    excess = tl.zeros([], tl.int64)
    if limit > 0:
        for start in range(0, LEVELS, CHUNK):
            h = tl.load(row + start + steps).to(tl.int64)
            excess += tl.sum(tl.maximum(h - limit, 0), 0)
    lift = excess // LEVELS
    residual = excess % LEVELS
    every = tl.maximum(LEVELS // tl.maximum(residual, 1), 1)
    carry = tl.zeros([], tl.int64)
    for start in range(0, LEVELS, CHUNK):
        at = start + steps
        h = tl.load(row + at).to(tl.int64)
        if limit > 0:
            given = (residual > 0) & (at % every == 0) & (at // every < residual)
            h = tl.minimum(h, limit) + lift + given.to(tl.int64)
        running = tl.cumsum(h, 0) + carry
        carry = tl.max(running, 0)
        level = tl.minimum(_nearest_even(running.to(tl.float32) * scale), LEVELS - 1.0)
        tl.store(tables + program * LEVELS + at, level.to(tables.dtype.element_ty))


@triton.jit
def _blend_kernel(
    image,
    tables,
    out,
    low_y,
    high_y,
    weight_y,
    low_x,
    high_x,
    weight_x,
    height,
    width,
    tiles,
    BLOCK: tl.constexpr,
    LEVELS: tl.constexpr,
):
    """Program (image, block): OpenCV's bilinear blend of the four tables around each pixel, in float32.
    ``low_*``/``high_*``: each row's and column's two tiles as table offsets; ``weight_*``: (weight, rest)."""
    image_index = tl.program_id(0)
    p = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inside = p < height * width
    y = p // width
    x = p % width
    base = image_index.to(tl.int64) * height * width
    v = tl.load(image + base + p, mask=inside, other=0).to(tl.int64)
    own = tables + image_index.to(tl.int64) * tiles * LEVELS + v
    top = own + tl.load(low_y + y, mask=inside, other=0)
    bottom = own + tl.load(high_y + y, mask=inside, other=0)
    left = tl.load(low_x + x, mask=inside, other=0)
    right = tl.load(high_x + x, mask=inside, other=0)
    xa = tl.load(weight_x + 2 * x, mask=inside, other=0.0)
    xa1 = tl.load(weight_x + 2 * x + 1, mask=inside, other=0.0)
    ya = tl.load(weight_y + 2 * y, mask=inside, other=0.0)
    ya1 = tl.load(weight_y + 2 * y + 1, mask=inside, other=0.0)
    t_l = tl.load(top + left, mask=inside, other=0).to(tl.float32)
    t_r = tl.load(top + right, mask=inside, other=0).to(tl.float32)
    b_l = tl.load(bottom + left, mask=inside, other=0).to(tl.float32)
    b_r = tl.load(bottom + right, mask=inside, other=0).to(tl.float32)
    result = (t_l * xa1 + t_r * xa) * ya1 + (b_l * xa1 + b_r * xa) * ya
    level = tl.minimum(_nearest_even(result), LEVELS - 1.0)
    tl.store(out + base + p, level.to(out.dtype.element_ty), mask=inside)


def _axis(n: int, tile: int, tiles: int, stride: int, device) -> tuple[torch.Tensor, ...]:
    """OpenCV's two tiles (as table offsets, ``stride`` apart) and weights (weight, rest) along an axis of n."""
    inverse = np.float32(1.0) / np.float32(tile)
    position = np.arange(n, dtype=np.float32) * inverse - np.float32(0.5)
    below = np.floor(position).astype(np.int64)
    weight = position - below.astype(np.float32)
    weights = np.stack([weight, np.float32(1.0) - weight], axis=1)
    low = np.maximum(below, 0) * stride
    high = np.minimum(below + 1, tiles - 1) * stride
    return tuple(torch.as_tensor(a, device=device) for a in (low, high, weights))


def clahe_batch(
    images: torch.Tensor, height: int, width: int, tiles: tuple[int, int], tile_h: int, tile_w: int, limit: int
) -> torch.Tensor:
    """cv2.CLAHE of each image of a contiguous ``(images, height x width)`` uint8 or uint16 tensor."""
    levels = 256 if images.dtype == torch.uint8 else 65536
    out = torch.empty_like(images)
    ty, tx = tiles
    ys = _axis(height, tile_h, ty, tx * levels, images.device)
    xs = _axis(width, tile_w, tx, levels, images.device)
    scale = float(np.float32(levels - 1) / np.float32(tile_h * tile_w))
    for part in image_passes(images.shape[0], ty * tx, 6 * levels):
        chunk = images[part]
        count = chunk.shape[0]
        counts = torch.zeros((count * ty * tx, levels), dtype=torch.int32, device=images.device)
        block = box_block(tile_h * tile_w)
        _histogram_kernel[(count * ty * tx, triton.cdiv(tile_h * tile_w, block))](
            chunk, counts, height, width, tx, tile_h, tile_w, ty * tx, BLOCK=block, LEVELS=levels
        )
        tables = torch.empty((count * ty * tx, levels), dtype=images.dtype, device=images.device)
        _tables_kernel[(count * ty * tx,)](
            counts, tables, limit, scale, LEVELS=levels, CHUNK=min(levels, _CHUNK), enable_fp_fusion=False
        )
        _blend_kernel[(count, triton.cdiv(height * width, _BLOCK))](
            chunk,
            tables,
            out[part],
            *ys[:2],
            ys[2],
            *xs[:2],
            xs[2],
            height,
            width,
            ty * tx,
            BLOCK=_BLOCK,
            LEVELS=levels,
            enable_fp_fusion=False,
        )
    return out
