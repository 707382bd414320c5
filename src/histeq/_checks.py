"""Argument checks shared by every backend.

Each check runs once, up front, and its message says what was received and
what was expected.  Nothing here copies pixel data except to give the kernels
a native-byte-order array.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from histeq import _arrays
from histeq._kernels import MAX_NBINS, DtypeInfo, dtype_info

COLOR_MODES = ("lightness", "luma", "value", "per-channel")
COMPAT_MODES = ("opencv", "pillow", "skimage")


#: 64-bit integers are computed as the 32-bit integers of the same signedness (NumPy's default integer).
_NARROW = {np.dtype(np.int64): np.dtype(np.int32), np.dtype(np.uint64): np.dtype(np.uint32)}


def as_array(image: object, name: str = "image") -> np.ndarray:
    """``image`` as an ndarray (lists and nested sequences too), or a TypeError."""
    if isinstance(image, np.ndarray):
        return image
    try:
        return np.asarray(image)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array, got {type(image).__name__}: {exc}") from exc


def narrowed(image: object, name: str = "image"):
    """(image, None), or for a 64-bit integer image (NumPy, Dask, or a sequence of Python ints) the same values
    as 32-bit integers and the 64-bit dtype.  The values must fit: a ValueError says so otherwise (for Dask,
    when the block is computed)."""
    if not _arrays.is_dask(image):
        image = as_array(image, name)
    dtype = image.dtype
    if dtype.kind not in "iu" or dtype.itemsize != 8:  # the common case, at once
        return image, None
    narrow = _NARROW[np.dtype(dtype).newbyteorder("=")]
    if _arrays.is_dask(image):
        return image.map_blocks(_narrow_block, narrow, name, dtype=narrow), np.dtype(image.dtype)
    return _narrow_block(image, narrow, name), image.dtype


def _narrow_block(block: np.ndarray, narrow: np.dtype, name: str) -> np.ndarray:
    if block.size:
        low, high = block.min(), block.max()
        limits = np.iinfo(narrow)
        if low < limits.min or high > limits.max:
            raise ValueError(
                f"{name} of dtype {block.dtype} holds values in [{low}, {high}]; 64-bit integer "
                f"images are computed as {narrow} and must lie in [{limits.min}, {limits.max}]: "
                "shift or scale them, or convert to float64"
            )
    return block.astype(narrow)


def widened(result, narrow: np.dtype, wide: np.dtype | None):
    """A function's result for a 64-bit image computed as ``narrow``: its images back in the 64-bit dtype."""
    if wide is None:
        return result
    if isinstance(result, tuple):
        return (widened(result[0], narrow, wide),) + result[1:]
    is_array = isinstance(result, np.ndarray) or _arrays.is_dask(result)
    return result.astype(wide) if is_array and result.dtype == narrow else result


def image(image: object, name: str = "image") -> tuple[np.ndarray, DtypeInfo]:
    """The image as a native-byte-order ndarray (a view when possible) and its dtype entry; 64-bit integers as
    32-bit ones (see narrowed)."""
    arr = as_array(image, name)
    if arr.dtype.kind in "OUSVMm":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    arr, _ = narrowed(arr, name)
    info = dtype_info(arr.dtype)
    if not arr.flags.aligned:  # a view at an odd byte offset: the kernels read whole, aligned values
        arr = arr.copy()
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a 0-d array")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); there is nothing to equalize")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr, info


def _axis(axis: object, ndim: int, name: str) -> int:
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, without the ABC check's cost
        return axis % ndim
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(axis).__name__}")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for an array with {ndim} dimensions")
    return axis % ndim


def channel_axis(axis: object, ndim: int) -> int | None:
    return None if axis is None else _axis(axis, ndim, "channel_axis")


def spatial_axes(axes: object, ndim: int, channel: int | None) -> tuple[int, ...]:
    """Normalized, sorted spatial axes; default: every axis but the channel axis."""
    if axes is None:
        result = tuple(a for a in range(ndim) if a != channel)
        if not result:
            raise ValueError("the image has no axis besides the channel axis")
        return result
    items = (axes,) if type(axes) is int or isinstance(axes, numbers.Integral) else axes
    try:
        items = tuple(items)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"axes must be an int or a sequence of ints, got {type(axes).__name__}") from None
    if not items:
        raise ValueError("axes must name at least one axis")
    result = tuple(_axis(a, ndim, "axes") for a in items)
    if len(set(result)) != len(result):
        raise ValueError(f"axes contains repeated axes: {axes}")
    if channel is not None and channel in result:
        raise ValueError(f"axes {axes} includes the channel axis {channel}")
    return tuple(sorted(result))


