"""CLAHE of float images on the GPU, in Triton: the CPU core's float CLAHE (``clahe_float``) by phases, bit for
bit with it.

Covers ``float16``, ``float32`` and ``float64`` images at the defaults (4096 bins over each image's finite
counted values, the output range [0, 1]), with the integer path's layouts, masks, tiles and clip limits.

- **Range**: ``floats.binning``, as global equalization: an image with nothing counted is rescaled as a
  whole (values clipped to [0, 1], NaN kept); one value widens the range as NumPy does.
- **Tile histograms**: each tile's finite counted values in the image's bins; the lowest and highest occupied
  bins of the image are the range the clip rule's 256 groups span.
- **Tile maps**: a tile with fewer than two occupied bins keeps the identity rescale; the others the
  piecewise-linear map ``level[k] + (t - k) slope[k]`` of their (clipped) cumulative histogram F, with
  ``level[k] = F(k - 1) / F(last)`` at edge k.
- **Interpolation**: the corner tiles' values combined along the last axis first, then the others, each step
  ``w0 a + w1 b`` with the plan's float64 weights, and NaN pixels kept NaN.

Everything runs in float64 without fused multiply-adds, and float16 and float32 results are rounded to
float32 first, as the CPU path computes them.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from histeq._backends.gpu.clahe import (
    GROUPS,
    TileGrid,
    box_block,
    clip_limits,
    image_passes,
    part_of,
    pixel_arguments,
    pixel_grid,
    tile_pixels,
)
from histeq._backends.gpu.clip import grouped_cumulative, grouped_terms
from histeq._backends.gpu.floats import NBINS, binning, float_bin, image_binning, pixel_position

#: Pixels per program of the interpolation.  Each pixel holds its corner tiles' float64 levels and slopes in
#: registers: at 1024 the H100 build needs 255 registers a thread and spills 540 bytes (3-D; 2-D: 36), at 256
#: it needs 128 and spills none (``python tests/_ptx.py --table``, ptxas -v; tests/gpu/test_gpu.py).
_BLOCK = 256


@triton.jit
def _tile_histogram_kernel(
    image,
    counted,
    counts,
    ranges,
    bounds_z,
    bounds_y,
    bounds_x,
    pixels,
    mask_stride,
    rows,
    cols,
    tiles_z,
    tiles_y,
    tiles_x,
    params,
    BLOCK: tl.constexpr,
    NBINS: tl.constexpr,
    MASKED: tl.constexpr,
):
    """Program (image x tile, block) counts BLOCK pixels of a tile's box in the image's bins, and folds their
    bins into the image's range of occupied bins."""
    program = tl.program_id(0)
    values, inside = tile_pixels(
        image,
        counted,
        program,
        tl.program_id(1),
        bounds_z,
        bounds_y,
        bounds_x,
        pixels,
        mask_stride,
        rows,
        cols,
        tiles_z,
        tiles_y,
        tiles_x,
        BLOCK,
        MASKED,
    )
    values = values.to(tl.float64)
    kept = inside & (tl.abs(values) <= 1.7976931348623157e308)
    image_index = program // (tiles_z * tiles_y * tiles_x)
    lo, hi, scale, step, divide, _, _ = image_binning(params, image_index)
    bins = float_bin(tl.where(kept, values, lo), lo, hi, scale, step, divide, NBINS)
    tl.atomic_add(counts + program.to(tl.int64) * NBINS + bins, tl.full([BLOCK], 1, tl.int32), mask=kept, sem="relaxed")
    tl.atomic_min(ranges + 2 * image_index, tl.min(tl.where(kept, bins, NBINS), 0).to(tl.int32), sem="relaxed")
    tl.atomic_max(ranges + 2 * image_index + 1, tl.max(tl.where(kept, bins, -1), 0).to(tl.int32), sem="relaxed")


