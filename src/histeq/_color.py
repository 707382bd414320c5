"""Colour images: equalize one intensity channel and rebuild RGB around it."""

from __future__ import annotations

import numpy as np

from . import _validate
from ._kernels import FLOAT_NBINS, DtypeInfo, core, dtype_info
from ._layout import BatchLayout, grey_axes
from ._spec import Spec, make_spec

_LIGHTNESS = dtype_info(np.float32)


def resolve_mode(color: object, channel: int | None, shape: tuple[int, ...], info: DtypeInfo, default: str) -> str:
    """The colour mode of a call, checked against the image."""
    if channel is None:
        if color is not None:
            raise ValueError(f"color={color!r} needs channel_axis (the axis holding the colour channels)")
        return "per-channel"
    mode = _validate.choice(color, "color", _validate.COLOR_MODES) or default
    if mode == "per-channel":
        return mode
    if shape[channel] not in (3, 4):
        raise ValueError(
            f"color={mode!r} needs 3 (RGB) or 4 (RGBA) channels; axis {channel} has {shape[channel]}; "
            "use color='per-channel' for other channel counts"
        )
    if not info.color:
        raise TypeError(f"color={mode!r} supports uint8, uint16 and float images, got {info.dtype}; "
                        "use color='per-channel'")
    return mode


def equalize(arr: np.ndarray, info: DtypeInfo, channel: int, spatial: tuple[int, ...], mask: np.ndarray | None,
             mode: str, nbins: int | None, in_range: tuple[float, float] | None, threads: int, equalize_grey,
             fused: bool = False):
    """Equalize the intensity of every RGB(A) image of ``arr`` with ``equalize_grey``.

    ``fused``: ``equalize_grey`` is global equalization, which integer luma
    does in one fused kernel instead.
    """
    if mode == "lightness" and in_range is not None:
        raise ValueError("in_range applies to luma, value and per-channel equalization, not color='lightness'")
    rgb = np.moveaxis(arr, channel, -1)
    grey_shape = rgb.shape[:-1]
    axes = grey_axes(spatial, channel)
    if fused and mode == "luma" and not info.is_float:
        return np.moveaxis(_equalize_luma(rgb, info, axes, mask, nbins, in_range, threads), -1, channel)
    flat = np.ascontiguousarray(rgb, dtype=info.compute).reshape(-1, rgb.shape[-1])
    lo, hi = info.lo, info.hi
    out = np.empty_like(flat)
    if mode == "lightness":
        lightness = np.empty(flat.shape[0], dtype=np.float32)
        core.lightness(flat, lightness, scale=hi, threads=threads)
        spec = Spec(nbins or FLOAT_NBINS, True, 0.0, 100.0, 0.0, 100.0, 0.0, 100.0)
        new = equalize_grey(lightness.reshape(grey_shape), _LIGHTNESS, axes, mask, spec, threads)
        core.lightness_apply(flat, np.ascontiguousarray(new).ravel(), out, scale=hi, lo=lo, hi=hi, threads=threads)
    else:
        intensity_of, apply = (core.luma, core.luma_apply) if mode == "luma" else (core.value, core.value_apply)
        intensity = np.empty(flat.shape[0], dtype=info.compute)
        intensity_of(flat, intensity, threads=threads)
        intensity_info = dtype_info(info.compute)
        spec = make_spec(intensity_info, nbins, in_range, None)
        new = equalize_grey(intensity.reshape(grey_shape), intensity_info, axes, mask, spec, threads)
        apply(flat, intensity, np.ascontiguousarray(new).ravel(), out, lo=lo, hi=hi, threads=threads)
    return np.moveaxis(out.reshape(rgb.shape), -1, channel).astype(info.dtype, copy=False)


def _equalize_luma(rgb, info, axes, mask, nbins, in_range, threads):
    """Integer luma in one fused kernel: no intermediate luma image."""
    layout = BatchLayout(rgb.shape[:-1], axes)
    flat = layout.flatten(rgb, info.compute, channels=True)
    flat_mask = None if mask is None else layout.flatten(mask)
    out = np.empty_like(flat)
    spec = make_spec(info, nbins, in_range, None)
    core.equalize_luma(flat, flat_mask, out, threads=threads, **spec.equalize_kwargs())
    return layout.restore(out, channels=True)
