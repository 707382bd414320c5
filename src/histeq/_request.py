"""A call, checked once into a frozen request that every backend reads.

The public functions hand their arguments (``locals()``: every parameter by name, each at the value given or at
the signature's default, the only home of the defaults) to ``_dispatch.call``, which builds a :class:`Request`
here.  What the layout of a call needs is checked from the image's shape and dtype alone, so that a GPU tensor
or a Dask array is checked without an ndarray: its dtype, its channel axis and its spatial axes.  The checks of
values (bins, ranges, masks, tiles, clip limits) belong to ``_checks`` and run where the backend first reads
them, with the same messages on every backend.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from histeq import _checks
from histeq._kernels import DtypeInfo, dtype_info

Operation = Literal[
    "equalize",
    "clahe",
    "match",
    "specify",
    "histogram",
    "cumulative_distribution",
    "fit_equalize",
    "fit_clahe",
    "fit_match",
    "fit_specify",
]

#: The operations whose result (of a tuple: its first entry) is an image, given back as the image came in; the
#: others give histograms or fitted mappings.
IMAGE_RESULTS = frozenset({"equalize", "clahe", "match", "specify"})


@dataclasses.dataclass(frozen=True)
class Request:
    """One call of a public function, its layout checked.

    Attributes
    ----------
    operation : str
        The public function's name.
    arguments : Mapping[str, Any]
        Every parameter of the function by name (the image included), read-only.
    shape : tuple of int
        The image's shape.
    info : DtypeInfo
        The entry of the image's dtype in the core's table.
    channel : int or None
        The channel axis, normalized; None for grey images and for functions without one.
    spatial : tuple of int
        The spatial axes of one image, normalized and sorted.
    clip_limits : tuple of float, optional
        Per image of the leading axis, the clip limit of a batched CLAHE (``transforms.RandomCLAHE``'s draws),
        instead of ``arguments["clip_limit"]``.
    """

    operation: Operation
    arguments: Mapping[str, Any]
    shape: tuple[int, ...]
    info: DtypeInfo
    channel: int | None
    spatial: tuple[int, ...]
    clip_limits: tuple[float, ...] | None = None

    @property
    def image(self) -> Any:
        return self.arguments["image"]

    def __getitem__(self, name: str) -> Any:
        return self.arguments[name]

    def replaced(self, **arguments: Any) -> Request:
        """The same call with some arguments replaced (a block of a Dask array, its mask), checked again."""
        return make(self.operation, {**self.arguments, **arguments}, self.clip_limits)


def make(operation: Operation, arguments: Mapping[str, Any], clip_limits: tuple[float, ...] | None = None) -> Request:
    """The request of a call of ``operation`` with ``arguments`` (its image an ndarray, a Dask array or a
    tensor); a TypeError or ValueError for a layout no backend takes."""
    image = arguments["image"]
    shape = tuple(int(n) for n in image.shape)
    dtype = _dtype_of(image)
    if dtype.kind in "OUSVMm":
        raise TypeError(f"image must be a numeric array, got dtype {dtype}")
    info = dtype_info(dtype)
    if not shape:
        raise ValueError("image must have at least one dimension, got a 0-d array")
    channel = _checks.channel_axis(arguments.get("channel_axis"), len(shape))
    spatial = _checks.spatial_axes(arguments.get("axes"), len(shape), channel)
    return Request(operation, types.MappingProxyType(dict(arguments)), shape, info, channel, spatial, clip_limits)


def _dtype_of(image: Any) -> np.dtype:
    """The NumPy dtype of an array of any type that reaches a backend (a tensor's by its name)."""
    dtype = image.dtype
    if isinstance(dtype, np.dtype):
        return dtype
    try:
        return np.dtype(str(dtype).removeprefix("torch."))
    except TypeError:
        raise TypeError(f"image has dtype {dtype}, which no backend computes") from None
