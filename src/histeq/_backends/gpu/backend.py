"""Which calls on GPU tensors have a GPU path, and the layout around it.

``_dispatch.call`` sends a call whose image is a CUDA tensor here (or any tensor, under ``histeq.backend("gpu")``).
Which calls have a GPU path is the table of ``coverage``; those are laid out with their image axes last for the
kernels (and back), colour images (``color``), OpenCV's CLAHE (``clahe_opencv``) and matching (``match``)
routed to their modules.  The arguments are checked by the rules every backend shares (``_checks``,
``_tiles``).  Any other call gets a TypeError naming the function: histeq does not copy GPU data to the host
and back behind the caller's back.

``uint8`` equalization has kernels of its own (``equalize``); the other integer calls run CLAHE's phases
(``clahe``): global equalization as one tile without a clip, histograms as its first phase.  Floats have
their global equalization and histograms in ``floats``, their CLAHE in ``clahe_float``.  Results are
tensors on the image's device, as the CPU path gives NumPy arrays (histograms: int64 counts, float64 edges).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from histeq import _arrays, _checks, _request
from histeq._backends import cpu
from histeq._backends.gpu.coverage import FLOATS, FUNCTIONS, INTEGERS, MAX_AXES, NEUTRAL, GpuFunction, coverage_text
from histeq._kernels import dtype_info
from histeq._request import Operation, Request

#: The dtypes with a GPU path (any function's), by torch name: their NumPy dtype and number of levels as the CPU
#: path's dtype table says (one bin each; None: floats, binned over each image's range).
_DTYPES = {
    name: (np.dtype(name), int(info.hi - info.lo + 1) if info.kind == "levels" else None)
    for name, info in ((name, dtype_info(np.dtype(name))) for name in INTEGERS + FLOATS)
}
_COVERAGE = coverage_text()


def request(operation: Operation, arguments: Mapping[str, Any], clip_limits: tuple[float, ...] | None) -> Request:
    """The request of a call on a tensor, or a TypeError where the GPU path does not cover it (before any check
    of its values, and without a copy)."""
    import torch

    image = arguments["image"]
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"histeq.{operation}: the 'gpu' backend takes PyTorch tensors, got {type(image).__name__}")
    entry = FUNCTIONS.get(operation)
    if (
        entry is None
        or _name(image) not in entry.dtypes
        or _asks_more(entry, arguments)
        or not _on_device(arguments.get("mask"), image)
    ):
        raise _arrays.gpu_error(operation, f"{image.device.type} tensors", _COVERAGE)
    return _request.make(operation, arguments, clip_limits)


def run(request: Request) -> Any:
    """The request's result, on its image's device."""
    if request.clip_limits is not None:
        assert request.tiles is not None
        return clahe_per_sample(request.image, request.tiles, list(request.clip_limits))
    return _laid_out(request)


def _asks_more(entry: GpuFunction, arguments: Mapping[str, Any]) -> bool:
    """Whether a call gives an argument outside the function's GPU keywords at a value that asks the kernels
    for something (``NEUTRAL``)."""
    return any(
        name != "image" and name not in entry.keywords and not _neutral(name, value)
        for name, value in arguments.items()
    )


def _neutral(name: str, value: object) -> bool:
    neutral = NEUTRAL.get(name, _MISSING)
    return type(value) is type(neutral) and value == neutral


_MISSING = object()


def _laid_out(request: Request) -> Any:
    """The request's result, its image axes moved last for the kernels, and back."""
    function, image, kwargs = request.operation, request.image, request.arguments
    mask = kwargs["mask"]
    info = request.info
    levels = _DTYPES[_name(image)][1]
    if mask is not None:
        grey_shape = tuple(n for a, n in enumerate(request.shape) if a != request.channel)
        _checks.mask(_placeholder(tuple(mask.shape), _numpy_dtype(str(mask.dtype))), grey_shape)
    if request.channel is not None:
        return _colour(request)
    if kwargs.get("color") is not None:
        from histeq._backends.cpu.color import resolve_mode

        resolve_mode(kwargs.get("color"), None, tuple(image.shape), info, "lightness")  # refuses: no channel axis
    spatial = request.spatial
    batch = [a for a in range(image.ndim) if a not in spatial]
    trailing = batch == list(range(len(batch)))  # the image axes are the last ones
    if mask is not None and not (trailing and tuple(mask.shape) == tuple(image.shape[len(batch) :])):
        mask = mask.expand(image.shape)  # not one mask shared by every image: as the image's shape
    if trailing:
        return _grey(request, image, mask, len(batch), levels)
    if function == "match":  # the reference pairs with the images in their own layout
        raise _arrays.gpu_error(
            function,
            "images whose axes are not the last ones",
            "its GPU path matches images whose axes are the last ones",
        )
    order = batch + list(spatial)  # the image axes moved last, and back
    result = _grey(request, image.permute(order), None if mask is None else mask.permute(order), len(batch), levels)
    if function in ("histogram", "cumulative_distribution"):
        return result  # its batch axes keep their order
    return result.permute([order.index(a) for a in range(image.ndim)])


