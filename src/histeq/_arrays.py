"""Array types at the door: PyTorch tensors, xarray DataArrays, CuPy arrays and any DLPack object in, the caller's
type out.

Every public function takes its arrays through the array adapter (``_adapter``), which hands each array argument
to :meth:`Door.enter` and the result to :meth:`Door.leave`: the type is recognised once, the array crosses to NumPy (or
Dask) at the edge, and the result is rebuilt in the caller's type.  No module outside this one knows about
tensors or DataArrays; GPU tensors go to the GPU backend before any conversion (``_dispatch``), so that GPU
paths are added there, not in every function.

- **NumPy and Dask** arrays pass as they are (the common case costs one type check).
- **PyTorch** CPU tensors cross without a copy (``Tensor.numpy()`` is a view; the result comes back through
  ``torch.from_numpy``, also a view).  A tensor that requires grad is computed on ``.detach()``: equalization is
  a step function of the pixel values, whose gradient is zero almost everywhere, so no gradient is given.
  bfloat16 (which NumPy lacks) is computed in float32 and returned as bfloat16.  Subclasses such as
  ``torchvision.tv_tensors.Image`` come back as the same subclass.
- **xarray** DataArrays are computed on their data (NumPy or Dask: a Dask-backed one stays lazy); dimension
  names are accepted by ``axes`` and ``channel_axis``; a DataArray mask or reference is put in the image's
  dimension order by name; a result of the image's shape is a DataArray with its dims, coordinates, attributes
  and name.
- **Any object with** ``__dlpack__`` on the CPU is read by ``numpy.from_dlpack``; its result is a NumPy array
  (which is itself a DLPack producer: ``torch.from_dlpack(result)`` and the like take it without a copy), as the
  protocol gives no type to rebuild.
- **GPU arrays** (CUDA or other non-CPU tensors, CuPy arrays, DLPack objects on a device) get a TypeError naming
  the function, except the calls the GPU backend covers (``_dispatch`` sends CUDA tensors there first): histeq
  never copies to the host and back behind the caller's back.

PyTorch, xarray and CuPy are never imported here: an input can only be one of their types when its module is
already loaded.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

from histeq._kernels import SUPPORTED

#: DLPack device types (dlpack.h): only the CPU ones are read here.
_DLPACK_CPU = (1, 3)  # kDLCPU, kDLCUDAHost (page-locked host memory)


def _torch():
    return sys.modules.get("torch")


def _xarray():
    return sys.modules.get("xarray")


def gpu_error(function: str, what: str, coverage: str = "it computes on the CPU only") -> TypeError:
    """The refusal of a GPU input that has no GPU path (yet): histeq never copies to the host and back."""
    return TypeError(
        f"histeq.{function}: got {what}, but {coverage}, and histeq does not copy to the host and "
        "back for you: move the data to the CPU first (tensor.cpu(), cupy.asnumpy(array)) if that is "
        "what you want"
    )


def is_tensor(value: object) -> bool:
    """Whether ``value`` is a PyTorch tensor (on any device)."""
    torch = _torch()
    return torch is not None and isinstance(value, torch.Tensor)


def on_gpu(value: object) -> bool:
    """Whether ``value`` is a CUDA tensor (the GPU backend's input, see ``_dispatch``)."""
    torch = _torch()
    return torch is not None and isinstance(value, torch.Tensor) and value.device.type == "cuda"


def is_dask(value: object) -> bool:
    """Whether ``value`` is a Dask array, without importing Dask."""
    return type(value).__module__.split(".")[0] == "dask" and hasattr(value, "map_blocks")


def is_foreign(value: object) -> bool:
    """Whether ``value`` needs :func:`enter`: not an ndarray, a Dask array, a sequence or a scalar."""
    if value is None or isinstance(value, (np.ndarray, list, tuple, int, float, bool, np.generic)):
        return False
    torch, xarray = _torch(), _xarray()
    return (
        (torch is not None and isinstance(value, torch.Tensor))
        or (xarray is not None and isinstance(value, xarray.DataArray))
        or (hasattr(value, "__dlpack__") and not hasattr(value, "dask"))
        or hasattr(value, "__cuda_array_interface__")
    )


def _step(dim: str, values: np.ndarray) -> float:
    """The distance between neighbouring coordinates of one dimension, the same all along it."""
    if values.size < 2:
        raise ValueError(f"kernel_size: dimension {dim!r} has one coordinate, which gives no spacing; pass spacing=")
    steps = np.abs(np.diff(values))
    step = float(steps.mean())
    if not (np.isfinite(step) and step > 0 and np.allclose(steps, step, rtol=1e-6, atol=0)):
        raise ValueError(
            f"kernel_size: the coordinates of dimension {dim!r} are not evenly spaced, so they give no one pixel "
            "size; pass spacing="
        )
    return step


class Door:
    """How one call's image came in, so that its result can leave in the same type."""

    def __init__(self, function: str):
        self.function = function
        self.leave_as: Callable[[Any, bool], Any] | None = None
        self.dims: tuple | None = None  # the image's dimension names (xarray)
        self.coordinates: Any = None  # the image's coordinates (xarray)

    def enter(self, value: object, name: str) -> object:
        """``value``, the argument ``name``, as a NumPy (or Dask) array, or as it is when it is neither foreign
        nor an array; for the image, remember how to rebuild results."""
        if not is_foreign(value):
            return value
        torch, xarray = _torch(), _xarray()
        if torch is not None and isinstance(value, torch.Tensor):
            array, leave = self._from_torch(torch, value)
        elif xarray is not None and isinstance(value, xarray.DataArray):
            array, leave = self._from_xarray(value, name)
        else:
            array, leave = self._from_dlpack(value), None
        if name == "image":
            self.leave_as = leave
        return array

    def leave(self, result, image: bool = True):
        """The function's result in the image's type: every array of a tuple result, and ``result`` itself.
        ``image``: whether the result (of a tuple, its first array) is an image, which keeps the image's
        dimensions and subclass; histograms, edges and ties are plain arrays of the type (by what a result is,
        never by its shape)."""
        if self.leave_as is None:
            return result
        if isinstance(result, tuple):
            return tuple(self.leave(part, image and k == 0) for k, part in enumerate(result))
        if isinstance(result, np.ndarray) or hasattr(result, "dask"):
            return self.leave_as(result, image)
        return result

    def names(self, arguments: dict) -> None:
        """``axes`` and ``channel_axis`` given as the image's dimension names (xarray), as axis numbers."""
        if self.dims is None:
            return
        for name in ("axes", "channel_axis"):
            value = arguments.get(name)
            if isinstance(value, str):
                arguments[name] = self._axis_of(value, name)
            elif isinstance(value, (tuple, list)) and any(isinstance(v, str) for v in value):
                arguments[name] = type(value)(self._axis_of(v, name) if isinstance(v, str) else v for v in value)

    def steps(self, axes: tuple[int, ...]) -> tuple[float, ...] | None:
        """The image's pixel size along ``axes`` from its coordinates (xarray): None where none of those dimensions
        has coordinates; a ValueError where only some have, or where they are not evenly spaced."""
        dims = [self.dims[axis] for axis in axes] if self.dims is not None else []
        given = [dim for dim in dims if dim in self.coordinates.indexes]
        if not given:
            return None
        if len(given) < len(dims):
            missing = [dim for dim in dims if dim not in given]
            raise ValueError(
                f"kernel_size: the image's dimensions {given} have coordinates but {missing} not, so the region "
                "size has no one unit; pass spacing= (or kernel_size in pixels with spacing=1)"
            )
        return tuple(_step(dim, np.asarray(self.coordinates[dim].values, dtype=np.float64)) for dim in dims)

    def _axis_of(self, dim: str, name: str) -> int:
        if dim not in self.dims:
            raise ValueError(f"{name}: the image has no dimension {dim!r}; its dimensions are {self.dims}")
        return self.dims.index(dim)

    def _from_torch(self, torch, tensor):
        if tensor.device.type != "cpu":
            raise gpu_error(self.function, f"{tensor.device.type} tensors")
        if tensor.layout != torch.strided:
            raise TypeError(
                f"histeq.{self.function}: got a tensor of layout {tensor.layout}, which has no pixel "
                "array to read; convert it with tensor.to_dense()"
            )
        if tensor.is_quantized:
            raise TypeError(
                f"histeq.{self.function}: got a quantized tensor ({tensor.dtype}); convert it with "
                "tensor.dequantize() for its values, or tensor.int_repr() for its stored integers"
            )
        tensor = tensor.detach()  # no gradient: see the module's notes
        kind, wrap = type(tensor), None
        if kind is not torch.Tensor and hasattr(tensor, "as_subclass"):
            wrap = kind
        dtype = tensor.dtype
        if dtype == torch.bfloat16:
            tensor = tensor.to(torch.float32)
        try:
            array = tensor.resolve_conj().resolve_neg().numpy()
        except TypeError as exc:  # a dtype NumPy lacks (float8, ...)
            raise TypeError(
                f"histeq.{self.function}: cannot read a tensor of dtype {dtype} as an array: {exc}; "
                f"supported dtypes: {SUPPORTED} and bfloat16"
            ) from exc

        def leave(result, image):
            out = torch.from_numpy(
                result
                if result.flags.writeable and all(s >= 0 for s in result.strides)
                else np.ascontiguousarray(result)
            )
            if image and dtype == torch.bfloat16 and out.dtype == torch.float32:
                out = out.to(torch.bfloat16)
            return out.as_subclass(wrap) if image and wrap is not None else out

        return array, leave

    def _from_xarray(self, data_array, name: str):
        is_image = name == "image"
        if not is_image and self.dims is not None:
            data_array = self._in_image_order(data_array, name)
        data = data_array.data
        if is_foreign(data):  # a DataArray of tensors or CuPy arrays
            data = self.enter(data, "")
        if not is_image:
            return data, None
        self.dims = tuple(data_array.dims)
        self.coordinates = data_array.coords

        def leave(result, image):
            return data_array.copy(deep=False, data=result) if image else result  # histograms, ties: arrays

        return data, leave

    def _in_image_order(self, data_array, name: str):
        """A mask or reference DataArray with its axes in the image's order, matched by name.  A mask's
        dimensions must all be the image's; a reference's may all differ (an image of its own, taken by
        position), but a reference that shares some of them must share them all."""
        foreign = [d for d in data_array.dims if d not in self.dims]
        if foreign and (name == "mask" or len(foreign) < len(data_array.dims)):
            raise ValueError(
                f"histeq.{self.function}: {name} has the dimension {foreign[0]!r}, which the image "
                f"lacks; the image's dimensions are {self.dims}"
            )
        if foreign:
            return data_array
        return data_array.transpose(*(d for d in self.dims if d in data_array.dims))

    def _from_dlpack(self, value):
        if hasattr(value, "__cuda_array_interface__"):
            raise gpu_error(self.function, f"{type(value).__module__.split('.')[0]} GPU arrays")
        device = getattr(value, "__dlpack_device__", None)
        if device is not None and device()[0] not in _DLPACK_CPU:
            raise gpu_error(self.function, f"DLPack arrays on device type {device()[0]}")
        try:
            return np.from_dlpack(value)
        except (TypeError, ValueError, BufferError, RuntimeError) as exc:
            raise TypeError(
                f"histeq.{self.function}: cannot read {type(value).__name__} through DLPack: {exc}"
            ) from exc