@triton.jit
def _maps_kernel(
    counts,
    ranges,
    levels,
    slopes,
    identity,
    groups,
    clips,
    tiles_per_image,
    NBINS: tl.constexpr,
    GROUPS: tl.constexpr,
    CLIPPED: tl.constexpr,
):
    """One program per (image, tile): the tile's levels at the NBINS + 1 edges and slopes (the core's
    tile_mapping for floats), or its identity flag."""
    program = tl.program_id(0)
    row = counts + program.to(tl.int64) * NBINS
    at = tl.arange(0, NBINS)
    h = tl.load(row + at).to(tl.int64)
    running = tl.cumsum(h, 0)
    tl.store(row + at, running.to(tl.int32))
    tl.debug_barrier()
    total = tl.sum(h, 0)
    occupied = tl.sum((h > 0).to(tl.int64), 0)
    tl.store(identity + program, (occupied < 2).to(tl.int8))
    image_index = program // tiles_per_image
    lo = tl.load(ranges + 2 * image_index).to(tl.int64)
    span = tl.load(ranges + 2 * image_index + 1).to(tl.int64) - lo + 1
    count = tl.maximum(tl.minimum(span, GROUPS), 1)
    scratch = groups + program.to(tl.int64) * (4 * GROUPS)
    clipped = occupied < 0
    if CLIPPED:
        if occupied >= 2:
            clipped, _ = grouped_terms(row, lo, span, count, total, tl.load(clips + image_index), scratch, GROUPS)
    # F at each bin and at the one below it (the plain cumulative histogram where nothing is clipped).
    f = running.to(tl.float64)
    f_below = (running - h).to(tl.float64)
    if clipped:
        f = grouped_cumulative(row, at, lo, span, count, total, scratch, GROUPS)
        f_below = grouped_cumulative(row, at - 1, lo, span, count, total, scratch, GROUPS)
    last = tl.sum(tl.where(at == NBINS - 1, f, 0.0), 0)
    level = tl.where(at == 0, 0.0, 0.0 + 1.0 * (f_below / last))
    above = 0.0 + 1.0 * (f / last)  # the level at edge k + 1
    base = program.to(tl.int64) * (NBINS + 1)
    tl.store(levels + base + at, level)
    tl.store(levels + base + NBINS, 0.0 + 1.0 * (last / last))
    tl.store(slopes + base + at, above - level)
    tl.store(slopes + base + NBINS, 0.0)


@triton.jit
def _tile_value(levels, slopes, identity, tile, k, t, rescaled, inside, NBINS: tl.constexpr):
    """A tile's map at the pixels (bin k, position t); identity tiles give ``rescaled``."""
    at = tile.to(tl.int64) * (NBINS + 1) + k
    mapped = tl.load(levels + at, mask=inside, other=0.0) + (t - k.to(tl.float64)) * tl.load(
        slopes + at, mask=inside, other=0.0
    )
    return tl.where(tl.load(identity + tile, mask=inside, other=0) != 0, rescaled, mapped)


@triton.jit
def _blend(total, part, weights, at, inside, CORNER: tl.constexpr, CORNERS: tl.constexpr):
    """One axis of the interpolation, a corner at a time: ``w0 part`` (CORNER 0), then ``total + w1 part``
    (the core's ``w0 a + w1 b``); ``part`` itself along an axis of one tile (weights 1 and 0)."""
    if CORNERS == 1:
        result = part
    elif CORNER == 0:
        result = tl.load(weights + 2 * at, mask=inside, other=0.0) * part
    else:
        result = total + tl.load(weights + 2 * at + 1, mask=inside, other=0.0) * part
    return result


@triton.jit
def _interpolate_kernel(
    image,
    out,
    levels,
    slopes,
    identity,
    params,
    lower_z,
    lower_y,
    lower_x,
    weights_z,
    weights_y,
    weights_x,
    pixels,
    rows,
    cols,
    tiles_z,
    tiles_y,
    tiles_x,
    BLOCK: tl.constexpr,
    NBINS: tl.constexpr,
    CORNERS_Z: tl.constexpr,
    CORNERS_Y: tl.constexpr,
    CORNERS_X: tl.constexpr,
    NARROW: tl.constexpr,
):
    """Program (image, block): each pixel from its corner tiles' maps, the last axis first (CORNERS_*: 1 along an
    axis of one tile, whose weights are 1 and 0), or the identity rescale where the image counts nothing."""
    image_index, p, inside, base, x, y, z = pixel_grid(pixels, rows, cols, BLOCK)
    v = tl.load(image + base + p, mask=inside, other=0).to(tl.float64)
    lo, hi, scale, _, divide, _, counted = image_binning(params, image_index)
    rescaled = 0.0 + (tl.where(v < 0.0, 0.0, tl.where(v > 1.0, 1.0, v)) - 0.0) * (1.0 / 1.0)
    if NARROW:
        rescaled = rescaled.to(tl.float32).to(tl.float64)
    if counted == 0.0:  # nothing counted: the identity rescale, NaN kept
        result = tl.where(v != v, v, rescaled)
    else:
        t, k, nan_or_zero = pixel_position(v, lo, hi, scale, divide, NBINS)
        rescaled = tl.where(v != v, 0.0, rescaled)
        first_tile = image_index * (tiles_z * tiles_y * tiles_x)
        lz = tl.load(lower_z + z, mask=inside, other=0)
        ly = tl.load(lower_y + y, mask=inside, other=0)
        lx = tl.load(lower_x + x, mask=inside, other=0)
        result = tl.zeros([BLOCK], tl.float64)
        for a in tl.static_range(CORNERS_Z):
            tz = tl.minimum(lz + a, tiles_z - 1)
            along_y = tl.zeros([BLOCK], tl.float64)
            for b in tl.static_range(CORNERS_Y):
                tzy = tz * tiles_y + tl.minimum(ly + b, tiles_y - 1)
                tile = first_tile + tzy * tiles_x + lx
                along_x = _tile_value(levels, slopes, identity, tile, k, t, rescaled, inside, NBINS)
                if CORNERS_X == 2:
                    upper = first_tile + tzy * tiles_x + tl.minimum(lx + 1, tiles_x - 1)
                    along_x = tl.load(weights_x + 2 * x, mask=inside, other=0.0) * along_x + tl.load(
                        weights_x + 2 * x + 1, mask=inside, other=0.0
                    ) * _tile_value(levels, slopes, identity, upper, k, t, rescaled, inside, NBINS)
                along_y = _blend(along_y, along_x, weights_y, y, inside, b, CORNERS_Y)
            result = _blend(result, along_y, weights_z, z, inside, a, CORNERS_Z)
        result = result + nan_or_zero
    if NARROW:
        result = result.to(tl.float32)
    tl.store(out + base + p, result.to(out.dtype.element_ty), mask=inside)