def _grey(request: Request, image, mask, batch_axes: int, levels: int | None):
    """The request's result for ``image``, its image laid out with its image axes last (after ``batch_axes``
    batch axes); mask: None, the image axes' shape (shared), or the tensor's."""
    from histeq._tiles import without_singletons

    function, info = request.operation, request.info

    spatial = tuple(image.shape[batch_axes:])
    pixels = int(np.prod(spatial))
    if not 0 < pixels < 2**31:
        raise _arrays.gpu_error(function, f"images of {pixels} pixels", _COVERAGE)
    shape, tiles, clip = (pixels,), (1,), None  # one tile: its layout does not matter
    if function == "clahe" and request.compat is not None:
        return _opencv_clahe(request, image, mask, spatial)
    if function == "clahe":
        assert request.tiles is not None
        clip = request.clip_limit
        shape, tiles = without_singletons(spatial, request.tiles)
        if len(shape) > MAX_AXES:
            raise _arrays.gpu_error(function, f"{len(shape)} image axes longer than one pixel", _COVERAGE)
    compat = _peer(request) if function == "equalize" else None
    rows = image.numel() // pixels
    flat = image.reshape(rows, -1).contiguous()
    if mask is not None:
        mask = (mask.reshape(-1) if mask.ndim == len(spatial) else mask.reshape(rows, -1)).contiguous()
    batch = tuple(image.shape[:batch_axes])
    if function in ("match", "specify"):
        return _matched(request, flat, mask, image, batch_axes, levels)
    if levels is None:
        grid = _tile_grid(shape, tiles, None, str(image.device)) if function == "clahe" else None
        return _floats(function, flat, mask, batch, image.shape, grid, clip)
    if function in ("histogram", "cumulative_distribution"):
        counts, edges = _histogram(flat, mask, _tile_grid(shape, tiles, 0, str(image.device)), info, levels)
        counts = counts.reshape(batch + (levels,))
        return (counts, edges) if function == "histogram" else _cumulative(counts, edges)
    if function == "equalize" and info.dtype == np.uint8:
        from histeq._backends.gpu.equalize import equalize_batch

        return equalize_batch(flat, mask, compat).reshape(image.shape)
    from histeq._backends.gpu.clahe import clahe_batch
    from histeq._tiles import output_bits

    grid = _tile_grid(shape, tiles, output_bits(info, info.lo, info.hi), str(image.device))
    return clahe_batch(flat, mask, grid, clip, int(info.lo), levels).reshape(image.shape)


def clahe_per_sample(samples, tiles: tuple[int, ...], clips: list[float]):
    """CLAHE of a ``(N, C, H, W)`` CUDA batch on its last two axes, sample k with clip limit ``clips[k]``: what
    ``clahe(samples[k], tiles=tiles, clip_limit=clips[k], axes=(-2, -1))`` gives for every k, in one call (the
    draws of a RandomCLAHE)."""
    import torch

    from histeq._tiles import checked_clip_limit, output_bits, without_singletons

    name = str(samples.dtype).removeprefix("torch.")
    if name not in _DTYPES or samples.ndim != 4:
        raise _arrays.gpu_error("clahe", f"{samples.device.type} {name} tensors", _COVERAGE)
    spatial = tuple(samples.shape[-2:])
    shape, grid = without_singletons(spatial, tiles)
    limits = torch.tensor([checked_clip_limit(c) for c in clips], dtype=torch.float64, device=samples.device)
    flat = samples.reshape(-1, spatial[0] * spatial[1]).contiguous()
    per_image = limits.repeat_interleave(samples.shape[1])  # every channel of a sample
    dtype, levels = _DTYPES[name]
    info = dtype_info(dtype)
    if levels is None:
        from histeq._backends.gpu.clahe_float import clahe_batch as float_batch

        return float_batch(flat, None, _tile_grid(shape, grid, None, str(samples.device)), per_image).reshape(
            samples.shape
        )
    from histeq._backends.gpu.clahe import clahe_batch

    bits = output_bits(info, info.lo, info.hi)
    return clahe_batch(
        flat, None, _tile_grid(shape, grid, bits, str(samples.device)), per_image, int(info.lo), levels
    ).reshape(samples.shape)


