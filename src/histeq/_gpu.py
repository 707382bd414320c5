"""Which calls on GPU tensors have a GPU path, and the layout around it.

``_validate.public`` sends a call whose image is a CUDA tensor here.  The GPU path covers ``equalize``,
``clahe``, ``histogram`` and ``cumulative_distribution`` of 8- and 16-bit integer images (``uint8``, ``int8``,
``uint16``, ``int16``) and float images (``float16``, ``float32``, ``float64``), laid out with their image axes
last (a batch ``(..., H, W)`` or ``(..., D, H, W)`` with ``axes`` the trailing axes, or one image; CLAHE
interpolates over at most three axes longer than one pixel), with a mask (the whole shape, or the image axes'
shape shared by every image) or none; ``clahe`` also takes ``tiles`` and ``clip_limit``, ``equalize`` of
``uint8`` images ``compat='opencv'`` and ``'pillow'``.  Every other argument
must be left at its default.  Any other call gets a TypeError naming the function: histeq does not copy GPU data
to the host and back behind the caller's back.

``uint8`` equalization has kernels of its own (``_gpu_equalize``); the other integer calls run CLAHE's phases
(``_gpu_clahe``): global equalization as one tile without a clip, histograms as its first phase.  Floats have
their global equalization and histograms in ``_gpu_float``, their CLAHE in ``_gpu_clahe_float``.  Results are
tensors on the image's device, as the CPU path gives NumPy arrays (histograms: int64 counts, float64 edges).
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from . import _arrays
from ._kernels import dtype_info

#: The keywords a GPU call may give, at any value the GPU path takes (threads: a CPU setting, ignored).
_ACCEPTED = {"equalize": {"axes", "mask", "threads", "compat"},
             "clahe": {"axes", "mask", "threads", "tiles", "clip_limit"},
             "histogram": {"axes", "mask", "threads"}, "cumulative_distribution": {"axes", "mask", "threads"}}
#: The dtypes with a GPU path, by name: their NumPy dtype and number of levels (one bin each; None: floats).
_DTYPES = {"uint8": (np.uint8, 256), "int8": (np.int8, 256), "uint16": (np.uint16, 65536),
           "int16": (np.int16, 65536), "float16": (np.float16, None), "float32": (np.float32, None),
           "float64": (np.float64, None)}
#: Spatial axes longer than one pixel the kernels interpolate over.
_MAX_AXES = 3
_COVERAGE = ("its GPU path so far covers equalize, clahe, histogram and cumulative_distribution of 8- and 16-bit "
             "integer images and float images, whose axes are the last ones (clahe: at most 3 "
             "longer than one pixel; under 2**31 pixels), with a mask or none, tiles and clip_limit (clahe), compat "
             "'opencv' and 'pillow' (equalize of uint8), and the other arguments at their defaults")


def call(function: str, image, positional: tuple, kwargs: dict):
    """The function's result for a GPU tensor, on its device; a TypeError where there is no GPU path yet.
    ``positional``: the arguments after the image (no GPU path takes any)."""
    spatial = None if positional else _spatial_shape(function, image, kwargs)
    if spatial is None:
        raise _arrays.gpu_error(function, f"{image.device.type} tensors", _COVERAGE)
    from .clahe import checked_clip_limit, tile_counts, without_singletons

    pixels = int(np.prod(spatial))
    shape, tiles, clip = (pixels,), (1,), None  # one tile: its layout does not matter
    if function == "clahe":
        grid = tile_counts(kwargs.get("tiles", 8), spatial)
        clip = checked_clip_limit(kwargs.get("clip_limit", 2.0))
        shape, tiles = without_singletons(spatial, grid)
        if len(shape) > _MAX_AXES:
            raise _arrays.gpu_error(function, f"{len(shape)} image axes longer than one pixel", _COVERAGE)
    compat = _peer(function, image, kwargs)
    rows = image.numel() // pixels
    flat = image.reshape(rows, -1).contiguous()
    mask = kwargs.get("mask")
    if mask is not None:
        mask = (mask.reshape(-1) if mask.numel() * rows == image.numel() else mask.reshape(rows, -1)).contiguous()
    dtype, levels = _DTYPES[str(image.dtype).removeprefix("torch.")]
    info = dtype_info(dtype)
    batch = tuple(image.shape[:image.ndim - len(spatial)])
    if levels is None:
        grid = _tile_grid(shape, tiles, None, str(image.device)) if function == "clahe" else None
        return _floats(function, flat, mask, batch, image.shape, grid, clip)
    if function in ("histogram", "cumulative_distribution"):
        counts, edges = _histogram(flat, mask, _tile_grid(shape, tiles, 0, str(image.device)), info, levels)
        counts = counts.reshape(batch + (levels,))
        return (counts, edges) if function == "histogram" else _cumulative(counts, edges)
    if function == "equalize" and info.dtype == np.uint8:
        from ._gpu_equalize import equalize_batch

        return equalize_batch(flat, mask, compat).reshape(image.shape)
    from ._gpu_clahe import clahe_batch
    from .clahe import output_bits

    grid = _tile_grid(shape, tiles, output_bits(info, info.lo, info.hi), str(image.device))
    return clahe_batch(flat, mask, grid, clip, int(info.lo), levels).reshape(image.shape)


def _peer(function: str, image, kwargs: dict) -> str | None:
    """equalize's compat mode where the GPU path has it ('opencv', 'pillow'), its refusals the CPU path's."""
    from . import _compat, _validate

    mode = _validate.choice(kwargs.get("compat"), "compat", _validate.COMPAT_MODES)
    if mode is None:
        return None
    if mode not in ("opencv", "pillow"):
        raise _arrays.gpu_error(function, f"compat={mode!r}", "its GPU path has compat='opencv' and 'pillow' only")
    info = dtype_info(_DTYPES[str(image.dtype).removeprefix("torch.")][0])
    _compat.check_peer(mode, info, None, kwargs.get("mask"), None, None)
    return mode


def _floats(function, flat, mask, batch, shape, grid, clip):
    """The result of ``function`` for float images (flattened to ``flat``)."""
    from . import _gpu_float

    if function == "equalize":
        return _gpu_float.equalize_batch(flat, mask).reshape(shape)
    if function == "clahe":
        from ._gpu_clahe_float import clahe_batch

        return clahe_batch(flat, mask, grid, clip).reshape(shape)
    counts, edges = _gpu_float.histograms(flat, mask)
    counts = counts.reshape(batch + counts.shape[-1:])
    edges = edges.reshape(batch + edges.shape[-1:])
    return (counts, edges) if function == "histogram" else _cumulative(counts, edges)


def _histogram(flat, mask, grid, info, levels):
    """(int64 counts per image, the shared bin edges) of ``histeq.histogram``'s defaults: one bin per level."""
    import torch

    from ._gpu_clahe import tile_histograms

    counts, _ = tile_histograms(flat, mask, grid, int(info.lo), levels)
    edges = torch.arange(levels + 1, dtype=torch.float64, device=flat.device) + (info.lo - 0.5)
    return counts.to(torch.int64), edges


