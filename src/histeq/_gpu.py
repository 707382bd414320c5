"""Which calls on GPU tensors have a GPU path, and the layout around it.

``_validate.public`` sends a call whose image is a CUDA tensor here.  Which calls have a GPU path is the table
of ``_gpu_coverage``; those are laid out with their image axes last for the kernels (and back), colour images
(``_gpu_color``), OpenCV's CLAHE (``_gpu_clahe_opencv``) and matching (``_gpu_match``) routed to their modules.
The arguments are checked by the CPU path's rules.  Any other call gets a TypeError naming the function:
histeq does not copy GPU data to the host and back behind the caller's back.

``uint8`` equalization has kernels of its own (``_gpu_equalize``); the other integer calls run CLAHE's phases
(``_gpu_clahe``): global equalization as one tile without a clip, histograms as its first phase.  Floats have
their global equalization and histograms in ``_gpu_float``, their CLAHE in ``_gpu_clahe_float``.  Results are
tensors on the image's device, as the CPU path gives NumPy arrays (histograms: int64 counts, float64 edges).
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

import numpy as np

from . import _arrays
from ._gpu_coverage import FLOATS, FUNCTIONS, INTEGERS, MAX_AXES, coverage_text
from ._kernels import dtype_info

#: The dtypes with a GPU path (any function's), by torch name: their NumPy dtype and number of levels as the CPU
#: path's dtype table says (one bin each; None: floats, binned over each image's range).
_DTYPES = {
    name: (np.dtype(name), int(info.hi - info.lo + 1) if info.kind == "levels" else None)
    for name, info in ((name, dtype_info(np.dtype(name))) for name in INTEGERS + FLOATS)
}
_COVERAGE = coverage_text()


def call(func: Callable, image, positional: tuple, kwargs: dict):
    """``func``'s result for a GPU tensor, on its device; a TypeError where there is no GPU path yet.
    ``positional``: the arguments after the image (match's reference, specify's histogram).  Every argument not
    given takes its default from ``func``'s signature, the only home of the defaults.  The arguments are checked
    by the CPU path's own rules (``_validate.call`` on placeholders of the tensors' shapes), so both refuse
    alike."""
    function = func.__qualname__
    arguments = _arguments(func, image, positional, kwargs)
    name = _name(image)
    if arguments is None or name not in FUNCTIONS[function].dtypes or not _on_device(arguments.get("mask"), image):
        raise _arrays.gpu_error(function, f"{image.device.type} tensors", _COVERAGE)
    return _laid_out(func, image, arguments, name)


def _arguments(func: Callable, image, positional: tuple, kwargs: dict) -> dict | None:
    """Every argument of a call of ``func`` but the image, by name, those not given at ``func``'s defaults; None
    when the call gives one the GPU path does not take (or one ``func`` does not have)."""
    if func.__qualname__ not in FUNCTIONS:
        return None
    signature = inspect.signature(func)  # read per call: a default changed in the signature is seen here
    try:
        bound = signature.bind(image, *positional, **kwargs)
    except TypeError:
        return None
    given = {
        key: value
        for key, value in bound.arguments.items()
        if key != "image" and not _at_default(value, signature.parameters[key].default)
    }
    if set(given) - FUNCTIONS[func.__qualname__].keywords:
        return None
    bound.apply_defaults()
    del bound.arguments["image"]
    return dict(bound.arguments)


def _laid_out(func: Callable, image, kwargs: dict, name: str):
    """The result of ``func`` (its checked, complete arguments ``kwargs``) for a tensor of dtype ``name``, its
    image axes moved last for the kernels, and back."""
    function = func.__qualname__
    mask = kwargs["mask"]
    dtype, levels = _DTYPES[name]
    info = dtype_info(dtype)
    layout = (
        tuple(image.shape),
        name,
        None if mask is None else (tuple(mask.shape), str(mask.dtype)),
        kwargs.get("channel_axis"),
        kwargs["axes"],
    )  # histograms have no channel axis or colour
    try:
        checked = _checked_layout(*layout)
    except TypeError as exc:  # unhashable axes (a list): checked without the cache
        if "unhashable" not in str(exc):
            raise
        checked = _checked_layout.__wrapped__(*layout)
    if checked.channel is not None:
        return _colour(func, image, kwargs, checked.channel, checked.spatial, info)
    if kwargs.get("color") is not None:
        from ._color import resolve_mode

        resolve_mode(kwargs.get("color"), None, tuple(image.shape), info, "lightness")  # refuses: no channel axis
    batch = [a for a in range(image.ndim) if a not in checked.spatial]
    trailing = batch == list(range(len(batch)))  # the image axes are the last ones
    if mask is not None and not (trailing and tuple(mask.shape) == tuple(image.shape[len(batch) :])):
        mask = mask.expand(image.shape)  # not one mask shared by every image: as the image's shape
    if trailing:
        return _grey(function, image, mask, kwargs, len(batch), info, levels)
    if function == "match":  # the reference pairs with the images in their own layout
        raise _arrays.gpu_error(
            function,
            "images whose axes are not the last ones",
            "its GPU path matches images whose axes are the last ones",
        )
    order = batch + list(checked.spatial)  # the image axes moved last, and back
    result = _grey(
        function, image.permute(order), None if mask is None else mask.permute(order), kwargs, len(batch), info, levels
    )
    if function in ("histogram", "cumulative_distribution"):
        return result  # its batch axes keep their order
    return result.permute([order.index(a) for a in range(image.ndim)])


def _grey(function: str, image, mask, kwargs: dict, batch_axes: int, info, levels):
    """``function`` of a tensor whose image axes are its last ones (after ``batch_axes`` batch axes); mask: None,
    the image axes' shape (shared), or the tensor's."""
    from .clahe import checked_clip_limit, tile_counts, without_singletons

    spatial = tuple(image.shape[batch_axes:])
    pixels = int(np.prod(spatial))
    if not 0 < pixels < 2**31:
        raise _arrays.gpu_error(function, f"images of {pixels} pixels", _COVERAGE)
    shape, tiles, clip = (pixels,), (1,), None  # one tile: its layout does not matter
    if function == "clahe" and kwargs["compat"] is not None:
        return _opencv_clahe(image, mask, kwargs, spatial, info)
    if function == "clahe":
        grid = tile_counts(kwargs["tiles"], spatial)
        clip = checked_clip_limit(kwargs["clip_limit"])
        shape, tiles = without_singletons(spatial, grid)
        if len(shape) > MAX_AXES:
            raise _arrays.gpu_error(function, f"{len(shape)} image axes longer than one pixel", _COVERAGE)
    compat = _peer(function, kwargs, info) if function == "equalize" else None
    rows = image.numel() // pixels
    flat = image.reshape(rows, -1).contiguous()
    if mask is not None:
        mask = (mask.reshape(-1) if mask.ndim == len(spatial) else mask.reshape(rows, -1)).contiguous()
    batch = tuple(image.shape[:batch_axes])
    if function in ("match", "specify"):
        return _matched(function, flat, mask, kwargs, image, batch_axes, info, levels)
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


def clahe_per_sample(samples, tiles: tuple[int, int], clips: list[float]):
    """CLAHE of a ``(N, C, H, W)`` CUDA batch on its last two axes, sample k with clip limit ``clips[k]``: what
    ``clahe(samples[k], tiles=tiles, clip_limit=clips[k], axes=(-2, -1))`` gives for every k, in one call (the
    draws of a RandomCLAHE)."""
    import torch

    from .clahe import checked_clip_limit, output_bits, tile_counts, without_singletons

    name = str(samples.dtype).removeprefix("torch.")
    if name not in _DTYPES or samples.ndim != 4:
        raise _arrays.gpu_error("clahe", f"{samples.device.type} {name} tensors", _COVERAGE)
    spatial = tuple(samples.shape[-2:])
    shape, grid = without_singletons(spatial, tile_counts(tiles, spatial))
    limits = torch.tensor([checked_clip_limit(c) for c in clips], dtype=torch.float64, device=samples.device)
    flat = samples.reshape(-1, spatial[0] * spatial[1]).contiguous()
    per_image = limits.repeat_interleave(samples.shape[1])  # every channel of a sample
    dtype, levels = _DTYPES[name]
    info = dtype_info(dtype)
    if levels is None:
        from ._gpu_clahe_float import clahe_batch as float_batch

        return float_batch(flat, None, _tile_grid(shape, grid, None, str(samples.device)), per_image).reshape(
            samples.shape
        )
    from ._gpu_clahe import clahe_batch

    bits = output_bits(info, info.lo, info.hi)
    return clahe_batch(
        flat, None, _tile_grid(shape, grid, bits, str(samples.device)), per_image, int(info.lo), levels
    ).reshape(samples.shape)


def _matched(function: str, flat, mask, kwargs: dict, image, batch_axes: int, info, levels: int | None):
    """match or specify of integer images (``flat``: their pixels, ``image``: their layout, the image axes last)
    onto the CPU path's targets (``_gpu_match``)."""
    from . import matching
    from ._gpu_match import map_batch
    from .clahe import output_bits

    if levels is None:
        raise _arrays.gpu_error(
            function, f"{image.dtype} tensors", "its GPU path so far maps 8- and 16-bit integer images"
        )
    if function == "specify":
        targets = [matching.specify_target(info, kwargs["histogram"], kwargs["alpha"], kwargs["out_range"])]
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

    from . import matching
    from .histogram import histogram

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
    if on_device:
        counts, _ = call(histogram.__wrapped__, reference, (), {"axes": ref_spatial, "mask": reference_mask})
        counts = counts.cpu().numpy()
    else:
        counts = np.asarray(histogram(reference, mask=reference_mask, axes=ref_spatial)[0])
    ref_info = dtype_info(_DTYPES[ref_dtype][0])
    return matching.reference_targets(counts.reshape(-1, counts.shape[-1]), ref_info, info), target_of