def _matched(request: Request, flat, mask, image, batch_axes: int, levels: int | None):
    """match or specify of integer images (``flat``: their pixels, ``image``: their layout, the image axes last)
    onto the CPU path's targets (``match``)."""
    function, kwargs, info = request.operation, request.arguments, request.info
    from histeq._backends.cpu import matching
    from histeq._backends.gpu.match import map_batch
    from histeq._tiles import output_bits

    if levels is None:
        raise _arrays.gpu_error(
            function, f"{image.dtype} tensors", "its GPU path so far maps 8- and 16-bit integer images"
        )
    if function == "specify":
        targets = [matching.specify_target(info, kwargs["histogram"], kwargs["alpha"], request.out_range)]
        target_of = np.zeros(flat.shape[0], dtype=np.int64)
    else:
        targets, target_of = _reference_targets(kwargs["reference"], kwargs["reference_mask"], image, batch_axes, info)
    pixels = flat.shape[1]
    grid = _tile_grid((pixels,), (1,), output_bits(info, info.lo, info.hi), str(image.device))
    return map_batch(flat, mask, grid, targets, target_of, int(info.lo), levels).reshape(image.shape)


def _reference_targets(reference, reference_mask, image, batch_axes: int, info):
    """(targets, target of every image) of match's reference, paired with the images as the CPU path pairs
    them.  A GPU reference's histograms are counted on its device and read back (a few kB: the image stays)."""
    import torch

    from histeq._backends.cpu import matching

    on_device = isinstance(reference, torch.Tensor) and reference.device == image.device
    ref_dtype = str(reference.dtype).removeprefix("torch.") if on_device else str(np.asarray(reference).dtype)
    if ref_dtype not in _DTYPES or _DTYPES[ref_dtype][1] is None:
        raise _arrays.gpu_error(
            "match",
            f"a {ref_dtype} reference",
            "its GPU path matches to 8- and 16-bit integer references, on the image's device or in NumPy",
        )
    spatial = tuple(range(batch_axes, image.ndim))
    ref_spatial, target_of = matching.pairing(tuple(image.shape), spatial, tuple(reference.shape), None, None)
    if not on_device:
        reference = np.asarray(reference)
        reference_mask = None if reference_mask is None else np.asarray(reference_mask)
    # One bin per level, the targets' resolution; the reference's own layout.
    of_reference = {"image": reference, "mask": reference_mask, "axes": ref_spatial, "channel_axis": None}
    histogram = _request.make("histogram", of_reference | {"nbins": None, "in_range": None, "threads": None})
    if on_device:
        counts = run(histogram)[0].cpu().numpy()
    else:
        counts = cpu.BACKEND.run(histogram)[0]
    ref_info = dtype_info(_DTYPES[ref_dtype][0])
    return matching.reference_targets(counts.reshape(-1, counts.shape[-1]), ref_info, info), target_of


def _opencv_clahe(request: Request, image, mask, spatial: tuple[int, ...]):
    """clahe(compat='opencv') of images whose axes are the last ones (``clahe_opencv``), with the CPU path's
    checks and geometry (``peers``)."""
    from histeq._backends.cpu import peers as _compat
    from histeq._backends.gpu.clahe_opencv import clahe_batch

    _compat.check_opencv_clahe(None, mask, None, None, None, request.arguments["color"])
    tiles = request.tiles
    assert tiles is not None
    tile_h, tile_w, limit = _compat.opencv_geometry(request.info, spatial, tiles, request.clip_limit)
    flat = image.reshape(-1, int(np.prod(spatial))).contiguous()
    return clahe_batch(flat, *spatial, tiles, tile_h, tile_w, limit).reshape(image.shape)


def _colour(request: Request) -> Any:
    """``func`` of colour images (``channel`` the channel axis): per channel, or the luma or HSV value
    equalized as a grey image and RGB rebuilt around it (``color``)."""
    function, image, kwargs = request.operation, request.image, request.arguments
    channel, spatial, info = request.channel, request.spatial, request.info
    assert channel is not None
    from histeq._backends.cpu.color import resolve_mode
    from histeq._layout import grey_axes

    if function not in ("equalize", "clahe") or kwargs["compat"] is not None:
        raise _arrays.gpu_error(
            function, "colour images", "its GPU path takes colour images in equalize and clahe, without compat"
        )
    mode = resolve_mode(kwargs["color"], channel, tuple(image.shape), info, default="lightness")
    grey = {"channel_axis": None, "color": None}
    mask = kwargs["mask"]
    if mode == "per-channel":  # the channels as a batch axis, first
        moved = image.movedim(channel, 0)
        if mask is not None:
            mask = mask.expand(moved.shape[1:]).unsqueeze(0).expand(moved.shape)
        axes = tuple(a + 1 if a < channel else a for a in spatial)
        return _laid_out(request.replaced(image=moved, axes=axes, mask=mask, **grey)).movedim(0, channel)
    if mode not in ("luma", "value"):
        raise _arrays.gpu_error(
            function,
            f"color={mode!r}",
            "its GPU path has color='luma', 'value' and "
            "'per-channel' (the CPU path's default is 'lightness': pass color explicitly)",
        )
    import torch

    from histeq._backends.gpu import color as _gpu_color

    compute = torch.float32 if image.dtype == torch.float16 else image.dtype  # as the CPU path computes
    rgb = image.movedim(channel, -1).to(compute).contiguous()
    pixels = rgb.reshape(-1, rgb.shape[-1])
    old = _gpu_color.intensity(pixels, mode)
    new = _laid_out(request.replaced(image=old.reshape(rgb.shape[:-1]), axes=grey_axes(spatial, channel), **grey))
    out = _gpu_color.rebuild(pixels, old, new.reshape(-1), mode, info.lo, info.hi)
    return out.reshape(rgb.shape).to(image.dtype).movedim(-1, channel)


