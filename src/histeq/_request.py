"""A call, checked once into a frozen request that every backend reads.

The public functions hand their arguments (``locals()``: every parameter by name, each at the value given or at
the signature's default, the only home of the defaults) to ``_dispatch.call``, which builds a :class:`Request`
here.  Every argument a backend needs as a number or a layout is checked once, from the image's shape and dtype
alone, so that a GPU tensor and a Dask array are checked as an ndarray is, without one: the dtype, the channel
and spatial axes, the bins, the value ranges, the peer's rules (``compat``), CLAHE's tiles and clip limit.  The
rules themselves belong to ``_checks`` and ``_tiles``.  What needs the arrays' values (a mask's shape against
the image's, a reference image, histogram weights) is checked where a backend first reads the arrays, by the
same rules on every backend.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

import numpy as np

from histeq import _checks
from histeq._kernels import DtypeInfo, dtype_info
from histeq._tiles import checked_clip_limit, region_tiles

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
#: The peers whose rules an operation reproduces (``compat=``).
COMPAT = {"equalize": _checks.COMPAT_MODES, "clahe": ("opencv",)}


class Request(NamedTuple):
    """One call of a public function, its numbers and layout checked.

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
    nbins : int or None
        The number of bins asked for; None: the dtype's default.
    in_range, out_range : (float, float) or None
        The value ranges asked for, checked against the dtype.
    compat : str or None
        The peer whose rules to reproduce.
    tiles : tuple of int or None
        CLAHE's tiles along each spatial axis (``fit_clahe``: along each axis), as given or from ``kernel_size``.
    clip_limit : float or None
        CLAHE's clip limit (None: no limit; OpenCV's rule under ``compat="opencv"``).
    clip_limits : tuple of float, optional
        Per image of the leading axis, the clip limit of a batched CLAHE (``transforms.RandomCLAHE``'s draws),
        instead of ``clip_limit``.
    """

    operation: Operation
    arguments: Mapping[str, Any]
    shape: tuple[int, ...]
    info: DtypeInfo
    channel: int | None
    spatial: tuple[int, ...]
    nbins: int | None = None
    in_range: tuple[float, float] | None = None
    out_range: tuple[float, float] | None = None
    compat: str | None = None
    tiles: tuple[int, ...] | None = None
    clip_limit: float | None = None
    clip_limits: tuple[float, ...] | None = None

    @property
    def image(self) -> Any:
        return self.arguments["image"]

    def replaced(self, **arguments: Any) -> Request:
        """The same call with some arguments replaced (a block of a Dask array, its mask), checked again."""
        return make(self.operation, {**self.arguments, **arguments}, self.clip_limits)

    def in_memory(self) -> _checks.Call:
        """The arrays of a request whose image is an ndarray, as the kernels read them: the image native and
        aligned (a view when it is), the mask checked against the image and broadcast to its grey shape."""
        arr = self.image
        if type(arr) is not np.ndarray or not arr.flags.aligned or not arr.dtype.isnative:
            arr, _ = _checks.image(arr)  # a subclass, a view at an odd byte offset, big-endian values
        grey_shape = tuple(n for axis, n in enumerate(arr.shape) if axis != self.channel)
        mask = _checks.mask(self.arguments.get("mask"), grey_shape)
        return _checks.Call(arr, self.info, self.channel, self.spatial, mask, self.nbins, self.in_range, self.out_range)


def make(operation: Operation, arguments: Mapping[str, Any], clip_limits: tuple[float, ...] | None = None) -> Request:
    """The request of a call of ``operation`` with ``arguments`` (its image an ndarray, a Dask array or a
    tensor); a TypeError or ValueError for a layout no backend takes."""
    image = arguments["image"]
    shape = image.shape if type(image) is np.ndarray else tuple(int(n) for n in image.shape)
    dtype = _dtype_of(image)
    if dtype.kind in "OUSVMm":
        raise TypeError(f"image must be a numeric array, got dtype {dtype}")
    info = dtype_info(dtype)
    if not shape:
        raise ValueError("image must have at least one dimension, got a 0-d array")
    if 0 in shape:
        raise ValueError(f"image is empty (shape {shape}); there is nothing to equalize")
    channel = _checks.channel_axis(arguments.get("channel_axis"), len(shape))
    spatial = _spatial_axes(arguments.get("axes"), len(shape), channel)
    tiles = compat = clip_limit = nbins = in_range = out_range = None
    if arguments.get("nbins") is not None:
        nbins = _checks.nbins(arguments["nbins"])
    if arguments.get("in_range") is not None:
        in_range = _checks.value_range(arguments["in_range"], info, "in_range")
    if arguments.get("out_range") is not None:
        out_range = _checks.value_range(arguments["out_range"], info, "out_range")
    if operation in ("clahe", "fit_clahe"):
        sizes = shape if operation == "fit_clahe" else tuple(shape[axis] for axis in spatial)
        tiles = region_tiles(arguments["tiles"], arguments["kernel_size"], arguments["spacing"], sizes)
    if operation in COMPAT:
        compat = _checks.choice(arguments["compat"], "compat", COMPAT[operation])
    if operation in ("clahe", "fit_clahe"):
        clip_limit = checked_clip_limit(arguments["clip_limit"], opencv=compat is not None)
    return Request(
        operation,
        types.MappingProxyType(arguments),  # the caller's own dict (``locals()``, or the adapter's copy)
        shape,
        info,
        channel,
        spatial,
        nbins,
        in_range,
        out_range,
        compat,
        tiles,
        clip_limit,
        clip_limits,
    )


def _spatial_axes(axes: Any, ndim: int, channel: int | None) -> tuple[int, ...]:
    """``_checks.spatial_axes``, its answers kept for the layouts that recur (a transform's, call after call)."""
    try:
        return _SPATIAL[axes, ndim, channel]
    except (KeyError, TypeError):  # not seen yet, or unhashable (a list): checked
        spatial = _checks.spatial_axes(axes, ndim, channel)
    if len(_SPATIAL) < 256 and type(axes) in (tuple, int, type(None)):
        _SPATIAL[axes, ndim, channel] = spatial
    return spatial


_SPATIAL: dict[tuple[Any, int, int | None], tuple[int, ...]] = {}


def _dtype_of(image: Any) -> np.dtype:
    """The NumPy dtype of an array of any type that reaches a backend (a tensor's by its name)."""
    dtype = image.dtype
    if isinstance(dtype, np.dtype):
        return dtype
    try:
        return np.dtype(str(dtype).removeprefix("torch."))
    except TypeError:
        raise TypeError(f"image has dtype {dtype}, which no backend computes") from None
