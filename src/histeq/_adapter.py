"""The array adapter: every array type a public function takes, in as the backends take it and back out.

``_dispatch.call`` hands a call's arguments to :func:`enter` before it builds the request, and the backend's
result to :meth:`Crossing.leave`.  Each conversion here is undone on the way out, so that the result comes back
as the image came in:

- PyTorch tensors, xarray DataArrays, CuPy arrays and DLPack objects (``_arrays``).
- A masked array (``numpy.ma``) is taken as its data, its mask as ``mask``: a pixel feeds the histogram only
  where it is unmasked (in every channel, with ``channel_axis``) and ``mask`` (when given) is True.  The result
  is a masked array with the input's mask; every pixel is transformed, as with ``mask``.  ``reference``
  (match) likewise, its mask as ``reference_mask``.
- A 64-bit integer image is computed as 32-bit integers (see :func:`histeq._checks.narrowed`) and its result
  given back in the 64-bit dtype.
- ``channel_order='bgr'``: BGR(A) is computed as RGB(A) and the result put back in BGR order.

An error on an array whose last axis holds 3 or 4 entries, without ``channel_axis``, says how to pass a colour
image (it is never guessed from the shape): :func:`explained`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from histeq import _arrays, _checks

#: The arguments of public functions that hold arrays (the image first).
_ARRAYS = ("image", "mask", "reference", "reference_mask", "histogram")


@dataclasses.dataclass
class Crossing:
    """How one call's image came in, so that its result can leave alike."""

    door: _arrays.Door
    hidden: np.ndarray | None = None  # a masked image's own mask
    computed: np.dtype | None = None  # the dtype a 64-bit integer image was computed in
    wide: np.dtype | None = None  # that image's own dtype
    order: tuple[int, list[int]] | None = None  # (channel axis, permutation) of a BGR(A) image

    def leave(self, result: Any, image: bool) -> Any:
        """``result`` as the image came in; ``image``: whether it (of a tuple, its first entry) is an image,
        which keeps the input's dtype, channel order, mask and type (histograms keep only the type)."""
        if not image:
            return self.door.leave(result, False)
        if self.wide is not None and self.computed is not None:
            result = _checks.widened(result, self.computed, self.wide)
        if self.order is not None:
            result = _first(result, lambda out: _reordered(out, self.order))
        if self.hidden is not None:
            result = _first(result, lambda out: _remasked(out, self.hidden))
        return self.door.leave(result)


def enter(operation: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], Crossing | None]:
    """``arguments`` with every array as the backends take it (a NumPy or Dask array), and how to give the
    result back; (``arguments``, None) when there is nothing to convert, the common case, at little cost."""
    if (
        _plain(arguments["image"])
        and _plain(arguments.get("reference"))
        and arguments.get("channel_order", "rgb") == "rgb"
    ):
        return arguments, None
    arguments = dict(arguments)
    crossing = Crossing(_arrays.Door(operation))
    if any(_arrays.is_foreign(arguments.get(name)) for name in _ARRAYS):
        for name in _ARRAYS:
            if arguments.get(name) is not None:
                arguments[name] = crossing.door.enter(arguments[name], name)
        crossing.door.names(arguments)
        if arguments.get("kernel_size") is not None and arguments.get("spacing") is None:
            arguments["spacing"] = _coordinate_spacing(arguments, crossing.door)
        if (
            _plain(arguments["image"])
            and _plain(arguments.get("reference"))
            and arguments.get("channel_order") == "rgb"
        ):
            return arguments, crossing  # a tensor or DataArray of a plain array: only the type to give back
    image, crossing.hidden = _unmasked(arguments, "image", "mask")
    if "reference" in arguments:
        arguments["reference"], _ = _unmasked(arguments, "reference", "reference_mask")
    image, crossing.wide = _checks.narrowed(image)
    crossing.computed = image.dtype
    crossing.order = _channel_order(arguments)
    if crossing.order is not None:
        image = _reordered(image, crossing.order)
        reference = _reordered_like(arguments.get("reference"), image, crossing.order)
        if reference is not None:
            arguments["reference"] = reference
    arguments["image"] = image
    return arguments, crossing


_Apply = TypeVar("_Apply", bound=Callable[..., Any])


def adapted(apply: _Apply) -> _Apply:
    """The adapter around a fitted mapping's ``apply(self, image, **keywords)``: the image in and its result
    out as for the public functions."""

    @functools.wraps(apply)
    def adapted_apply(self: object, image: object, **keywords: Any) -> Any:
        arguments, crossing = enter(apply.__qualname__, {"image": image, **keywords})
        try:
            result = apply(self, **arguments)
        except (TypeError, ValueError) as exc:
            told = explained(exc, arguments, crossing)
            if told is exc:
                raise
            raise told from exc
        return result if crossing is None else crossing.leave(result, True)

    return adapted_apply  # type: ignore[return-value]


