"""CLAHE's tile geometry, shared by every backend: tile counts and clip limits checked, and the plan of tiles,
bounds and interpolation weights along each axis (see Notes of :func:`histeq.clahe`)."""

from __future__ import annotations

import atexit
import functools
import math
import numbers

import numpy as np

from histeq._kernels import EXACT_BITS, MAX_AXES, DtypeInfo, core


def output_bits(info: DtypeInfo, out_lo: float, out_hi: float) -> int | None:
    """Bits of the output levels, which bound the exact integer interpolation's weights (None: floats)."""
    return None if info.is_float else int(out_hi - out_lo).bit_length()


#: Tiles along each spatial axis when neither ``tiles`` nor ``kernel_size`` is given (scikit-image's default
#: ``kernel_size`` is an eighth of each axis likewise; OpenCV's ``tileGridSize`` is 8 x 8).
DEFAULT_TILES = 8
#: Relative slack of a physical region size against the voxels it spans: 20 um on 0.4 um voxels is 50 voxels,
#: though 20 / 0.4 is 50.000000000000004 in floating point.
_SLACK = 1e-9


def region_tiles(tiles: object, kernel_size: object, spacing: object, sizes: tuple[int, ...]) -> tuple[int, ...]:
    """The tile counts of a CLAHE call along axes of ``sizes``: ``tiles`` as given, or the fewest tiles that
    cut each axis into regions no longer than ``kernel_size`` (pixels, or units of ``spacing``), or the
    default.  At most one of ``tiles`` and ``kernel_size`` is given; ``spacing`` only with ``kernel_size``."""
    _one_way(tiles, kernel_size, spacing)
    if kernel_size is None:
        return tile_counts(DEFAULT_TILES if tiles is None else tiles, sizes)
    lengths = _per_axis(kernel_size, "kernel_size", len(sizes))
    steps = (1.0,) * len(sizes) if spacing is None else _per_axis(spacing, "spacing", len(sizes))
    counts = []
    for axis, (length, step, n) in enumerate(zip(lengths, steps, sizes)):
        pixels = length / step
        if pixels < 1 - _SLACK:
            raise ValueError(f"kernel_size {kernel_size!r} is under one pixel along axis {axis} ({pixels:g} pixels)")
        if pixels > n * (1 + _SLACK):
            physical = "" if spacing is None else f" ({length:g} against {n * step:g} units of spacing)"
            raise ValueError(
                f"kernel_size {kernel_size!r} is larger than the image along axis {axis}: {pixels:g} pixels "
                f"against {n}{physical}; the spatial axes have sizes {sizes}"
            )
        counts.append(max(1, math.ceil(n / pixels * (1 - _SLACK))))
    return tuple(counts)


def _one_way(tiles: object, kernel_size: object, spacing: object) -> None:
    """At most one of ``tiles`` and ``kernel_size``; ``spacing`` only with ``kernel_size``."""
    if kernel_size is None and spacing is not None:
        raise ValueError("spacing gives the units of kernel_size; it needs kernel_size= (tiles are counts)")
    if kernel_size is not None and tiles is not None:
        raise ValueError(
            f"give the contextual regions either as tiles (a count per axis) or as kernel_size (a size per axis), "
            f"not both; got tiles={tiles!r} and kernel_size={kernel_size!r}"
        )


def checked_regions(tiles: object, kernel_size: object, spacing: object) -> None:
    """The rules of :func:`region_tiles` that need no image (a transform's, when it is made): one way of giving
    the regions, sizes that are positive numbers."""
    _one_way(tiles, kernel_size, spacing)
    for value, name in ((kernel_size, "kernel_size"), (spacing, "spacing")):
        if value is not None:
            _per_axis(value, name, None)


def fitted_regions(tiles: object, kernel_size: object, spacing: object, sizes: tuple[int, ...]) -> object:
    """The tile counts of a transform's call on an image of ``sizes``: :func:`region_tiles`'s, with each count
    or region at most the image (:func:`fitted`: small crops and thin volumes get fewer, larger tiles rather
    than an error)."""
    if kernel_size is None:
        return fitted(DEFAULT_TILES if tiles is None else tiles, sizes)
    steps = (1.0,) * len(sizes) if spacing is None else _per_axis(spacing, "spacing", len(sizes))
    lengths = _per_axis(kernel_size, "kernel_size", len(sizes))
    return region_tiles(None, tuple(min(k, n * s) for k, n, s in zip(lengths, sizes, steps)), steps, sizes)


def _per_axis(value: object, name: str, count: int | None) -> tuple[float, ...]:
    """One positive finite number per axis, from one number or a sequence of them (``count`` None: any
    number of them)."""
    items = (value,) * (count or 1) if isinstance(value, numbers.Real) else value
    if isinstance(items, (str, bytes)):
        items = None  # not a sequence of numbers, which tuple() would make of "16"
    try:
        items = tuple(items)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be a number or a sequence of numbers, got {type(value).__name__}") from None
    if count is not None and len(items) != count:
        raise ValueError(f"{name} {value!r} needs one number per spatial axis ({count} axes)")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            raise TypeError(f"{name} must hold numbers, got {value!r}")
        if not (math.isfinite(item) and item > 0):
            raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return tuple(float(item) for item in items)


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


def fitted(tiles: object, sizes: tuple[int, ...]) -> object:
    """Tile counts at most each axis's length, so that small crops and thin volumes work (the transforms' and
    adapters' rule).  One count that fits is given back as it is (the one-step paths take an int); anything but
    counts as it is, for :func:`tile_counts` to refuse with the value given (``int()`` here would truncate 2.5)."""
    counts = (tiles,) * len(sizes) if _is_count(tiles) else tiles
    try:
        counts = tuple(counts)  # type: ignore[arg-type]
    except TypeError:
        return tiles
    if len(counts) != len(sizes) or not all(_is_count(count) for count in counts):
        return tiles
    if _is_count(tiles) and tiles <= min(sizes):  # type: ignore[operator]
        return tiles
    return tuple(min(int(count), size) for count, size in zip(counts, sizes))


def _is_count(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


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
        budget = (EXACT_BITS - value_bits) // ndim
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
def kernel_plan(shape: tuple, tiles: tuple, value_bits: int | None) -> core.TilePlan:
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


@functools.lru_cache(maxsize=32)
def axis_plans(shape: tuple, tiles: tuple, value_bits: int | None):
    plans = [_axis_plan(n, t, value_bits, len(tiles)) for n, t in zip(shape, tiles)]
    denominator = 1.0 if value_bits is None else float(math.prod(plan[4] for plan in plans))
    return plans, denominator


@atexit.register
def _release_kept_plans() -> None:
    """The kept plans are bound objects: released before the interpreter tears the extension down, which would
    otherwise report them as leaked."""
    kernel_plan.cache_clear()
