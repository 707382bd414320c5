"""Argument checks shared by the public functions.

Each check runs once, up front, and its message says what was received and
what was expected.  Nothing here copies pixel data except to give the kernels
a native-byte-order array.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import re
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple, TypeVar

import numpy as np

from . import _arrays, _gpu
from ._kernels import MAX_NBINS, DtypeInfo, dtype_info

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
    from . import dask as _dask

    if not _dask.is_dask(image):
        image = as_array(image, name)
    dtype = image.dtype
    if dtype.kind not in "iu" or dtype.itemsize != 8:  # the common case, at once
        return image, None
    narrow = _NARROW[np.dtype(dtype).newbyteorder("=")]
    if _dask.is_dask(image):
        return image.map_blocks(_narrow_block, narrow, name, dtype=narrow), np.dtype(image.dtype)
    return _narrow_block(image, narrow, name), image.dtype


def public(func: _F | None = None, *, returns_image: bool = True):
    """The input conventions every public function (or ``apply`` method) shares, around its ``image``.

    ``returns_image``: whether the function's result (of a tuple, its first entry) is an image, given back as
    the image came in (its type, dimensions, mask, channel order and 64-bit dtype); otherwise (histograms) only
    the array type crosses back.  Used as ``@public`` or ``@public(returns_image=False)``.

    - A 64-bit integer image is computed as 32-bit integers (see narrowed) and its result given back in the
      64-bit dtype.
    - An error on an array whose last axis holds 3 or 4 entries, without ``channel_axis``, says how to pass a
      colour image (it is never guessed from the shape).
    - A masked array (``numpy.ma``) is taken as its data, its mask as ``mask``: a pixel feeds the histogram
      only where it is unmasked (in every channel, with ``channel_axis``) and ``mask`` (when given) is True.
      The result is a masked array with the input's mask; every pixel is transformed, as with ``mask``.
      ``reference`` (match) likewise, its mask as ``reference_mask``.
    - PyTorch tensors, xarray DataArrays, CuPy arrays and DLPack objects cross at this door (``_arrays``): the
      result comes back in the image's type.
    """
    if func is None:
        return functools.partial(public, returns_image=returns_image)
    signature = inspect.signature(func)
    names = list(signature.parameters)
    position = names.index("image")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        door = None
        if len(args) > position and type(args[position]) is not np.ndarray and _arrays.on_gpu(args[position]):
            return _gpu.call(func, args[position], args[position + 1 :], kwargs)
        if len(args) > position and type(args[position]) is not np.ndarray and _arrays.is_foreign(args[position]):
            door = _arrays.Door(func.__qualname__)  # a tensor, DataArray, ...: converted without binding
            args = tuple(door.enter(value, names[k]) if names[k] in _ARRAYS else value for k, value in enumerate(args))
            kwargs = {name: door.enter(value, name) if name in _ARRAYS else value for name, value in kwargs.items()}
            door.names(kwargs)
        if (
            len(args) > position
            and _plain(args[position])
            and _plain(kwargs.get("reference"), args[1:2])
            and "channel_order" not in kwargs
        ):
            try:
                result = func(*args, **kwargs)  # the common case, at no cost: nothing to convert
                return result if door is None else door.leave(result, returns_image)
            except (TypeError, ValueError) as exc:
                hinted = _colour_hint(exc, args[position], kwargs.get("channel_axis"), signature)
                if hinted is None:
                    raise
                raise hinted from exc
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return func(*args, **kwargs)  # let the call itself report the bad arguments
        arguments = bound.arguments
        if "image" not in arguments:
            return func(*args, **kwargs)
        door = door or _arrays.Door(func.__qualname__)
        if any(_arrays.is_foreign(arguments.get(name)) for name in _ARRAYS):  # the image given by keyword
            for name in _ARRAYS:
                if name in arguments:
                    arguments[name] = door.enter(arguments[name], name)
            door.names(arguments)
        image, hidden = _unmasked(arguments, signature, "image", "mask")
        if "reference" in arguments:
            arguments["reference"], _ = _unmasked(arguments, signature, "reference", "reference_mask")
        image, wide = narrowed(image)
        order = _channel_order(arguments)
        if order is not None:  # BGR(A): computed as RGB(A), the result put back in BGR order
            image = _reordered(image, order)
            reference = _reordered_like(arguments.get("reference"), image, order)
            if reference is not None:
                arguments["reference"] = reference
        arguments["image"] = image
        try:
            result = func(*bound.args, **bound.kwargs)
        except (TypeError, ValueError) as exc:
            told = _in_callers_dtype(exc, image.dtype, wide)
            hinted = _colour_hint(told, image, arguments.get("channel_axis"), signature) or told
            if hinted is exc:
                raise
            raise hinted from exc
        if not returns_image:
            return door.leave(result, False)
        result = widened(result, image.dtype, wide)
        if order is not None:
            result = _reordered_result(result, order)
        return door.leave(result if hidden is None else _remasked(result, hidden))

    return wrapper


_F = TypeVar("_F", bound=Callable[..., Any])

#: The arguments of public functions that hold arrays (the image first).
_ARRAYS = ("image", "mask", "reference", "reference_mask", "histogram")


def _plain(value, positional=()) -> bool:
    """Whether an image (or a reference: the keyword, else the second positional argument) needs none of the
    conversions of ``public``: an ndarray, not of 64-bit integers."""
    value = positional[0] if value is None and positional else value
    if value is None:
        return True
    return type(value) is np.ndarray and not (value.dtype.kind in "iu" and value.dtype.itemsize == 8)


def _channel_order(arguments: dict) -> tuple[int, list[int]] | None:
    """``channel_order`` checked: None for RGB(A), else (channel axis, the permutation that turns BGR(A) into
    RGB(A) and back); the argument is then reset to "rgb", as the function computes in RGB order."""
    order = arguments.get("channel_order", "rgb")
    if order == "rgb":
        return None
    if order != "bgr":
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {order!r}")
    arguments["channel_order"] = "rgb"
    image, channel = arguments["image"], arguments.get("channel_axis")
    if channel is None:
        raise ValueError("channel_order='bgr' needs channel_axis (the axis holding the colour channels)")
    axis = channel_axis(channel, np.ndim(image))
    count = np.shape(image)[axis]
    if count not in (3, 4):
        raise ValueError(f"channel_order='bgr' needs 3 (BGR) or 4 (BGRA) channels; axis {axis} has {count}")
    return axis, [2, 1, 0, 3][:count]


def _reordered(array, order: tuple[int, list[int]]):
    """BGR(A) to RGB(A) along the channel axis (or back: the permutation is its own inverse)."""
    axis, permutation = order
    return np.take(array, permutation, axis=axis)


def _reordered_like(reference, image, order: tuple[int, list[int]]):
    """A colour reference in the image's channel order, as RGB(A); None for a grey one."""
    if reference is None or isinstance(reference, str):
        return None
    axis, permutation = order
    ref_axis = axis - np.ndim(image) + np.ndim(reference)
    if ref_axis < 0 or np.shape(reference)[ref_axis] != len(permutation):
        return None
    return np.take(reference, permutation, axis=ref_axis)


