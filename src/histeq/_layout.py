"""Reshaping n-D images with batch axes to the kernels' (batch, pixels) layout."""

from __future__ import annotations

import math

import numpy as np


class BatchLayout:
    """Moves the batch axes first and the spatial axes last, flattened to (B, P).

    The kernels see one C-contiguous (B, P) array; ``restore`` puts a result
    of that layout back in the caller's axis order.
    """

    def __init__(self, shape: tuple[int, ...], axes: tuple[int, ...]):
        batch = [a for a in range(len(shape)) if a not in axes]
        self.perm = tuple(batch) + tuple(axes)
        # In order already (one image, or batch axes first): no transposes, which small calls feel.
        self.ordered = self.perm == tuple(range(len(shape)))
        self.inverse = self.perm if self.ordered else tuple(int(i) for i in np.argsort(self.perm))
        self.batch_shape = tuple(shape[a] for a in batch)
        self.spatial_shape = tuple(shape[a] for a in axes)
        self.batch = math.prod(self.batch_shape)
        self.pixels = math.prod(self.spatial_shape)

    def flatten(self, array: np.ndarray, dtype: np.dtype | None = None, channels: bool = False) -> np.ndarray:
        """(B, P), or (B, P, C) with ``channels``: ``array`` then has a trailing channel axis, kept last."""
        extra = (len(self.perm),) if channels else ()
        moved = array if self.ordered else np.transpose(array, self.perm + extra)
        channels = moved.shape[len(self.perm) :]
        return np.ascontiguousarray(moved, dtype=dtype).reshape((self.batch, self.pixels) + channels)

    def restore(self, flat: np.ndarray, channels: bool = False) -> np.ndarray:
        extra = (len(self.perm),) if channels else ()
        shape = self.batch_shape + self.spatial_shape + flat.shape[2:]
        restored = flat.reshape(shape)
        return restored if self.ordered else np.transpose(restored, self.inverse + extra)


def grey_axes(axes: tuple[int, ...], channel: int) -> tuple[int, ...]:
    """Spatial axes renumbered for the image with its channel axis removed."""
    return tuple(a if a < channel else a - 1 for a in axes)