def mask(mask: object, shape: tuple[int, ...]) -> np.ndarray | None:
    """A boolean mask broadcast to ``shape`` (the image's shape without the channel axis)."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"mask must be a boolean array, got dtype {m.dtype}; use mask.astype(bool) or mask > 0")
    try:
        if np.broadcast_shapes(m.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"mask of shape {m.shape} does not match the image shape {shape} "
            "(the image's shape without the channel axis, or broadcastable to it)"
        ) from None
    return np.broadcast_to(m, shape)


def nbins(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"nbins must be an int, got {type(value).__name__}")
    if not 2 <= value <= MAX_NBINS:
        raise ValueError(f"nbins must be between 2 and {MAX_NBINS}, got {value}")
    return int(value)


def value_range(value: object, info: DtypeInfo, name: str) -> tuple[float, float] | None:
    """A (lo, hi) pair with lo < hi; for integer dtypes integral and inside the dtype's range."""
    if value is None:
        return None
    try:
        lo, hi = value  # type: ignore[misc]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (lo, hi), got {value!r}") from None
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{name} must hold two numbers, got {value!r}")
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {value!r}")
    lo, hi = float(lo), float(hi)
    if not lo < hi:
        raise ValueError(f"{name} must have lo < hi, got {value!r}")
    if not math.isfinite(hi - lo):
        raise ValueError(f"{name} {value!r} is too wide: hi - lo overflows float64")
    if not math.isfinite(1.0 / (hi - lo)):
        raise ValueError(f"{name} {value!r} is too narrow: 1 / (hi - lo) overflows float64")
    if info.is_float and name == "out_range" and max(abs(lo), abs(hi)) > float(np.finfo(info.dtype).max):
        raise ValueError(f"{name} {value!r} lies beyond what {info.dtype} holds (+-{np.finfo(info.dtype).max})")
    if not info.is_float:
        if lo != int(lo) or hi != int(hi):
            raise ValueError(f"{name} must hold integers for {info.dtype} images, got {value!r}")
        if lo < info.lo or hi > info.hi:
            raise ValueError(f"{name} {value!r} lies outside the {info.dtype} range [{info.lo:.0f}, {info.hi:.0f}]")
    return lo, hi


def choice(value: object, name: str, options: Sequence[str], allow_none: bool = True) -> str | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or value not in options:
        allowed = ", ".join(repr(o) for o in options) + (", None" if allow_none else "")
        raise ValueError(f"unknown {name} {value!r}; expected one of {allowed}")
    return value


class Call(NamedTuple):
    """The arguments every equalization function shares, checked; read by name (call.mask, call.nbins, ...)."""

    arr: np.ndarray
    info: DtypeInfo
    channel: int | None
    spatial: tuple[int, ...]
    mask: np.ndarray | None  # the image's shape without the channel axis
    nbins: int | None
    in_range: tuple[float, float] | None
    out_range: tuple[float, float] | None


def call(
    image_: object,
    mask_: object,
    nbins_: object,
    in_range: object,
    out_range: object,
    channel_axis_: object,
    axes: object,
) -> Call:
    arr, info = image(image_)
    channel = channel_axis(channel_axis_, arr.ndim)
    spatial = spatial_axes(axes, arr.ndim, channel)
    grey_shape = tuple(n for a, n in enumerate(arr.shape) if a != channel)
    return Call(
        arr,
        info,
        channel,
        spatial,
        mask(mask_, grey_shape),
        nbins(nbins_),
        value_range(in_range, info, "in_range"),
        value_range(out_range, info, "out_range"),
    )


def channel_mask(mask_: np.ndarray | None, channel: int | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """A grey mask repeated along the channel axis, for per-channel work on an image of ``shape``."""
    if mask_ is None or channel is None:
        return mask_
    return np.broadcast_to(np.expand_dims(mask_, channel), shape)