def explained(exc: Exception, arguments: dict[str, Any], crossing: Crossing | None) -> Exception:
    """A backend's error in the caller's terms: the 64-bit dtype the caller passed where it names the dtype
    computed in, and how to pass a colour image where the image looks like one; ``exc`` itself otherwise."""
    if crossing is not None and crossing.wide is not None:
        exc = _in_callers_dtype(exc, crossing.computed, crossing.wide)
    image, channel = arguments["image"], arguments.get("channel_axis")
    if (
        type(exc) in (TypeError, ValueError)
        and "channel_axis" in arguments
        and channel is None
        and np.ndim(image) >= 2
        and np.shape(image)[-1] in (3, 4)
    ):
        return type(exc)(
            f"{exc} (the last axis has {np.shape(image)[-1]} entries: pass channel_axis=-1 for a colour image)"
        )
    return exc


def _coordinate_spacing(arguments: dict[str, Any], door: _arrays.Door) -> tuple[float, ...] | None:
    """A DataArray's pixel size along its spatial dimensions, from their coordinates (None: it has none), in
    which CLAHE's ``kernel_size`` is then given (``fit_clahe``: every dimension is spatial)."""
    ndim = len(arguments["image"].shape)
    if "axes" not in arguments:
        return door.steps(tuple(range(ndim)))
    channel = _checks.channel_axis(arguments.get("channel_axis"), ndim)
    return door.steps(_checks.spatial_axes(arguments.get("axes"), ndim, channel))


def _plain(value: object) -> bool:
    """Whether an image or reference needs no conversion: absent, or an ndarray, not of 64-bit integers."""
    if value is None:
        return True
    return type(value) is np.ndarray and not (value.dtype.kind in "iu" and value.dtype.itemsize == 8)


def _first(result: Any, convert: Any) -> Any:
    """``convert`` applied to the image of a result (of a tuple, its first entry)."""
    if isinstance(result, tuple):
        return (convert(result[0]),) + result[1:]
    return convert(result)


def _channel_order(arguments: dict[str, Any]) -> tuple[int, list[int]] | None:
    """``channel_order`` checked: None for RGB(A), else (channel axis, the permutation that turns BGR(A) into
    RGB(A) and back); the argument is then reset to "rgb", as the backends compute in RGB order."""
    order = arguments.get("channel_order", "rgb")
    if order == "rgb":
        return None
    if order != "bgr":
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {order!r}")
    arguments["channel_order"] = "rgb"
    image, channel = arguments["image"], arguments.get("channel_axis")
    if channel is None:
        raise ValueError("channel_order='bgr' needs channel_axis (the axis holding the colour channels)")
    axis = _checks.channel_axis(channel, np.ndim(image))
    assert axis is not None
    count = np.shape(image)[axis]
    if count not in (3, 4):
        raise ValueError(f"channel_order='bgr' needs 3 (BGR) or 4 (BGRA) channels; axis {axis} has {count}")
    return axis, [2, 1, 0, 3][:count]


def _reordered(array: Any, order: tuple[int, list[int]]) -> Any:
    """BGR(A) to RGB(A) along the channel axis (or back: the permutation is its own inverse)."""
    axis, permutation = order
    return np.take(array, permutation, axis=axis)


def _reordered_like(reference: Any, image: Any, order: tuple[int, list[int]]) -> Any:
    """A colour reference in the image's channel order, as RGB(A); None for a grey one."""
    if reference is None or isinstance(reference, str):
        return None
    axis, permutation = order
    ref_axis = axis - np.ndim(image) + np.ndim(reference)
    if ref_axis < 0 or np.shape(reference)[ref_axis] != len(permutation):
        return None
    return np.take(reference, permutation, axis=ref_axis)


def _in_callers_dtype(exc: Exception, narrow: np.dtype | None, wide: np.dtype) -> Exception:
    """``exc``, naming the 64-bit dtype the caller passed where it says what it got (a refusal of int64 that said
    "got int32" would name a dtype the caller never used); the 32-bit range it is computed in keeps its name."""
    text = re.sub(rf"\b(got|for) {np.dtype(narrow)}\b", rf"\1 {np.dtype(wide)}", str(exc))
    return exc if text == str(exc) else type(exc)(text)


def _unmasked(arguments: dict[str, Any], name: str, mask_name: str) -> tuple[Any, np.ndarray | None]:
    """(plain array, its numpy.ma mask or None) of ``arguments[name]``; the mask joins ``arguments[mask_name]``
    where the function takes one."""
    value = arguments[name]
    if not isinstance(value, np.ma.MaskedArray):
        return value, None
    hidden = np.ma.getmaskarray(value)
    data = np.ma.getdata(value)
    counted: Any = ~hidden  # NumPy's stubs type these reductions differently from one release to the next
    channel = arguments.get("channel_axis")
    if channel is not None and name == "image":
        counted = counted.all(axis=_checks.channel_axis(channel, data.ndim))
    explicit = arguments.get(mask_name)
    if explicit is not None:
        counted = counted & _checks.mask(explicit, counted.shape)
    if mask_name in arguments:
        arguments[mask_name] = counted
    return data, hidden


def _remasked(result: Any, hidden: np.ndarray) -> Any:
    """A result for a masked image: a masked array with the input's mask."""
    return np.ma.masked_array(result, mask=hidden.copy()) if isinstance(result, np.ndarray) else result
