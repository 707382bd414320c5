"""Contrast-limited adaptive histogram equalization (CLAHE), in any number of dimensions."""

from __future__ import annotations

import atexit
import dataclasses
import functools
import itertools
import math
import numbers
from collections.abc import Sequence

import numpy as np

from . import _color, _compat, _validate, mapping
from . import dask as _dask
from ._kernels import (
    MAX_AXES,
    UINT8,
    UINT16,
    DtypeInfo,
    core,
    dtype_info,
    get_num_threads,
    require_tables,
    resolve_threads,
    table_budget,
)
from ._layout import BatchLayout
from ._spec import Spec, bin_range, finite_range, histogram_bins, make_spec
from ._types import ArrayLike, Axes, ChannelAxis, ChannelOrder, Color, Image, Range

__all__ = ["clahe", "fit_clahe", "ClaheMapping"]

#: Integer interpolation stays exact while weights x levels fit in this many bits.
_EXACT_BITS = 50


@_validate.public
def clahe(
    image: Image,
    *,
    tiles: int | Sequence[int] = 8,
    clip_limit: float | None = 2.0,
    nbins: int | None = None,
    mask: ArrayLike = None,
    axes: Axes = None,
    channel_axis: ChannelAxis = None,
    color: Color = None,
    channel_order: ChannelOrder = "rgb",
    in_range: Range = None,
    out_range: Range = None,
    compat: str | None = None,
    threads: int | None = None,
) -> Image:
    """Contrast-limited adaptive histogram equalization of every image of a batch.

    The image is divided into a grid of tiles (contextual regions); each gets
    the mapping of global equalization of its own histogram, clipped so that
    no level's slope exceeds ``clip_limit``; every pixel is then mapped by
    interpolating the mappings of the tiles around it, linearly along each
    spatial axis (bilinear in 2-D, trilinear in 3-D, multilinear in n-D).

    Parameters
    ----------
    image : (..., M, N[, ...][, C]) ndarray
        uint8, int8, uint16, int16, uint32, int32, float16, float32 or float64;
        2-D images, 3-D volumes or n-D; see ``axes`` for batches.
    tiles : int or sequence of int, optional
        Number of tiles along each spatial axis (in array order), or one
        number for all.  Each must be between 1 and the axis length.  Default 8.
    clip_limit : float or None, optional
        Largest slope of a tile's mapping relative to plain equalization: the
        histogram is clipped at ``clip_limit`` times its mean bin height and
        the clipped counts are spread evenly over the bins, repeatedly, so that
        no bin ends above the limit.  8-bit images measure it on their 256
        bins (as OpenCV); every other dtype on 256 groups of the bins its
        counted values span, so that 12-bit data in uint16, CT data in int16
        and floats are clipped as their 8-bit version would be, keeping every
        level (see Notes).  At least 1 (1 makes each tile's mapping
        linear); None: no clipping (plain adaptive equalization).  Default 2.
        scikit-image's normalized ``clip_limit=k`` (with its ``nbins=256``)
        corresponds to ``clip_limit = k * 256`` here; OpenCV's ``clipLimit``
        has this meaning already.
    nbins, in_range, out_range, mask, axes, channel_axis, color, channel_order, threads
        As in :func:`histeq.equalize`.  The bins are shared by all tiles of an
        image (floats: the image's finite range, or ``in_range``); ``mask``
        selects the pixels that feed the tile histograms.
    compat : {'opencv'}, optional
        Reproduce ``cv2.createCLAHE(clip_limit, (tiles_x, tiles_y)).apply``
        bit for bit (uint8 or uint16, 2-D images; ``tiles`` is given here in
        array order, (rows, columns), which is OpenCV's (height, width)).
        The results are those of OpenCV on x86_64, on every machine; OpenCV's
        ARM builds fuse the blend's multiply-adds and round a few pixels
        (under 0.1 %) one level the other way.

    Returns
    -------
    out : ndarray
        Same shape and dtype as ``image``.  A Dask array gives a Dask array,
        equal to the in-memory result for any chunking: one image's tile grid
        is anchored to the whole array (tile histograms summed over chunks,
        each chunk interpolated with its offset); batches and colour run block
        by block over whole images.

    Notes
    -----
    Tiles: along an axis of ``n`` pixels cut in ``t`` tiles, pixel ``i`` (its
    centre at ``i + 1/2``) belongs to tile ``k`` when ``k n / t <= i + 1/2 <=
    (k + 1) n / t``.  Tiles are as equal as the pixels allow and laid out
    symmetrically, so no padding is needed; a pixel centre exactly on a
    boundary counts in both tiles.  Each pixel is interpolated between the
    centres of its two nearest tiles along every axis (the outermost half
    tiles use their own tile alone).  Flipping any spatial axis therefore
    flips the result exactly, and for integer images, whose interpolation is
    exact (integer levels, rational weights, halves rounded up), so does
    transposing spatial axes together with ``tiles``; float results agree to
    rounding.  (OpenCV pads the bottom and right edges instead, so its result
    is not flip-equivariant; ``compat='opencv'`` reproduces that.)

    A tile's mapping is :func:`histeq.equalize`'s rule applied to its clipped
    histogram, so one tile without clipping equals global equalization.

    Clip rule for dtypes wider than a byte and floats: the bins from the
    image's lowest to its highest counted value (``S`` of them) form
    ``G = min(256, S)`` groups of consecutive bins, bin ``b`` in group
    ``floor((2 (b - first) + 1) G / 2S)``.  The groups' totals are clipped at
    ``clip_limit`` times their mean and the clipped mass spread over the
    groups as above; within a group every bin keeps its share of the group's
    clipped total and the group's lift is spread evenly over its bins.  On
    data with 256 levels or fewer per group this is exactly the 8-bit rule
    on the data quantized to 256 levels, refined by every level's own count;
    the limit measured on all 65536 bins (OpenCV's 16-bit rule, kept by
    ``compat='opencv'``) would clip all but the widest-spread data to a
    near-identity map.  A
    tile with fewer than two occupied bins (a constant region, or one whose
    pixels are all masked out) has nothing to equalize and keeps the identity
    rescale; a constant image is returned unchanged.  NaN stays NaN.

    Integer images interpolate exactly while the weights fit in 50 bits with
    the output levels: each axis's weights have the denominator
    ``2 n / gcd(n, t)``, which may use ``(50 - bits of the output span) /
    ndim`` bits (16-bit 2-D images: axes up to 65536 pixels; 16-bit volumes:
    about 1000).  Beyond that an axis's weights are rounded to that many bits.

    Memory: besides the output, the tile tables (for 16-bit images, each
    tile's spans the values around it; volumes build them a layer of tiles
    at a time).  The calling thread keeps up to 16 MiB of them per worker
    for its next call, which saves faulting in fresh pages every call.

    References
    ----------
    .. [1] S. M. Pizer et al., "Adaptive histogram equalization and its
           variations", Computer Vision, Graphics, and Image Processing 39(3),
           355-368, 1987.
    .. [2] K. Zuiderveld, "Contrast limited adaptive histogram equalization",
           in Graphics Gems IV, Academic Press, 1994, pp. 474-485.

    Examples
    --------
    >>> import numpy as np, histeq
    >>> image = np.tile(np.arange(64, dtype=np.uint8), (64, 1))  # a dim ramp, levels 0..63
    >>> out = histeq.clahe(image, tiles=4, clip_limit=None)
    >>> out.dtype, out.shape, int(out.min()), int(out.max())
    (dtype('uint8'), (64, 64), 0, 255)
    >>> limited = histeq.clahe(image, tiles=4, clip_limit=2.0)  # contrast limited: a gentler stretch
    >>> bool(limited.max() < out.max())
    True
    >>> np.array_equal(histeq.clahe(image[:, ::-1], tiles=4), limited[:, ::-1])
    True
    """
    if (
        type(image) is np.ndarray
        and image.ndim == 2
        and (image.dtype is UINT8 or image.dtype is UINT16)
        and type(tiles) is int
        and type(clip_limit) in (float, int)
        and nbins is None
        and mask is None
        and axes is None
        and channel_axis is None
        and color is None
        and in_range is None
        and out_range is None
        and compat is None
        and threads is None
    ):
        out = _clahe_default(image, tiles, clip_limit)
        if out is not None:
            return out
    if _dask.is_dask(image):
        return _clahe_dask(
            image,
            tiles=tiles,
            clip_limit=clip_limit,
            nbins=nbins,
            mask=mask,
            axes=axes,
            channel_axis=channel_axis,
            color=color,
            in_range=in_range,
            out_range=out_range,
            compat=compat,
            threads=threads,
        )
    call = _validate.call(image, mask, nbins, in_range, out_range, channel_axis, axes)
    arr, info, channel, spatial = call.arr, call.info, call.channel, call.spatial
    grid = tile_counts(tiles, tuple(arr.shape[a] for a in spatial))
    mode = _validate.choice(compat, "compat", ("opencv",))
    clip = checked_clip_limit(clip_limit, opencv=mode is not None)
    nthreads = resolve_threads(threads)
    route = _route(call, mode, color)
    # Every argument is checked; one place per route does the work.
    if route == "opencv":
        return _compat.clahe_opencv(arr, info, spatial, grid, clip, nthreads)
    grey = functools.partial(_clahe_grey, tiles=grid, clip=clip)
    if route != "grey":  # a colour mode
        return _color.equalize(
            arr, info, channel, spatial, call.mask, route, call.nbins, call.in_range, nthreads, grey, fused=False
        )
    mask_per_channel = _validate.channel_mask(call.mask, channel, arr.shape)
    return grey(
        arr, info, spatial, mask_per_channel, make_spec(info, call.nbins, call.in_range, call.out_range), nthreads
    )


