"""CLAHE of integer images on the GPU, in Triton: the CPU core's three phases (tile histograms, tile tables,
interpolation) as three kernels, bit for bit with it.

Covers 8- and 16-bit integer images (``uint8``, ``int8``, ``uint16``, ``int16``) of up to three spatial axes
longer than one pixel, batches, masks, any tile grid and clip limit, with one bin per level and the default
ranges.  Global equalization of those dtypes (but ``uint8``, which has ``equalize``) is the same three
phases with one tile and no clip (one tile without clipping *is* global equalization, see
:func:`histeq.clahe`); histograms are the first phase, and ``match`` maps through the third.  Batches
whose tile buffers would pass PASS_BYTES run a part at a time.

The rules are the core's, phase by phase (``clahe_tables.hpp``, ``clip.hpp``, ``clahe_interpolate.hpp``):

- **Histograms**: tile ``k`` of an axis of ``n`` pixels holds the pixels ``[start_k, stop_k)`` of the tile
  plan (a pixel centre on a boundary counts in both tiles); only counted pixels (``mask``) count.  The same pass
  records each image's lowest and highest counted level, the range the 16-bit clip rule's groups span.
- **Tables**: a tile with fewer than two occupied levels keeps the identity; an unclipped tile gets the
  equalizing table in exact integers; a clipped one the levels ``out_lo + trunc((F - F_min) scale + 1/2)`` of
  its clipped cumulative histogram F, in float64 with the core's operations in the core's order (so Triton's
  fused multiply-adds are turned off, as the core is compiled without them).  The clip threshold is the
  core's Newton iteration; 8-bit images measure it on their 256 levels, wider ones on 256 groups of the
  counted range.
- **Interpolation**: the exact integer sum of the corner tiles' levels times the plan's integer weights,
  divided by the weights' common denominator with halves rounded up.

The kernels run on CPU tensors under Triton's interpreter (``TRITON_INTERPRET=1``), which is how the tests
check them without a GPU.
"""

from __future__ import annotations

import numpy as np
import torch
import triton
import triton.language as tl

from histeq._backends.gpu.clip import clip_threshold, cumulative_at, floor_of, grouped_cumulative, grouped_terms
from histeq._kernels import CLIP_GROUPS

#: Pixels per program of the interpolation kernel; levels per step of the 16-bit table kernel.
_BLOCK = 1024
_CHUNK = 4096
#: 8-bit tiles of at most this many pixels count and build their table in one program (in registers).
_FUSED_BOX = 4096
#: Work buffers (tile histograms and tables) one pass over a batch may take on the device.
PASS_BYTES = 1 << 30
#: Groups of the clip rule of images wider than a byte.
GROUPS = CLIP_GROUPS


