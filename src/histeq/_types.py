"""The types of the public API's signatures (for type checkers; ``py.typed``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, TypeVar, Union

import numpy as np
import numpy.typing as npt


class _Array(Protocol):
    """What every array type histeq gives back in kind has: a shape and a dtype."""

    @property
    def shape(self) -> Any: ...

    @property
    def dtype(self) -> Any: ...


#: An image: a NumPy or Dask array, a PyTorch tensor, an xarray DataArray; its result comes back in its type.
Image = TypeVar("Image", bound=_Array)
#: An image given as anything else NumPy reads (nested sequences, DLPack objects): its result is an ndarray.
Sequenced = npt.ArrayLike
#: A mask, a reference image or a histogram's weights: any array type, or a sequence.
ArrayLike = Any
#: Spatial axes: axis numbers, or the dimension names of a DataArray.
Axes = Union[int, str, Sequence[Union[int, str]], None]
#: A channel axis: a number, or a DataArray's dimension name.
ChannelAxis = Union[int, str, None]
#: A value range (lo, hi).
Range = Union[tuple[float, float], None]
Color = Literal["lightness", "luma", "value", "per-channel", None]
ChannelOrder = Literal["rgb", "bgr"]
#: Per-image tie counts of exact equalization: an int for one image, else an array over the batch.
Ties = Union[int, np.ndarray, Any]