def _route(call: _validate.Call, compat: str | None, color) -> str:
    """Where a checked call goes: ``"opencv"`` (compat), a colour mode (the intensity of colour images), or
    ``"grey"`` (grey images, and colour images channel by channel); the arguments a route does not take are
    refused here."""
    if compat is not None:
        _compat.check_opencv_clahe(call.channel, call.mask, call.nbins, call.in_range, call.out_range, color)
        return "opencv"
    color_mode = _color.resolve_mode(color, call.channel, call.arr.shape, call.info, default="lightness")
    if call.channel is None or color_mode == "per-channel":
        return "grey"
    if call.out_range is not None:
        raise ValueError(f"out_range applies to grey and per-channel CLAHE, not color={color_mode!r}")
    return color_mode


def _clahe_default(image: np.ndarray, tiles: int, clip_limit: float) -> np.ndarray | None:
    """The commonest call, one 2-D 8- or 16-bit image with a tile count and a clip limit, in one step (a
    per-sample transform pays little more than the kernel): what the full path computes, or None where the
    full path would check or lay out more (it then takes the call)."""
    rows, cols = image.shape
    if not (
        1 < rows
        and 1 < cols
        and 1 <= tiles <= min(rows, cols)
        and 1 <= clip_limit < math.inf
        and image.flags.c_contiguous
        and image.flags.aligned
    ):
        return None
    info, value_bits, spec = _default_spec(image.dtype)
    out = np.empty_like(image)
    core.clahe(
        image.reshape(1, -1),
        None,
        out.reshape(1, -1),
        _kernel_plan(image.shape, (tiles, tiles), value_bits),
        spec,
        clip_limit=float(clip_limit),
        clip_groups=info.clip_groups,
        table_budget=float(table_budget(image.nbytes)),
        threads=get_num_threads(),
    )
    return out