def _opencv_clahe(image, mask, kwargs: dict, spatial: tuple[int, ...], info):
    """clahe(compat='opencv') of images whose axes are the last ones (``_gpu_clahe_opencv``), with the CPU
    path's checks and geometry (``_compat``)."""
    from . import _compat, _validate
    from ._gpu_clahe_opencv import clahe_batch
    from .clahe import checked_clip_limit, tile_counts

    _validate.choice(kwargs["compat"], "compat", ("opencv",))
    _compat.check_opencv_clahe(None, mask, None, None, None, kwargs["color"])
    tiles = tile_counts(kwargs["tiles"], spatial)
    clip = checked_clip_limit(kwargs["clip_limit"], opencv=True)
    tile_h, tile_w, limit = _compat.opencv_geometry(info, spatial, tiles, clip)
    flat = image.reshape(-1, int(np.prod(spatial))).contiguous()
    return clahe_batch(flat, *spatial, tiles, tile_h, tile_w, limit).reshape(image.shape)


def _colour(func: Callable, image, kwargs: dict, channel: int, spatial: tuple[int, ...], info):
    """``func`` of colour images (``channel`` the channel axis): per channel, or the luma or HSV value
    equalized as a grey image and RGB rebuilt around it (``_gpu_color``)."""
    function = func.__qualname__
    from ._color import resolve_mode
    from ._layout import grey_axes

    if function not in ("equalize", "clahe") or kwargs["compat"] is not None:
        raise _arrays.gpu_error(
            function, "colour images", "its GPU path takes colour images in equalize and clahe, without compat"
        )
    mode = resolve_mode(kwargs["color"], channel, tuple(image.shape), info, default="lightness")
    grey = kwargs | {"channel_axis": None, "color": None}
    mask = kwargs["mask"]
    if mode == "per-channel":  # the channels as a batch axis, first
        moved = image.movedim(channel, 0)
        if mask is not None:
            mask = mask.expand(moved.shape[1:]).unsqueeze(0).expand(moved.shape)
        axes = tuple(a + 1 if a < channel else a for a in spatial)
        return _laid_out(func, moved, grey | {"axes": axes, "mask": mask}, _name(moved)).movedim(0, channel)
    if mode not in ("luma", "value"):
        raise _arrays.gpu_error(
            function,
            f"color={mode!r}",
            "its GPU path has color='luma', 'value' and "
            "'per-channel' (the CPU path's default is 'lightness': pass color explicitly)",
        )
    import torch

    from . import _gpu_color

    compute = torch.float32 if image.dtype == torch.float16 else image.dtype  # as the CPU path computes
    rgb = image.movedim(channel, -1).to(compute).contiguous()
    pixels = rgb.reshape(-1, rgb.shape[-1])
    old = _gpu_color.intensity(pixels, mode)
    new = _laid_out(func, old.reshape(rgb.shape[:-1]), grey | {"axes": grey_axes(spatial, channel)}, _name(old))
    out = _gpu_color.rebuild(pixels, old, new.reshape(-1), mode, info.lo, info.hi)
    return out.reshape(rgb.shape).to(image.dtype).movedim(-1, channel)