def _reordered_result(result, order: tuple[int, list[int]]):
    if isinstance(result, tuple):
        return (_reordered_result(result[0], order),) + result[1:]
    return _reordered(result, order)


def _in_callers_dtype(exc: Exception, narrow: np.dtype, wide: np.dtype | None) -> Exception:
    """``exc``, naming the 64-bit dtype the caller passed where it says what it got (a refusal of int64 that said
    "got int32" would name a dtype the caller never used); the 32-bit range it is computed in keeps its name."""
    if wide is None:
        return exc
    text = re.sub(rf"\b(got|for) {np.dtype(narrow)}\b", rf"\1 {np.dtype(wide)}", str(exc))
    return exc if text == str(exc) else type(exc)(text)


def _colour_hint(exc: Exception, image, channel, signature: inspect.Signature) -> Exception | None:
    """``exc`` again, saying how to pass a colour image, when the image's last axis holds 3 or 4 entries and
    the function takes a ``channel_axis`` that was not given; else None."""
    if (
        type(exc) in (TypeError, ValueError)
        and "channel_axis" in signature.parameters
        and channel is None
        and np.ndim(image) >= 2
        and np.shape(image)[-1] in (3, 4)
    ):
        return type(exc)(
            f"{exc} (the last axis has {np.shape(image)[-1]} entries: pass channel_axis=-1 for a colour image)"
        )
    return None


def _unmasked(arguments: dict, signature: inspect.Signature, name: str, mask_name: str):
    """(plain array, its numpy.ma mask or None) of ``arguments[name]``; the mask joins ``arguments[mask_name]``
    where the function takes one."""
    value = arguments[name]
    if not isinstance(value, np.ma.MaskedArray):
        return value, None
    hidden = np.ma.getmaskarray(value)
    data = np.ma.getdata(value)
    counted = ~hidden
    channel = arguments.get("channel_axis")
    if channel is not None and name == "image":
        counted = counted.all(axis=channel_axis(channel, data.ndim))
    explicit = arguments.get(mask_name)
    if explicit is not None:
        counted = counted & mask(explicit, counted.shape)
    if mask_name in signature.parameters:
        arguments[mask_name] = counted
    return data, hidden


def _remasked(result, hidden: np.ndarray):
    """A result for a masked image: its image as a masked array with the input's mask."""
    if isinstance(result, tuple):
        return (_remasked(result[0], hidden),) + result[1:]
    return np.ma.masked_array(result, mask=hidden.copy()) if isinstance(result, np.ndarray) else result


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
    from . import dask as _dask

    is_array = isinstance(result, np.ndarray) or _dask.is_dask(result)
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
    items = (axes,) if isinstance(axes, numbers.Integral) else axes
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