@atexit.register
def _release_kept_plans() -> None:
    """The kept plans and specs are bound objects: released before the interpreter tears the extension down,
    which would otherwise report them as leaked."""
    _kernel_plan.cache_clear()
    _default_spec.cache_clear()


@functools.cache
def _default_spec(dtype: np.dtype) -> tuple[DtypeInfo, int, core.Spec]:
    """(dtype entry, bits of the output range, the kernel's spec) of a dtype's defaults."""
    info = dtype_info(dtype)
    spec = make_spec(info, None, None, None)
    return info, output_bits(info, spec.out_lo, spec.out_hi), spec.core


def output_bits(info: DtypeInfo, out_lo: float, out_hi: float) -> int | None:
    """Bits of the output levels, which bound the exact integer interpolation's weights (None: floats)."""
    return None if info.is_float else int(out_hi - out_lo).bit_length()


def tile_counts(tiles: object, sizes: tuple[int, ...]) -> tuple[int, ...]:
    items = (tiles,) * len(sizes) if isinstance(tiles, numbers.Integral) else tiles
    try:
        items = tuple(items)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"tiles must be an int or a sequence of ints, got {type(tiles).__name__}") from None
    if len(items) != len(sizes):
        raise ValueError(f"tiles {tiles!r} needs one count per spatial axis ({len(sizes)} axes)")
    for t, n in zip(items, sizes):
        if isinstance(t, bool) or not isinstance(t, numbers.Integral):
            raise TypeError(f"tiles must hold ints, got {tiles!r}")
        if not 1 <= t <= n:
            raise ValueError(
                f"tiles {tiles!r} must be between 1 and the axis length; the spatial axes have sizes {sizes}"
            )
    return tuple(int(t) for t in items)