@triton.jit
def tile_pixels(
    image,
    counted,
    program,
    block,
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
    BLOCK: tl.constexpr,
    MASKED: tl.constexpr,
):
    """(values, counted) of the BLOCK pixels ``block`` of the box of tile ``program`` (image x tiles + tile):
    their values as stored, and whether each is in the box and counted."""
    tiles = tiles_z * tiles_y * tiles_x
    image_index = program // tiles
    tile = program % tiles
    kz = tile // (tiles_y * tiles_x)
    ky = (tile // tiles_x) % tiles_y
    kx = tile % tiles_x
    z0 = tl.load(bounds_z + kz)
    y0 = tl.load(bounds_y + ky)
    x0 = tl.load(bounds_x + kx)
    depth = tl.load(bounds_z + tiles_z + kz) - z0
    height = tl.load(bounds_y + tiles_y + ky) - y0
    width = tl.load(bounds_x + tiles_x + kx) - x0
    q = block * BLOCK + tl.arange(0, BLOCK)
    inside = q < depth * height * width
    x = q % width
    y = (q // width) % height
    z = q // (width * height)
    offsets = ((z0 + z) * rows + (y0 + y)).to(tl.int64) * cols + (x0 + x)
    values = tl.load(image + image_index.to(tl.int64) * pixels + offsets, mask=inside, other=0)
    if MASKED:
        kept = tl.load(counted + image_index.to(tl.int64) * mask_stride + offsets, mask=inside, other=0)
        inside = inside & (kept != 0)
    return values, inside


@triton.jit
def count_into(histogram, bins, inside, BLOCK: tl.constexpr, LEVELS: tl.constexpr):
    """Adds the ``inside`` ones of BLOCK bins to a histogram of LEVELS counts: counted in registers, then one
    atomic add per occupied level, where the levels fit; else an atomic add per pixel."""
    if LEVELS <= 256:
        local = tl.histogram(bins, LEVELS, mask=inside)
        tl.atomic_add(histogram + tl.arange(0, LEVELS), local.to(tl.int32), mask=local > 0, sem="relaxed")
    else:
        tl.atomic_add(histogram + bins, tl.full([BLOCK], 1, tl.int32), mask=inside, sem="relaxed")


@triton.jit
def pixel_grid(pixels, rows, cols, BLOCK: tl.constexpr):
    """(image, offsets, inside, base, x, y, z) of program (image, block) of an interpolation kernel: its BLOCK
    pixels' offsets in the image, whether each is one, the image's first pixel, and their coordinates."""
    image_index = tl.program_id(0)
    p = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    return (
        image_index,
        p,
        p < pixels,
        image_index.to(tl.int64) * pixels,
        p % cols,
        (p // cols) % rows,
        p // (cols * rows),
    )


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
    level_lo,
    BLOCK: tl.constexpr,
    LEVELS: tl.constexpr,
    MASKED: tl.constexpr,
):
    """Phase 1: program (image x tile, block) counts BLOCK pixels of one tile's box into the tile's histogram
    (count_into), and folds their lowest and highest level into the image's counted range."""
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
    bins = values.to(tl.int32) - level_lo
    count_into(counts + program.to(tl.int64) * LEVELS, bins, inside, BLOCK, LEVELS)
    image_index = program // (tiles_z * tiles_y * tiles_x)
    tl.atomic_min(ranges + 2 * image_index, tl.min(tl.where(inside, bins, LEVELS), 0), sem="relaxed")
    tl.atomic_max(ranges + 2 * image_index + 1, tl.max(tl.where(inside, bins, -1), 0), sem="relaxed")


@triton.jit
def _byte_table(h, level_lo, clip, CLIPPED: tl.constexpr):
    """The table of a tile of an 8-bit image from its histogram h (256 int64 counts, in registers): the
    identity below two occupied levels; else the equalizing table, exact, or with CLIPPED (the limit measured
    on all 256 levels) the levels ``trunc((F - F(0)) scale + 1/2)`` of the clipped cumulative histogram F."""
    at = tl.arange(0, 256)
    cumulative = tl.cumsum(h, 0)
    total = tl.sum(h, 0)
    first = tl.min(tl.where(h > 0, at, 256), 0)
    c_first = tl.sum(tl.where(at == first, cumulative, 0), 0)
    spread = tl.maximum(total - c_first, 1)
    table = tl.where(at < first, 0, (2 * 255 * (cumulative - c_first) + spread) // (2 * spread))
    if CLIPPED:
        clipped, threshold, lift = clip_threshold(h, tl.full([], 256, tl.int64), total, clip)
        if clipped:
            over = h > floor_of(threshold)
            below = tl.cumsum(tl.where(over, 0, h), 0)
            above = tl.cumsum(over.to(tl.int64), 0)
            f = (below.to(tl.float64) + above.to(tl.float64) * threshold) + (at + 1).to(tl.float64) * lift
            # Every level is lifted, so level 0 is the first occupied: F(0) is the least F.
            h0 = tl.sum(tl.where(at == 0, h, 0), 0).to(tl.float64)
            c_min = tl.where(h0 > threshold, threshold, h0) + lift
            scale = 255.0 / (total.to(tl.float64) - c_min)
            table = (tl.where(f > c_min, f - c_min, 0.0) * scale + 0.5).to(tl.int64)
    occupied = tl.sum((h > 0).to(tl.int64), 0)
    return level_lo + tl.where(occupied < 2, at, table)


@triton.jit
def _byte_tables_kernel(counts, tables, level_lo, clips, tiles_per_image, CLIPPED: tl.constexpr):
    """Phase 2 of 8-bit images: one program per (image, tile), its histogram read from ``counts``.
    ``clips``: each image's clip limit, float64 (a Python float would reach the kernel as a float32)."""
    program = tl.program_id(0).to(tl.int64)
    at = tl.arange(0, 256)
    h = tl.load(counts + program * 256 + at).to(tl.int64)
    table = _byte_table(h, level_lo, tl.load(clips + program // tiles_per_image), CLIPPED)
    tl.store(tables + program * 256 + at, table.to(tables.dtype.element_ty))


@triton.jit
def _byte_tile_tables_kernel(
    image,
    counted,
    tables,
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
    level_lo,
    clips,
    BLOCK: tl.constexpr,
    MASKED: tl.constexpr,
    CLIPPED: tl.constexpr,
):
    """Phases 1 and 2 of 8-bit images whose tiles hold at most BLOCK pixels, in one program per (image, tile):
    the histogram stays in registers."""
    program = tl.program_id(0)
    values, inside = tile_pixels(
        image,
        counted,
        program,
        0,
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
    bins = values.to(tl.int32) - level_lo
    h = tl.histogram(bins, 256, mask=inside).to(tl.int64)
    table = _byte_table(h, level_lo, tl.load(clips + program // (tiles_z * tiles_y * tiles_x)), CLIPPED)
    tl.store(tables + program.to(tl.int64) * 256 + tl.arange(0, 256), table.to(tables.dtype.element_ty))


@triton.jit
def _wide_tables_kernel(
    counts,
    ranges,
    tables,
    groups,
    clips,
    tiles_per_image,
    level_lo,
    LEVELS: tl.constexpr,
    CHUNK: tl.constexpr,
    GROUPS: tl.constexpr,
    CLIPPED: tl.constexpr,
):
    """Phase 2 of 16-bit images: one program per (image, tile) turns the tile's histogram (replaced by its
    cumulative sum) into its table, CHUNK levels at a time.  The clip limit is measured on GROUPS groups of the
    image's counted range (``ranges``); each program keeps its groups' terms in its row of ``groups``."""
    program = tl.program_id(0)
    row = counts + program.to(tl.int64) * LEVELS
    table = tables + program.to(tl.int64) * LEVELS
    steps = tl.arange(0, CHUNK)
    carry = tl.zeros([], tl.int64)
    occupied = tl.zeros([], tl.int64)
    first = tl.full([], LEVELS, tl.int64)
    for start in range(0, LEVELS, CHUNK):
        h = tl.load(row + start + steps).to(tl.int64)
        running = tl.cumsum(h, 0) + carry
        tl.store(row + start + steps, running.to(tl.int32))
        carry = tl.max(running, 0)
        occupied += tl.sum((h > 0).to(tl.int64), 0)
        first = tl.minimum(first, tl.min(tl.where(h > 0, start + steps, LEVELS), 0).to(tl.int64))
    tl.debug_barrier()
    total = carry
    clipped = occupied < 0
    scratch = groups + program.to(tl.int64) * (4 * GROUPS)
    image_index = program // tiles_per_image
    lo = tl.load(ranges + 2 * image_index).to(tl.int64)
    span = tl.load(ranges + 2 * image_index + 1).to(tl.int64) - lo + 1
    count = tl.maximum(tl.minimum(span, GROUPS), 1)
    c_min = tl.zeros([], tl.float64)
    if CLIPPED:
        if occupied >= 2:
            clipped, c_min = grouped_terms(row, lo, span, count, total, tl.load(clips + image_index), scratch, GROUPS)
    if occupied < 2:  # nothing to equalize: the identity
        for start in range(0, LEVELS, CHUNK):
            tl.store(table + start + steps, (start + steps + level_lo).to(table.dtype.element_ty))
    elif not clipped:  # the equalizing table, exact
        c_first = cumulative_at(row, first)
        spread = total - c_first
        for start in range(0, LEVELS, CHUNK):
            at = start + steps
            level = (2 * (LEVELS - 1) * (cumulative_at(row, at) - c_first) + spread) // (2 * spread)
            tl.store(table + at, (level_lo + tl.where(at < first, 0, level)).to(table.dtype.element_ty))
    else:  # the levels of the clipped cumulative histogram F
        scale = (LEVELS - 1) / (total.to(tl.float64) - c_min)
        for start in range(0, LEVELS, CHUNK):
            at = start + steps
            f = grouped_cumulative(row, at, lo, span, count, total, scratch, GROUPS)
            x = tl.where(f > c_min, f - c_min, 0.0) * scale + 0.5
            tl.store(table + at, (level_lo + x.to(tl.int64)).to(table.dtype.element_ty))


@triton.jit
def _interpolate_kernel(
    image,
    tables,
    out,
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
    level_lo,
    out_lo,
    denominator,
    BLOCK: tl.constexpr,
    LEVELS: tl.constexpr,
    CORNERS_Z: tl.constexpr,
    CORNERS_Y: tl.constexpr,
    CORNERS_X: tl.constexpr,
    WIDE: tl.constexpr,
):
    """Phase 3: program (image, block) maps BLOCK pixels by the exact weighted sum of their corner tiles' levels
    (CORNERS_*: 1 along an axis of one tile, else 2), rounded halves up.  ``weights_*``: (w0, w1) per pixel of
    the axis, the lower tile's and the upper's; WIDE: the sum needs 64 bits."""
    image_index, p, inside, base, x, y, z = pixel_grid(pixels, rows, cols, BLOCK)
    values = tl.load(image + base + p, mask=inside, other=0).to(tl.int32) - level_lo
    own = tables + image_index.to(tl.int64) * (tiles_z * tiles_y * tiles_x) * LEVELS + values
    kind = tl.int64 if WIDE else tl.int32
    if CORNERS_Z * CORNERS_Y * CORNERS_X == 1:
        tl.store(out + base + p, tl.load(own, mask=inside, other=0), mask=inside)
    else:
        lz = tl.load(lower_z + z, mask=inside, other=0)
        ly = tl.load(lower_y + y, mask=inside, other=0)
        lx = tl.load(lower_x + x, mask=inside, other=0)
        acc = tl.zeros([BLOCK], kind)
        for a in tl.static_range(CORNERS_Z):
            wz = tl.load(weights_z + 2 * z + a, mask=inside, other=0).to(kind)
            tz = tl.minimum(lz + a, tiles_z - 1)
            for b in tl.static_range(CORNERS_Y):
                wzy = wz * tl.load(weights_y + 2 * y + b, mask=inside, other=0).to(kind)
                tzy = tz * tiles_y + tl.minimum(ly + b, tiles_y - 1)
                for c in tl.static_range(CORNERS_X):
                    w = wzy * tl.load(weights_x + 2 * x + c, mask=inside, other=0).to(kind)
                    tile = tzy * tiles_x + tl.minimum(lx + c, tiles_x - 1)
                    level = tl.load(own + tile.to(tl.int64) * LEVELS, mask=inside, other=0).to(kind) - out_lo
                    acc += w * level
        mapped = out_lo + (2 * acc + denominator) // (2 * denominator)
        tl.store(out + base + p, mapped.to(out.dtype.element_ty), mask=inside)


def clip_limits(clip, count: int, device) -> torch.Tensor:
    """The images' clip limits as the kernels read them: float64 on the device, one per image (``clip``: one
    limit, None, or a tensor of one per image already)."""
    if isinstance(clip, torch.Tensor):
        return clip
    return torch.full(
        (count if clip is not None else 1,), 1.0 if clip is None else clip, dtype=torch.float64, device=device
    )


class TileGrid:
    """One image shape's tile plan on a device, padded to three axes (leading axes of one pixel, one tile).

    ``plans``: per spatial axis, the CPU plan's ``(bounds, lower, w0, w1, denominator)`` (histeq.clahe's
    axis_plans); ``denominator``: the weights' common denominator.  ``exact``: integer weights (integer images),
    else the fractions (floats).
    """

    def __init__(
        self, shape: tuple[int, ...], tiles: tuple[int, ...], plans, denominator: float, device, exact: bool = True
    ):
        pad = 3 - len(shape)
        identity = (np.array([0, 1]), np.array([0]), np.array([1.0]), np.array([0.0]), 1)
        plans = [identity] * pad + list(plans)
        self.shape = (1,) * pad + tuple(shape)
        self.tiles = (1,) * pad + tuple(tiles)
        self.bounds = [torch.as_tensor(plan[0], dtype=torch.int32, device=device) for plan in plans]
        self.lower = [torch.as_tensor(plan[1], dtype=torch.int32, device=device) for plan in plans]
        kind = np.int64 if exact else np.float64
        self.weights = [
            torch.as_tensor(np.stack([plan[2], plan[3]], axis=1).astype(kind), device=device) for plan in plans
        ]
        self.denominator = int(denominator)
        self.largest_box = int(np.prod([np.max(plan[0][t:] - plan[0][:t]) for plan, t in zip(plans, self.tiles)]))

    @property
    def count(self) -> int:
        return int(np.prod(self.tiles))


def tile_histograms(
    images: torch.Tensor, mask: torch.Tensor | None, grid: TileGrid, level_lo: int, levels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Phase 1 on a contiguous ``(images, pixels)`` tensor laid out as ``grid.shape``: the int32 histograms
    ``(images x tiles, levels)`` of the tiles' counted pixels (one bin per level, from ``level_lo``), and each
    image's lowest and highest counted bin, ``(images x 2,)`` int32 (``levels, -1`` where nothing counts).
    ``mask`` as in :func:`clahe_batch`."""
    count, pixels = images.shape
    counts = torch.zeros((count * grid.count, levels), dtype=torch.int32, device=images.device)
    ranges = torch.full((count, 2), -1, dtype=torch.int32, device=images.device)
    ranges[:, 0] = levels
    if count == 0 or pixels == 0:
        return counts, ranges
    block = box_block(grid.largest_box)
    _tile_histogram_kernel[(count * grid.count, triton.cdiv(grid.largest_box, block))](
        *pixel_arguments(images, mask, grid, counts, ranges),
        level_lo,
        BLOCK=block,
        LEVELS=levels,
        MASKED=mask is not None,
    )
    return counts, ranges


def clahe_batch(
    images: torch.Tensor, mask: torch.Tensor | None, grid: TileGrid, clip: float | None, level_lo: int, levels: int
) -> torch.Tensor:
    """CLAHE of each image of a contiguous ``(images, pixels)`` tensor of 8- or 16-bit integers laid out as
    ``grid.shape``, on the tensor's device.

    mask: None, or a contiguous bool tensor ``(images, pixels)`` or ``(pixels,)`` (shared): the pixels that
    feed the tile histograms.  clip: the clip limit, None, or a float64 device tensor of one per image.
    level_lo, levels: the dtype's lowest level and the number of levels (one bin each, 256 or 65536); the output
    levels are the dtype's range.  The clip limit is measured on all levels of 8-bit images, on 256 groups of the
    counted range of 16-bit ones (as the CPU core, see histeq.clahe).
    """
    out = torch.empty_like(images)
    clips = clip_limits(clip, images.shape[0], images.device)
    # 16-bit tiles take a 65536-level histogram and table each: a large batch is taken a part at a time.
    for part in image_passes(images.shape[0], grid.count, 6 * levels):
        _clahe_part(
            images[part], part_of(mask, part), grid, None if clip is None else clips[part], level_lo, levels, out[part]
        )
    return out


def part_of(mask: torch.Tensor | None, part: slice) -> torch.Tensor | None:
    """The mask of the images ``part`` of a batch: a shared mask (one dimension) is every image's."""
    return mask if mask is None or mask.ndim == 1 else mask[part]


def _clahe_part(images, part_mask, grid, clips, level_lo, levels, out) -> None:
    """CLAHE of a part of a batch; ``clips``: its images' clip limits (a device tensor), or None."""
    count, pixels = images.shape
    if count == 0 or pixels == 0:
        return
    tables = torch.empty((count * grid.count, levels), dtype=images.dtype, device=images.device)
    clipped, clips = clips is not None, clip_limits(clips, count, images.device)
    if levels == 256 and grid.largest_box <= _FUSED_BOX:
        _byte_tile_tables_kernel[(count * grid.count,)](
            *pixel_arguments(images, part_mask, grid, tables),
            level_lo,
            clips,
            BLOCK=box_block(grid.largest_box),
            MASKED=part_mask is not None,
            CLIPPED=clipped,
            enable_fp_fusion=False,
        )
    elif levels == 256:
        counts, _ = tile_histograms(images, part_mask, grid, level_lo, levels)
        _byte_tables_kernel[(count * grid.count,)](
            counts, tables, level_lo, clips, grid.count, CLIPPED=clipped, enable_fp_fusion=False
        )
    else:
        counts, ranges = tile_histograms(images, part_mask, grid, level_lo, levels)
        groups = torch.empty(
            (count * grid.count if clipped else 1, 4 * GROUPS), dtype=torch.float64, device=images.device
        )
        _wide_tables_kernel[(count * grid.count,)](
            counts,
            ranges,
            tables,
            groups,
            clips,
            grid.count,
            level_lo,
            LEVELS=levels,
            CHUNK=_CHUNK,
            GROUPS=GROUPS,
            CLIPPED=clipped,
            enable_fp_fusion=False,
            num_warps=8,
        )
    interpolate(images, tables, out, grid, level_lo, levels)


def image_passes(count: int, tiles: int, bytes_per_tile: int):
    """Slices of the ``count`` images of a batch whose tiles' work buffers take at most PASS_BYTES (at least
    one image a pass)."""
    step = max(1, PASS_BYTES // max(1, tiles * bytes_per_tile))
    return [slice(start, min(count, start + step)) for start in range(0, max(count, 1), step)]


def interpolate(
    images: torch.Tensor, tables: torch.Tensor, out: torch.Tensor, grid: TileGrid, level_lo: int, levels: int
) -> None:
    """Phase 3: ``out`` (as ``images``) from the tiles' tables ``(images x tiles, levels)``."""
    count, pixels = images.shape
    (_, rows, cols), (tz, ty, tx) = grid.shape, grid.tiles
    corners = [1 if t == 1 else 2 for t in grid.tiles]
    wide = (2 * (levels - 1) + 1) * grid.denominator >= 2**31
    _interpolate_kernel[(count, triton.cdiv(pixels, _BLOCK))](
        images,
        tables,
        out,
        *grid.lower,
        *grid.weights,
        pixels,
        rows,
        cols,
        tz,
        ty,
        tx,
        level_lo,
        level_lo,
        grid.denominator,
        BLOCK=_BLOCK,
        LEVELS=levels,
        CORNERS_Z=corners[0],
        CORNERS_Y=corners[1],
        CORNERS_X=corners[2],
        WIDE=wide,
    )


def box_block(largest_box: int) -> int:
    """Pixels per program of the phase-1 kernels: the tiles' largest box to a power of two, 128 to 4096."""
    return max(128, min(4096, triton.next_power_of_2(largest_box)))


def pixel_arguments(images, mask, grid, *outputs) -> tuple:
    """The arguments of the kernels that read tile boxes (see tile_pixels), ``outputs`` after the image's."""
    count, pixels = images.shape
    counted = images if mask is None else mask.view(torch.uint8)
    mask_stride = pixels if mask is not None and mask.ndim == 2 else 0
    (_, rows, cols), (tz, ty, tx) = grid.shape, grid.tiles
    return (images, counted, *outputs, *grid.bounds, pixels, mask_stride, rows, cols, tz, ty, tx)