def _at_default(value, default) -> bool:
    """Whether an argument is given at its default (no GPU path needs to know of it then)."""
    return default is not inspect.Parameter.empty and type(value) is type(default) and value == default


def _name(tensor) -> str:
    """A tensor's dtype by name, as ``_DTYPES`` has it."""
    return str(tensor.dtype).removeprefix("torch.")


@functools.lru_cache(maxsize=256)
def _checked_layout(shape: tuple[int, ...], dtype: str, mask: tuple | None, channel_axis, axes):
    """The CPU path's checks of a call's layout (``_validate.call`` on placeholders of the tensors' shapes):
    kept, as calls on batches of one shape come in series.  ``mask``: (shape, torch dtype) or None."""
    from . import _validate

    mask_placeholder = None if mask is None else _placeholder(mask[0], _numpy_dtype(mask[1]))
    return _validate.call(
        _placeholder(shape, _DTYPES[dtype][0]), mask_placeholder, None, None, None, channel_axis, axes
    )


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


def _peer(function: str, kwargs: dict, info) -> str | None:
    """equalize's compat mode where the GPU path has it ('opencv', 'pillow'), its refusals the CPU path's."""
    from . import _compat, _validate

    mode = _validate.choice(kwargs["compat"], "compat", _validate.COMPAT_MODES)
    if mode is None:
        return None
    if mode not in ("opencv", "pillow"):
        raise _arrays.gpu_error(function, f"compat={mode!r}", "its GPU path has compat='opencv' and 'pillow' only")
    _compat.check_peer(mode, info, None, kwargs["mask"], None, None)
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

    from ._spec import bin_centres

    cum = torch.cumsum(counts, dim=-1, dtype=torch.float64)
    total = cum[..., -1:]
    return torch.where(total > 0, cum / torch.where(total > 0, total, 1), torch.nan), bin_centres(edges)


@functools.lru_cache(maxsize=32)
def _tile_grid(shape: tuple[int, ...], tiles: tuple[int, ...], output_bits: int | None, device: str):
    """The device's copy of the CPU path's tile plan of one image shape (the output levels' bits bound the
    integer weights' precision; None: float weights), kept as the CPU path keeps its plans."""
    from ._gpu_clahe import TileGrid
    from .clahe import axis_plans

    return TileGrid(shape, tiles, *axis_plans(shape, tiles, output_bits), device, exact=output_bits is not None)
