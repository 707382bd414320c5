"""Contrast-limited adaptive histogram equalization (CLAHE), in any number of dimensions."""

from __future__ import annotations

import atexit
import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from histeq import _checks as _validate
from histeq._backends.cpu import color as _color
from histeq._backends.cpu import peers as _compat
from histeq._kernels import (
    UINT8,
    UINT16,
    DtypeInfo,
    core,
    dtype_info,
    get_num_threads,
    resolve_threads,
    table_budget,
)
from histeq._layout import BatchLayout
from histeq._request import Request, make
from histeq._spec import Spec, make_spec
from histeq._tiles import DEFAULT_TILES, kernel_plan, output_bits, without_singletons

__all__ = ["run", "one_image", "per_image"]


def run(request: Request) -> np.ndarray:
    """The CPU backend's :func:`histeq.clahe`."""
    call = request.in_memory()
    arr, info, channel, spatial = call.arr, call.info, call.channel, call.spatial
    grid, mode, clip = request.tiles, request.compat, request.clip_limit
    assert grid is not None
    nthreads = resolve_threads(request.arguments["threads"])
    route = _route(call, mode, request.arguments["color"])
    # Every argument is checked; one place per route does the work.
    if route == "opencv":
        return _compat.clahe_opencv(arr, info, spatial, grid, clip, nthreads)
    grey = functools.partial(_clahe_grey, tiles=grid, clip=clip)
    if route != "grey":  # a colour mode
        return _color.equalize(
            arr, info, channel, spatial, call.mask, route, call.nbins, call.in_range, nthreads, grey, fused=False
        )
    mask_per_channel = _validate.channel_mask(call.mask, channel, arr.shape)
    return grey(
        arr, info, spatial, mask_per_channel, make_spec(info, call.nbins, call.in_range, call.out_range), nthreads
    )


def _route(call: _validate.Call, compat: str | None, color) -> str:
    """Where a checked call goes: ``"opencv"`` (compat), a colour mode (the intensity of colour images), or
    ``"grey"`` (grey images, and colour images channel by channel); the arguments a route does not take are
    refused here."""
    if compat is not None:
        _compat.check_opencv_clahe(call.channel, call.mask, call.nbins, call.in_range, call.out_range, color)
        return "opencv"
    color_mode = _color.resolve_mode(color, call.channel, call.arr.shape, call.info, default="lightness")
    if call.channel is None or color_mode == "per-channel":
        return "grey"
    if call.out_range is not None:
        raise ValueError(f"out_range applies to grey and per-channel CLAHE, not color={color_mode!r}")
    return color_mode


def one_image(arguments: Mapping[str, Any]) -> np.ndarray | None:
    """The commonest call, one 2-D 8- or 16-bit image with a tile count and a clip limit, in one step (a
    per-sample transform pays little more than the kernel): what the full path computes, or None where the
    full path would check or lay out more (it then takes the call)."""
    image = arguments["image"]
    tiles, clip_limit = arguments["tiles"], arguments["clip_limit"]
    if tiles is None and arguments["kernel_size"] is None:
        tiles = DEFAULT_TILES
    if (
        image.ndim == 2
        and (image.dtype is UINT8 or image.dtype is UINT16)
        and type(tiles) is int
        and type(clip_limit) in (float, int)
        and arguments["nbins"] is None
        and arguments["mask"] is None
        and arguments["axes"] is None
        and arguments["channel_axis"] is None
        and arguments["color"] is None
        and arguments["in_range"] is None
        and arguments["out_range"] is None
        and arguments["compat"] is None
        and arguments["threads"] is None
        and arguments["channel_order"] == "rgb"
        and arguments["kernel_size"] is None
        and arguments["spacing"] is None
    ):
        return _one_grey_image(image, tiles, clip_limit)
    return None


def per_image(request: Request) -> np.ndarray:
    """CLAHE of a batch, image k of the leading axis with clip limit ``request.clip_limits[k]`` (the draws of a
    ``transforms.RandomCLAHE``)."""
    image = request.image
    out = np.empty_like(image)
    for k, clip_limit in enumerate(request.clip_limits or ()):
        out[k] = run(make("clahe", {**request.arguments, "image": image[k], "clip_limit": clip_limit}))
    return out


def _one_grey_image(image: np.ndarray, tiles: int, clip_limit: float) -> np.ndarray | None:
    rows, cols = image.shape
    if not (
        1 < rows
        and 1 < cols
        and 1 <= tiles <= min(rows, cols)
        and 1 <= clip_limit < math.inf
        and image.flags.c_contiguous
        and image.flags.aligned
    ):
        return None
    info, value_bits, spec = _default_spec(image.dtype)
    out = np.empty_like(image)
    core.clahe(
        image.reshape(1, -1),
        None,
        out.reshape(1, -1),
        kernel_plan(image.shape, (tiles, tiles), value_bits),
        spec,
        clip_limit=float(clip_limit),
        clip_groups=info.clip_groups,
        table_budget=float(table_budget(image.nbytes)),
        threads=get_num_threads(),
    )
    return out


@atexit.register
def _release_kept_plans() -> None:
    """The kept specs are bound objects: released before the interpreter tears the extension down,
    which would otherwise report them as leaked."""
    _default_spec.cache_clear()


@functools.cache
def _default_spec(dtype: np.dtype) -> tuple[DtypeInfo, int, core.Spec]:
    """(dtype entry, bits of the output range, the kernel's spec) of a dtype's defaults."""
    info = dtype_info(dtype)
    spec = make_spec(info, None, None, None)
    return info, output_bits(info, spec.out_lo, spec.out_hi), spec.core


def _clahe_grey(
    arr: np.ndarray,
    info: DtypeInfo,
    spatial: tuple[int, ...],
    mask: np.ndarray | None,
    spec: Spec,
    threads: int,
    tiles: tuple[int, ...],
    clip: float | None,
) -> np.ndarray:
    layout = BatchLayout(arr.shape, spatial)
    flat = layout.flatten(arr, info.compute)
    flat_mask = None if mask is None else layout.flatten(mask)
    # An axis of length 1 is one tile whose neighbour has weight 0: dropped, it changes nothing.
    shape, tiles = without_singletons(layout.spatial_shape, tiles)
    plan = kernel_plan(shape, tiles, output_bits(info, spec.out_lo, spec.out_hi))
    out = np.empty_like(flat)
    core.clahe(
        flat,
        flat_mask,
        out,
        plan,
        spec.core,
        clip_limit=-1.0 if clip is None else clip,
        clip_groups=info.clip_groups,
        table_budget=float(table_budget(arr.nbytes)),
        threads=threads,
    )
    return layout.restore(out).astype(info.dtype, copy=False)