def checked_clip_limit(clip_limit: object, opencv: bool = False) -> float | None:
    """A clip limit of at least 1, or None; ``opencv``: any finite number OpenCV takes (at most 0: none)."""
    if clip_limit is None:
        return None
    if isinstance(clip_limit, bool) or not isinstance(clip_limit, numbers.Real):
        raise TypeError(f"clip_limit must be a number or None, got {type(clip_limit).__name__}")
    if opencv and math.isfinite(clip_limit):
        return float(clip_limit) if clip_limit > 0 else None
    if not math.isfinite(clip_limit) or clip_limit < 1:
        raise ValueError(
            f"clip_limit must be a finite number >= 1 (a multiple of the mean bin height), got "
            f"{clip_limit!r}; scikit-image's normalized clip_limit k is k * 256 here"
        )
    return float(clip_limit)


def _axis_plan(n: int, t: int, value_bits: int | None, ndim: int):
    """Tile bounds, and each pixel's lower tile and two weights, along one axis (see Notes of clahe).

    Positions in units of tiles are u = ((2i + 1) t - n) / 2n, reduced by
    gcd(n, t).  Integer images get integer weights (denominator returned);
    floats the fractions (D - m) / D and m / D.
    """
    k = np.arange(t, dtype=np.int64)
    start = np.maximum(-((t - 2 * k * n) // (2 * t)), 0)  # ceil((2kn - t) / 2t)
    stop = np.minimum((2 * (k + 1) * n - t) // (2 * t) + 1, n)
    g = math.gcd(n, t)
    n2, t2 = n // g, t // g
    denominator = 2 * n2
    u = (2 * np.arange(n, dtype=np.int64) + 1) * t2 - n2
    lower = u // denominator
    m = u - lower * denominator
    border = (lower < 0) | (lower >= t - 1)
    lower = np.clip(lower, 0, t - 1)
    m[border] = 0
    if value_bits is not None:
        budget = (_EXACT_BITS - value_bits) // ndim
        if denominator.bit_length() > budget:  # round the weights to 2^budget, halves to even
            scale = 1 << budget
            q, r = np.divmod(m * scale, denominator)
            q += (2 * r > denominator) | ((2 * r == denominator) & (q % 2 == 1))
            m, denominator = q, scale
        w0, w1 = (denominator - m).astype(np.float64), m.astype(np.float64)
    else:
        w0, w1 = (denominator - m) / denominator, m / denominator
    return np.concatenate([start, stop]), lower.astype(np.int32), w0, w1, denominator


def without_singletons(shape: tuple[int, ...], tiles: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The spatial shape and tiles without axes of length 1 (at least one axis), at most MAX_AXES of them."""
    kept = [a for a, n in enumerate(shape) if n > 1] or [0]
    if len(kept) > MAX_AXES:
        raise ValueError(
            f"CLAHE interpolates each pixel between 2**axes tiles; it takes at most {MAX_AXES} "
            f"spatial axes longer than 1, got {len(kept)}"
        )
    return tuple(shape[a] for a in kept), tuple(tiles[a] for a in kept)


@functools.lru_cache(maxsize=64)
def _kernel_plan(shape: tuple, tiles: tuple, value_bits: int | None) -> core.TilePlan:
    """The kernel's tile plan of one image shape (tile bounds, each pixel's tiles and weights, the weights'
    common denominator), checked once by the core: kept, as calls on images of one shape come in series."""
    plans, denominator = axis_plans(shape, tiles, value_bits)
    bounds, lower, w0, w1, _ = (list(part) for part in zip(*plans))
    return core.TilePlan(
        np.array(shape, dtype=np.int64),
        np.array(tiles, dtype=np.int64),
        np.concatenate(bounds),
        np.concatenate(lower),
        np.concatenate(w0),
        np.concatenate(w1),
        denominator,
    )


def _clahe_grey(
    arr: np.ndarray,
    info: DtypeInfo,
    spatial: tuple[int, ...],
    mask: np.ndarray | None,
    spec: Spec,
    threads: int,
    tiles: tuple[int, ...],
    clip: float | None,
) -> np.ndarray:
    layout = BatchLayout(arr.shape, spatial)
    flat = layout.flatten(arr, info.compute)
    flat_mask = None if mask is None else layout.flatten(mask)
    # An axis of length 1 is one tile whose neighbour has weight 0: dropped, it changes nothing.
    shape, tiles = without_singletons(layout.spatial_shape, tiles)
    plan = _kernel_plan(shape, tiles, output_bits(info, spec.out_lo, spec.out_hi))
    out = np.empty_like(flat)
    core.clahe(
        flat,
        flat_mask,
        out,
        plan,
        spec.core,
        clip_limit=-1.0 if clip is None else clip,
        clip_groups=info.clip_groups,
        table_budget=float(table_budget(arr.nbytes)),
        threads=threads,
    )
    return layout.restore(out).astype(info.dtype, copy=False)


def _clahe_dask(image, *, mask, axes, channel_axis, **kwargs):
    """A Dask array.  One grey image: the tile grid anchored to the whole array, tile histograms summed over the
    chunks, one set of tile mappings, each chunk interpolated with its offset -- equal to the in-memory result for
    any chunking.  Batches and colour: block by block over whole images."""
    info, channel, spatial, mask = _dask.checked(image, mask, channel_axis, axes)
    grid = tile_counts(kwargs["tiles"], tuple(image.shape[a] for a in spatial))
    clip = checked_clip_limit(kwargs["clip_limit"])
    whole = channel is None and len(spatial) == image.ndim
    if whole and kwargs["color"] is None and kwargs["compat"] is None:
        spec = make_spec(
            info,
            _validate.nbins(kwargs["nbins"]),
            _validate.value_range(kwargs["in_range"], info, "in_range"),
            _validate.value_range(kwargs["out_range"], info, "out_range"),
        )
        return _clahe_chunked(image, info, mask, grid, clip, spec, kwargs["threads"])

    def one_block(block, block_mask):
        return clahe(block, mask=block_mask, axes=spatial, channel_axis=channel, **kwargs)

    return _dask.by_image_blocks(image, mask, spatial, channel, one_block)


def _clahe_chunked(image, info, mask, grid, clip, spec, threads):
    """One Dask image: tile histograms summed over the chunks, one ClaheMapping (delayed), each chunk
    interpolated with its offset."""
    _require_fitted_tables(info, image.shape, grid, spec.nbins)
    fixed, counted = _fixed_bins(image, info, mask, spec, lazy=True)
    if not counted:  # as the in-memory kernel: the identity rescale of the whole image
        return mapping.rescale(info, spec).apply(image, threads=threads)
    fitted = _clahe_chunked_fit(image, info, mask, grid, clip, fixed)
    return image.map_blocks(_interpolate_block, fitted, (0,) * image.ndim, threads, dtype=image.dtype)


def _fixed_bins(image, info, mask, spec, lazy):
    """(spec with the bins fixed, whether any pixel is counted).  A data range becomes the counted finite range
    of the whole image, found first as the in-memory kernel does.  The kernel rescales an image with no counted
    pixel (floats, masks, data ranges); the count is taken in those cases only."""
    import dataclasses

    if not (spec.data_range or info.is_float or mask is not None):
        return spec, True
    vmin, vmax, count = (_dask.finite_range if lazy else finite_range)(image, mask)
    if not count or not spec.data_range:
        return spec if not spec.data_range else dataclasses.replace(
            spec, data_range=False, lo=info.lo, hi=info.hi
        ), bool(count)
    lo, hi = bin_range(vmin, vmax, info)
    return dataclasses.replace(spec, data_range=False, lo=lo, hi=hi), True


@functools.lru_cache(maxsize=32)
def axis_plans(shape: tuple, tiles: tuple, value_bits: int | None):
    plans = [_axis_plan(n, t, value_bits, len(tiles)) for n, t in zip(shape, tiles)]
    denominator = 1.0 if value_bits is None else float(math.prod(plan[4] for plan in plans))
    return plans, denominator


def _tile_histograms(block, block_mask, origin, shape, grid, info, spec):
    """{tile: counts} over the tiles that the chunk at ``origin`` overlaps (a pixel on a tile boundary counts in
    both tiles), from the whole image's tile bounds."""
    plans, _ = axis_plans(tuple(shape), tuple(grid), None)
    ranges = []
    for d, (plan, t) in enumerate(zip(plans, grid)):
        start, stop = plan[0][:t], plan[0][t:]
        ranges.append([k for k in range(t) if start[k] < origin[d] + block.shape[d] and stop[k] > origin[d]])
    found = {}
    for ks in itertools.product(*ranges):
        window = tuple(
            slice(
                max(int(plans[d][0][k]), origin[d]) - origin[d],
                min(int(plans[d][0][grid[d] + k]), origin[d] + block.shape[d]) - origin[d],
            )
            for d, k in enumerate(ks)
        )
        flat = np.ascontiguousarray(block[window], dtype=info.compute).reshape(1, -1)
        flat_mask = None if block_mask is None else np.ascontiguousarray(block_mask[window]).reshape(1, -1)
        counts = np.zeros((1, spec.nbins), dtype=np.int64)
        core.histogram(
            flat, flat_mask, counts, np.empty((1, 3)), histogram_bins(spec.nbins, spec.lo, spec.hi), threads=1
        )
        found[int(np.ravel_multi_index(ks, grid))] = counts[0]
    return found


def _require_fitted_tables(info, shape, grid, nbins) -> None:
    """Fitted tile mappings keep every tile's histogram and table over all the bins (no windows, unlike
    clahe's): refused when no sane call needs that much."""
    table_bytes = 16 * (nbins + 1) if info.is_float else np.dtype(info.compute).itemsize * nbins
    require_tables(
        math.prod(grid) * (8 * nbins + table_bytes),
        math.prod(shape) * info.dtype.itemsize,
        f"fitted CLAHE mappings of {math.prod(grid)} tiles over {nbins} bins",
    )


def _mapping_of_tiles(parts, info, shape, grid, clip, spec, rescale=False) -> ClaheMapping:
    """The ClaheMapping of the tiles' histograms, given as the chunks' {tile: counts}."""
    nbins = spec.nbins
    hists = np.zeros((math.prod(grid), nbins), dtype=np.int64)
    for part in parts:
        for tile, counts in part.items():
            hists[tile] += counts
    identity = np.zeros(len(hists), dtype=np.uint8)
    clip_limit = -1.0 if clip is None else clip
    if info.is_float:  # float64 levels and slopes
        table, slope = np.empty((len(hists), nbins + 1)), np.empty((len(hists), nbins + 1))
        core.clahe_float_maps(hists, identity, table, slope, spec.core, clip_limit, info.clip_groups)
    else:  # tables of the image's levels
        table, slope = np.empty((len(hists), nbins), dtype=info.compute), np.empty((0, 0))
        core.clahe_tables(hists, identity, table, spec.core, clip_limit, info.clip_groups)
    return ClaheMapping(
        str(info.dtype),
        tuple(int(n) for n in shape),
        tuple(int(t) for t in grid),
        int(nbins),
        float(spec.lo),
        float(spec.hi),
        float(spec.nominal_lo),
        float(spec.nominal_hi),
        float(spec.out_lo),
        float(spec.out_hi),
        identity,
        table,
        slope,
        rescale,
    )


def _interpolate_block(block, fitted, offset, threads, block_info=None):
    location = [(a + o, b + o) for (a, b), o in zip(block_info[0]["array-location"], offset)]
    return fitted._interpolate(block, location, threads)


@dataclasses.dataclass(frozen=True, eq=False)
class ClaheMapping:
    """The tile mappings of a CLAHE, fitted on one image, to apply to it or to patches of it (any position).

    Build it with :func:`fit_clahe`; save it with :meth:`save` (a ``.npz``
    file, no pickle) and read it back with :meth:`load`.

    Examples
    --------
    >>> import numpy as np, histeq
    >>> scene = np.random.default_rng(2).integers(0, 3000, (120, 160), dtype=np.uint16)
    >>> fitted = histeq.fit_clahe(scene, tiles=4)
    >>> patch = fitted.apply(scene[40:80, 100:150], offset=(40, 100))
    >>> np.array_equal(patch, histeq.clahe(scene, tiles=4)[40:80, 100:150])
    True
    """

    dtype: str
    shape: tuple
    tiles: tuple
    nbins: int
    lo: float
    hi: float
    nominal_lo: float
    nominal_hi: float
    out_lo: float
    out_hi: float
    identity: np.ndarray = dataclasses.field(repr=False)
    table: np.ndarray = dataclasses.field(repr=False)
    slope: np.ndarray = dataclasses.field(repr=False)
    rescale: bool = False  # no pixel was counted: the identity rescale, as clahe does

    @_validate.public
    def apply(self, image: Image, *, offset: Sequence[int] | None = None, threads: int | None = None) -> Image:
        """The CLAHE result of ``image``, a patch of the fitted image (same dtype and number of axes; NumPy or
        Dask) whose first pixel sits at ``offset`` (default: the origin) in the fitted image."""
        ndim = len(self.shape)
        offset = tuple(int(o) for o in (offset if offset is not None else (0,) * ndim))
        if len(offset) != ndim or np.ndim(image) != ndim:
            raise ValueError(
                f"this mapping was fitted on a {ndim}-D image; got a {np.ndim(image)}-D patch and offset {offset}"
            )
        if any(o < 0 or o + n > m for o, n, m in zip(offset, np.shape(image), self.shape)):
            raise ValueError(
                f"a patch of shape {np.shape(image)} at {offset} lies outside the fitted image {self.shape}"
            )
        if dtype_info(image.dtype).dtype != np.dtype(self.dtype):  # any byte order
            raise TypeError(f"this mapping was fitted on {self.dtype} images, got {image.dtype}")
        if _dask.is_dask(image):
            return image.map_blocks(_interpolate_block, self, offset, threads, dtype=image.dtype)
        arr, _ = _validate.image(image)
        return self._interpolate(arr, [(o, o + n) for o, n in zip(offset, arr.shape)], threads)

    def _interpolate(self, block, location, threads):
        info = dtype_info(np.dtype(self.dtype))
        if self.rescale:
            return mapping.apply_rescale(block, self, info, resolve_threads(threads))
        plans, denominator = axis_plans(self.shape, self.tiles, output_bits(info, self.out_lo, self.out_hi))
        flat = np.ascontiguousarray(block, dtype=info.compute).reshape(1, -1)
        out = np.empty_like(flat)
        lut, level, slope = (None, self.table, self.slope) if info.is_float else (self.table, None, None)
        chunk_plan = core.TilePlan(
            np.array(block.shape, dtype=np.int64),
            np.array(self.tiles, dtype=np.int64),
            None,
            *(np.concatenate([plan[part][a:b] for plan, (a, b) in zip(plans, location)]) for part in (1, 2, 3)),
            denominator,
        )
        spec = Spec(self.nbins, False, self.lo, self.hi, self.nominal_lo, self.nominal_hi, self.out_lo, self.out_hi)
        core.clahe_chunk(
            flat, out, chunk_plan, spec.core, self.identity, lut, level, slope, threads=resolve_threads(threads)
        )
        return out.reshape(block.shape).astype(info.dtype, copy=False)

    def save(self, path) -> None:
        """Write the mapping to a ``.npz`` file (arrays and a JSON header; no pickle)."""
        import json

        from .io import atomic_writer

        header = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("identity", "table", "slope")
        }
        with atomic_writer(path) as f:
            np.savez(f, header=np.array(json.dumps(header)), identity=self.identity, table=self.table, slope=self.slope)

    @classmethod
    def load(cls, path) -> ClaheMapping:
        """Read a mapping written by :meth:`save`: every field checked against the arrays the file holds (a
        ValueError names what is wrong)."""
        from . import _mapping_file

        fields = tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("identity", "table", "slope"))
        checked = _mapping_file.read(path, fields, ("identity", "table", "slope"))
        info = checked.dtype()
        # An axis's interpolation plan takes about 40 bytes per pixel along it: 2**24 pixels is 640 MiB.
        shape = checked.ints("shape", 1, 1 << 24, MAX_AXES)
        tiles = checked.ints("tiles", 1, 1 << 24, MAX_AXES)
        if len(tiles) != len(shape) or any(t > n for t, n in zip(tiles, shape)):
            checked.fail("tiles", f"must hold one count per axis of {shape}, each at most its length")
        nbins = checked.number("nbins", integer=True, low=1, high=1 << 24)
        for low, high in (("lo", "hi"), ("nominal_lo", "nominal_hi"), ("out_lo", "out_hi")):
            checked.range(low, high)
        if not isinstance(checked.header["rescale"], bool):
            checked.fail("rescale", f"must be true or false, got {checked.header['rescale']!r}")
        ntiles = math.prod(tiles)  # the arrays must hold as many: their size bounds it
        identity = checked.array("identity", (ntiles,), "u")
        if identity.size and identity.max() > 1:
            checked.fail("identity", "must hold 0 or 1")
        if info.is_float and not checked.header["rescale"]:  # rescale: nothing was counted, no tables
            checked.array("table", (ntiles, nbins + 1), "f")
            checked.array("slope", (ntiles, nbins + 1), "f")
        elif not checked.header["rescale"]:
            table = checked.array("table", (ntiles, nbins), "iu")
            if table.dtype != info.compute:
                checked.fail("table", f"must be {info.compute}, got {table.dtype}")
        header = dict(checked.header, shape=shape, tiles=tiles)
        return cls(identity=identity, table=checked.arrays["table"], slope=checked.arrays["slope"], **header)


@_validate.public(returns_image=False)
def fit_clahe(
    image: ArrayLike,
    *,
    tiles: int | Sequence[int] = 8,
    clip_limit: float | None = 2.0,
    nbins: int | None = None,
    mask: ArrayLike = None,
    in_range: Range = None,
    out_range: Range = None,
    threads: int | None = None,
) -> ClaheMapping:
    """Learn the tile mappings of CLAHE on one grey image (NumPy or Dask), to apply them to patches.

    ``fit_clahe(x, **kw).apply(x)`` equals ``histeq.clahe(x, **kw)`` bit for
    bit, and ``.apply(x[patch], offset=corner)`` equals that patch of it: fit
    on a whole scene, then enhance tiles of it one at a time.  The arguments
    mean what they mean in :func:`histeq.clahe`; the whole array is one image.

    Returns
    -------
    ClaheMapping

    Examples
    --------
    >>> import numpy as np, histeq
    >>> scene = np.random.default_rng(3).integers(0, 200, (64, 96), dtype=np.uint8)
    >>> fitted = histeq.fit_clahe(scene, tiles=(2, 3))
    >>> np.array_equal(fitted.apply(scene), histeq.clahe(scene, tiles=(2, 3)))
    True
    """
    lazy = _dask.is_dask(image)
    arr, info, m = _dask.one_image(image, mask)
    grid = tile_counts(tiles, tuple(arr.shape))
    if arr.ndim > MAX_AXES:  # fitted mappings keep every axis
        raise ValueError(f"fit_clahe takes at most {MAX_AXES} axes, got {arr.ndim}")
    clip = checked_clip_limit(clip_limit)
    spec = make_spec(
        info,
        _validate.nbins(nbins),
        _validate.value_range(in_range, info, "in_range"),
        _validate.value_range(out_range, info, "out_range"),
    )
    _require_fitted_tables(info, arr.shape, grid, spec.nbins)
    spec, counted = _fixed_bins(arr, info, m, spec, lazy)
    if not counted:
        return _mapping_of_tiles([], info, arr.shape, grid, clip, spec, rescale=True)
    if lazy:
        import dask

        return dask.compute(_clahe_chunked_fit(arr, info, m, grid, clip, spec))[0]
    part = _tile_histograms(arr, m, (0,) * arr.ndim, arr.shape, grid, info, spec)
    return _mapping_of_tiles([part], info, arr.shape, grid, clip, spec)


def _clahe_chunked_fit(image, info, mask, grid, clip, spec):
    import dask
    import dask.array as da

    chunk_mask = None if mask is None else da.broadcast_to(da.asarray(mask), image.shape).rechunk(image.chunks)
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]) for c in image.chunks]
    blocks = image.to_delayed()
    masks = None if chunk_mask is None else chunk_mask.to_delayed()
    parts = [
        dask.delayed(_tile_histograms)(
            blocks[index],
            None if masks is None else masks[index],
            tuple(int(starts[d][i]) for d, i in enumerate(index)),
            image.shape,
            grid,
            info,
            spec,
        )
        for index in np.ndindex(*blocks.shape)
    ]
    return dask.delayed(_mapping_of_tiles)(parts, info, image.shape, grid, clip, spec)
