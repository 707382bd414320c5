"""Which calls on GPU tensors have a GPU path, and the layout around it.

``_validate.public`` sends a call whose image is a CUDA tensor here.  So far the GPU path covers ``equalize``
of ``uint8`` images laid out with their image axes last (a batch ``(..., H, W)`` with ``axes`` the trailing
axes, or one image), with a mask (the whole shape, or the image axes' shape shared by every image) or none, every
other argument at its default (``_gpu_equalize``).  Any other call gets a TypeError
naming the function: histeq does not copy GPU data to the host and back behind the caller's back.
"""

from __future__ import annotations

import numbers

from . import _arrays

#: The keywords a GPU call may give, at any value the GPU path takes (threads: a CPU setting, ignored).
_ACCEPTED = {"equalize": {"axes", "mask", "threads"}}


def call(function: str, image, positional: tuple, kwargs: dict):
    """The function's result for a GPU tensor, on its device; a TypeError where there is no GPU path yet.
    ``positional``: the arguments after the image (no GPU path takes any yet)."""
    rows = None if positional else _batch_rows(function, image, kwargs)
    if rows is None:
        raise _arrays.gpu_error(function, f"{image.device.type} tensors",
                                "its GPU path so far covers equalize of uint8 images whose axes are the last "
                                "ones, with a mask or none and the other arguments at their defaults")
    from ._gpu_equalize import equalize_batch

    mask = kwargs.get("mask")
    if mask is not None:
        mask = mask.reshape(-1) if mask.numel() * rows == image.numel() else mask.reshape(rows, -1)
        mask = mask.contiguous()
    return equalize_batch(image.reshape(rows, -1).contiguous(), mask).reshape(image.shape)


def _mask_fits(image, mask) -> bool:
    """No mask, or a bool tensor on the image's device shaped as the whole image or as its trailing (image)
    axes (one mask for every image)."""
    import torch

    if mask is None:
        return True
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.device != image.device:
        return False
    return tuple(mask.shape) == tuple(image.shape)[image.ndim - mask.ndim:] and mask.ndim >= 1


def _batch_rows(function: str, image, kwargs: dict) -> int | None:
    """The number of images of a call the GPU path takes (its image axes the trailing ones), else None."""
    import torch

    if function not in _ACCEPTED or set(kwargs) - _ACCEPTED[function] or image.dtype != torch.uint8:
        return None
    if image.ndim == 0 or image.numel() == 0 or not _mask_fits(image, kwargs.get("mask")):
        return None
    axes = kwargs.get("axes")
    if axes is None:
        return 1
    axes = (axes,) if isinstance(axes, numbers.Integral) else tuple(axes)
    if not all(isinstance(a, numbers.Integral) and -image.ndim <= a < image.ndim for a in axes):
        return None
    trailing = sorted(a % image.ndim for a in axes)
    if trailing != list(range(image.ndim - len(trailing), image.ndim)) or len(set(trailing)) != len(axes):
        return None
    rows = 1
    for n in image.shape[:image.ndim - len(trailing)]:
        rows *= n
    return rows
