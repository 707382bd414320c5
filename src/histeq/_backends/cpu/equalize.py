"""Global histogram equalization."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from histeq import _checks as _validate
from histeq._backends.cpu import color as _color
from histeq._backends.cpu import matching
from histeq._backends.cpu import peers as _compat
from histeq._fitted import equalize as mapping
from histeq._kernels import UINT8, UINT16, DtypeInfo, core, get_num_threads, require_tables, resolve_threads
from histeq._layout import BatchLayout
from histeq._request import Request
from histeq._spec import Spec, make_spec

__all__ = ["run", "one_image", "equalize_grey"]

#: The compat modes of the compiled peer kernel.
_PEERS = ("opencv", "pillow")


def _equalize_exact(arr, info, channel, spatial, mask, mode, out_range, exact, return_ties, threads):
    """``equalize(exact=True)``: exact specification of the uniform histogram over the output range; an image
    with no counted pixel gets the identity rescale, as without ``exact``."""

    def make_targets(image_info, shape, image_spatial):
        out_lo, out_hi = out_range if out_range is not None else _color.intensity_range(image_info, mode)
        return (
            [matching.uniform_target(image_info, out_lo, out_hi)],
            np.zeros(BatchLayout(shape, image_spatial).batch, dtype=np.int64),
        )

    def uncounted(values, values_info):
        nominal = (0.0, 100.0) if mode == "lightness" else None
        spec = make_spec(values_info, None, nominal, out_range if mode == "per-channel" else nominal)
        return mapping.rescale(values_info, spec).apply(values.astype(values_info.dtype, copy=False))

    return matching.specify_exactly(
        arr, info, channel, spatial, mask, mode, make_targets, exact, return_ties, threads, uncounted
    )


def run(request: Request) -> Any:
    """The CPU backend's :func:`histeq.equalize`."""
    call = request.in_memory()
    arr, info, channel, spatial = call.arr, call.info, call.channel, call.spatial
    mode = request.compat
    nthreads = resolve_threads(request.arguments["threads"])
    exact, return_ties = request.arguments["exact"], request.arguments["return_ties"]
    route, color_mode = _route(call, mode, request.arguments["color"], exact is not False or return_ties is not False)
    # Every argument is checked; one place per route does the work.
    if route == "exact":
        return _equalize_exact(
            arr, info, channel, spatial, call.mask, color_mode, call.out_range, exact, return_ties, nthreads
        )
    if route == "colour":
        return _color.equalize(
            arr,
            info,
            channel,
            spatial,
            call.mask,
            color_mode,
            call.nbins,
            call.in_range,
            nthreads,
            equalize_grey,
            fused=True,
        )
    if route == "compat":
        return _compat.equalize(
            arr, info, mode, channel, spatial, call.mask, call.nbins, call.in_range, call.out_range, nthreads
        )
    mask_per_channel = _validate.channel_mask(call.mask, channel, arr.shape)
    return equalize_grey(
        arr, info, spatial, mask_per_channel, make_spec(info, call.nbins, call.in_range, call.out_range), nthreads
    )


def _route(call: _validate.Call, compat: str | None, color, exact: bool) -> tuple[str, str]:
    """(route, colour mode) of a checked call: ``"exact"``, ``"colour"`` (the intensity of colour images),
    ``"compat"`` (the peers' rules) or ``"grey"`` (grey images, and colour images channel by channel); the
    argument combinations a route does not take are refused here."""
    color_mode = _color.resolve_mode(
        color, call.channel, call.arr.shape, call.info, default="per-channel" if compat else "lightness"
    )
    intensity = color_mode != "per-channel"
    if exact and compat is not None:
        raise ValueError(f"exact equalization has no compat mode; got compat={compat!r}")
    if intensity and compat is not None:
        raise ValueError(f"compat={compat!r} equalizes colour images per channel; got color={color_mode!r}")
    if intensity and call.out_range is not None:
        raise ValueError(f"out_range applies to grey and per-channel equalization, not color={color_mode!r}")
    if exact:
        return "exact", color_mode
    return ("colour" if intensity else "compat" if compat is not None else "grey"), color_mode


def one_image(arguments: Mapping[str, Any]) -> np.ndarray | None:
    """The commonest calls, one 8- or 16-bit image (the peers': 8-bit) with every other argument asking for
    nothing more, in one step, so that a per-sample transform pays little more than the kernel; None where the
    full path would check or lay out more (it then takes the call)."""
    if (
        arguments["nbins"] is None
        and arguments["mask"] is None
        and arguments["axes"] is None
        and arguments["channel_axis"] is None
        and arguments["color"] is None
        and arguments["in_range"] is None
        and arguments["out_range"] is None
        and arguments["exact"] is False
        and arguments["return_ties"] is False
        and arguments["threads"] is None
        and arguments["channel_order"] == "rgb"
    ):
        return _one_image(arguments["image"], arguments["compat"])
    return None


def _one_image(image: np.ndarray, compat: object) -> np.ndarray | None:
    """The commonest calls, one 8- or 16-bit image (the peers': 8-bit) with every other argument at its default,
    in one step, so that a per-sample transform pays little more than the kernel; None where the full path
    would check or lay out more (it then takes the call)."""
    if compat is None:
        if image.dtype is UINT8 or image.dtype is UINT16:
            out = np.empty(image.shape, image.dtype)
            if core.equalize_default(image, out, get_num_threads()):  # it declines other layouts
                return out
    elif (
        type(compat) is str
        and compat in _PEERS
        and image.dtype is UINT8
        and image.ndim
        and image.size
        and image.flags.c_contiguous
        and image.flags.aligned
    ):
        out = np.empty(image.shape, image.dtype)
        core.equalize_peer(image.reshape(1, -1, 1), None, out.reshape(1, -1, 1), rule=compat, threads=get_num_threads())
        return out
    return None


def equalize_grey(
    arr: np.ndarray, info: DtypeInfo, spatial: tuple[int, ...], mask: np.ndarray | None, spec: Spec, threads: int
) -> np.ndarray:
    """Equalize every image of ``arr`` (no channel axis; ``mask`` has ``arr``'s shape)."""
    layout = BatchLayout(arr.shape, spatial)
    require_tables(24 * spec.nbins * min(threads, layout.batch), arr.nbytes, f"histograms of {spec.nbins} bins")
    flat = layout.flatten(arr, info.compute)
    flat_mask = None if mask is None else layout.flatten(mask)
    out = np.empty_like(flat)
    core.equalize(flat, flat_mask, out, spec.core, threads=threads)
    return layout.restore(out).astype(info.dtype, copy=False)