def clahe_batch(images: torch.Tensor, mask: torch.Tensor | None, grid: TileGrid, clip: float | None) -> torch.Tensor:
    """CLAHE of each image of a contiguous ``(images, pixels)`` float16/32/64 tensor laid out as ``grid.shape``
    (a grid of float weights), on its device.  ``mask`` and ``clip`` (one, None, or one per image) as in
    ``clahe.clahe_batch``."""
    out = torch.empty_like(images)
    if images.numel() == 0:
        return out
    params = binning(images, mask)
    clips = clip_limits(clip, images.shape[0], images.device)
    # Per tile: a histogram (4 bytes a bin), levels and slopes (8 each), the clip terms.
    for part in image_passes(images.shape[0], grid.count, 20 * (NBINS + 1) + 32 * GROUPS):
        _clahe_part(
            images[part], part_of(mask, part), params[part], grid, None if clip is None else clips[part], out[part]
        )
    return out


def _clahe_part(images, mask, params, grid, clips, out) -> None:
    """CLAHE of a part of a batch; ``clips``: its images' clip limits (a device tensor), or None."""
    count, pixels = images.shape
    device = images.device
    tiles = count * grid.count
    counts = torch.zeros((tiles, NBINS), dtype=torch.int32, device=device)
    ranges = torch.full((count, 2), -1, dtype=torch.int32, device=device)
    ranges[:, 0] = NBINS
    _tile_histogram_kernel[(tiles, triton.cdiv(grid.largest_box, box_block(grid.largest_box)))](
        *pixel_arguments(images, mask, grid, counts, ranges),
        params,
        BLOCK=box_block(grid.largest_box),
        NBINS=NBINS,
        MASKED=mask is not None,
        enable_fp_fusion=False,
    )
    levels = torch.empty((tiles, NBINS + 1), dtype=torch.float64, device=device)
    slopes = torch.empty_like(levels)
    identity = torch.empty(tiles, dtype=torch.int8, device=device)
    groups = torch.empty((tiles if clips is not None else 1, 4 * GROUPS), dtype=torch.float64, device=device)
    _maps_kernel[(tiles,)](
        counts,
        ranges,
        levels,
        slopes,
        identity,
        groups,
        clip_limits(clips, count, device),
        grid.count,
        NBINS=NBINS,
        GROUPS=GROUPS,
        CLIPPED=clips is not None,
        enable_fp_fusion=False,
        num_warps=8,
    )
    (_, rows, cols), (tz, ty, tx) = grid.shape, grid.tiles
    corners = [1 if t == 1 else 2 for t in grid.tiles]
    _interpolate_kernel[(count, triton.cdiv(pixels, _BLOCK))](
        images,
        out,
        levels,
        slopes,
        identity,
        params,
        *grid.lower,
        *grid.weights,
        pixels,
        rows,
        cols,
        tz,
        ty,
        tx,
        BLOCK=_BLOCK,
        NBINS=NBINS,
        CORNERS_Z=corners[0],
        CORNERS_Y=corners[1],
        CORNERS_X=corners[2],
        NARROW=images.dtype != torch.float64,
        enable_fp_fusion=False,
    )