def _cumulative(counts, edges):
    """``histeq.cumulative_distribution`` from the histogram: NaN for an image with nothing counted."""
    import torch

    cum = torch.cumsum(counts, dim=-1, dtype=torch.float64)
    total = cum[..., -1:]
    centers = (edges[..., :-1] + edges[..., 1:]) / 2
    return torch.where(total > 0, cum / torch.where(total > 0, total, 1), torch.nan), centers


@functools.lru_cache(maxsize=32)
def _tile_grid(shape: tuple[int, ...], tiles: tuple[int, ...], output_bits: int | None, device: str):
    """The device's copy of the CPU path's tile plan of one image shape (the output levels' bits bound the
    integer weights' precision; None: float weights), kept as the CPU path keeps its plans."""
    from ._gpu_clahe import TileGrid
    from .clahe import axis_plans

    return TileGrid(shape, tiles, *axis_plans(shape, tiles, output_bits), device, exact=output_bits is not None)


def _mask_fits(image, mask) -> bool:
    """No mask, or a bool tensor on the image's device shaped as the whole image or as its trailing (image)
    axes (one mask for every image)."""
    import torch

    if mask is None:
        return True
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.device != image.device:
        return False
    return tuple(mask.shape) == tuple(image.shape)[image.ndim - mask.ndim:] and mask.ndim >= 1


def _spatial_shape(function: str, image, kwargs: dict) -> tuple[int, ...] | None:
    """The image axes' shape of a call the GPU path takes (its image axes the trailing ones), else None."""
    if function not in _ACCEPTED or set(kwargs) - _ACCEPTED[function]:
        return None
    if str(image.dtype).removeprefix("torch.") not in _DTYPES or image.ndim == 0 or image.numel() == 0:
        return None
    if not _mask_fits(image, kwargs.get("mask")):
        return None
    axes = kwargs.get("axes")
    if axes is None:
        axes = tuple(range(image.ndim))
    axes = (axes,) if isinstance(axes, numbers.Integral) else tuple(axes)
    if not all(isinstance(a, numbers.Integral) and -image.ndim <= a < image.ndim for a in axes):
        return None
    trailing = sorted(a % image.ndim for a in axes)
    if trailing != list(range(image.ndim - len(trailing), image.ndim)) or len(set(trailing)) != len(axes):
        return None
    spatial = tuple(image.shape[image.ndim - len(trailing):])
    return spatial if 0 < int(np.prod(spatial)) < 2 ** 31 else None