def _name(tensor) -> str:
    """A tensor's dtype by name, as ``_DTYPES`` has it."""
    return str(tensor.dtype).removeprefix("torch.")


def _placeholder(shape, dtype) -> np.ndarray:
    """A read-only array of ``shape`` and ``dtype`` without memory: what the CPU path's checks look at."""
    return np.broadcast_to(np.zeros((), dtype), tuple(shape))


def _numpy_dtype(name: str):
    """The NumPy dtype of a torch dtype (a mask's, by name), for the CPU path's messages."""
    import torch

    try:
        return torch.empty(0, dtype=getattr(torch, name.removeprefix("torch."))).numpy().dtype
    except TypeError:  # bfloat16 and the like: not boolean either
        return np.dtype(np.float32)


def _on_device(mask, image) -> bool:
    """No mask, or a tensor on the image's device."""
    import torch

    return mask is None or isinstance(mask, torch.Tensor) and mask.device == image.device


def _peer(request: Request) -> str | None:
    """equalize's compat mode where the GPU path has it ('opencv', 'pillow'), its refusals the CPU path's."""
    from histeq._backends.cpu import peers as _compat

    mode = request.compat
    if mode is None:
        return None
    if mode not in ("opencv", "pillow"):
        raise _arrays.gpu_error(
            request.operation, f"compat={mode!r}", "its GPU path has compat='opencv' and 'pillow' only"
        )
    _compat.check_peer(mode, request.info, None, request.arguments["mask"], None, None)
    return mode


def _floats(function, flat, mask, batch, shape, grid, clip):
    """The result of ``function`` for float images (flattened to ``flat``)."""
    from histeq._backends.gpu import floats as _gpu_float

    if function == "equalize":
        return _gpu_float.equalize_batch(flat, mask).reshape(shape)
    if function == "clahe":
        from histeq._backends.gpu.clahe_float import clahe_batch

        return clahe_batch(flat, mask, grid, clip).reshape(shape)
    counts, edges = _gpu_float.histograms(flat, mask)
    counts = counts.reshape(batch + counts.shape[-1:])
    edges = edges.reshape(batch + edges.shape[-1:])
    return (counts, edges) if function == "histogram" else _cumulative(counts, edges)


def _histogram(flat, mask, grid, info, levels):
    """(int64 counts per image, the shared bin edges) of ``histeq.histogram``'s defaults: one bin per level."""
    import torch

    from histeq._backends.gpu.clahe import tile_histograms

    counts, _ = tile_histograms(flat, mask, grid, int(info.lo), levels)
    edges = torch.arange(levels + 1, dtype=torch.float64, device=flat.device) + (info.lo - 0.5)
    return counts.to(torch.int64), edges


def _cumulative(counts, edges):
    """``histeq.cumulative_distribution`` from the histogram: NaN for an image with nothing counted."""
    import torch

    from histeq._spec import bin_centres

    cum = torch.cumsum(counts, dim=-1, dtype=torch.float64)
    total = cum[..., -1:]
    return torch.where(total > 0, cum / torch.where(total > 0, total, 1), torch.nan), bin_centres(edges)


@functools.lru_cache(maxsize=32)
def _tile_grid(shape: tuple[int, ...], tiles: tuple[int, ...], output_bits: int | None, device: str):
    """The device's copy of the CPU path's tile plan of one image shape (the output levels' bits bound the
    integer weights' precision; None: float weights), kept as the CPU path keeps its plans."""
    from histeq._backends.gpu.clahe import TileGrid
    from histeq._tiles import axis_plans

    return TileGrid(shape, tiles, *axis_plans(shape, tiles, output_bits), device, exact=output_bits is not None)
