"""Colour images: equalize one intensity channel and rebuild RGB around it."""

from __future__ import annotations

import numpy as np

from histeq import _checks as _validate
from histeq._kernels import FLOAT_NBINS, DtypeInfo, core, dtype_info
from histeq._layout import BatchLayout, grey_axes
from histeq._spec import Spec, make_spec

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
        raise TypeError(
            f"color={mode!r} supports uint8, uint16 and float images, got {info.dtype}; use color='per-channel'"
        )
    return mode


def equalize(
    arr: np.ndarray,
    info: DtypeInfo,
    channel: int,
    spatial: tuple[int, ...],
    mask: np.ndarray | None,
    mode: str,
    nbins: int | None,
    in_range: tuple[float, float] | None,
    threads: int,
    equalize_grey,
    fused: bool = False,
):
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
    intensity, intensity_info = _intensity(flat, info, mode, threads)
    if mode == "lightness":
        spec = Spec(nbins or FLOAT_NBINS, True, 0.0, 100.0, 0.0, 100.0, 0.0, 100.0)
        new = equalize_grey(intensity.reshape(grey_shape), intensity_info, axes, mask, spec, threads)
        core.lightness_apply(flat, np.ascontiguousarray(new).ravel(), out, scale=hi, lo=lo, hi=hi, threads=threads)
    else:
        apply = core.luma_apply if mode == "luma" else core.value_apply
        spec = make_spec(intensity_info, nbins, in_range, None)
        new = equalize_grey(intensity.reshape(grey_shape), intensity_info, axes, mask, spec, threads)
        apply(flat, intensity, np.ascontiguousarray(new).ravel(), out, lo=lo, hi=hi, threads=threads)
    return np.moveaxis(out.reshape(rgb.shape), -1, channel).astype(info.dtype, copy=False)


def _intensity(flat: np.ndarray, info: DtypeInfo, mode: str, threads: int) -> tuple[np.ndarray, DtypeInfo]:
    """The intensity channel of (P, C) colour pixels and its dtype entry: L* as float32 in [0, 100], or luma
    or HSV value in the image's compute dtype."""
    if mode == "lightness":
        lightness = np.empty(flat.shape[0], dtype=np.float32)
        core.lightness(flat, lightness, scale=info.hi, threads=threads)
        return lightness, _LIGHTNESS
    intensity = np.empty(flat.shape[0], dtype=info.compute)
    (core.luma if mode == "luma" else core.value)(flat, intensity, threads=threads)
    return intensity, dtype_info(info.compute)


def intensity_info(info: DtypeInfo, mode: str) -> DtypeInfo:
    """The dtype entry of the intensity that colour mode ``mode`` equalizes."""
    return _LIGHTNESS if mode == "lightness" else dtype_info(info.compute)


def intensity_range(info: DtypeInfo, mode: str) -> tuple[float, float]:
    """The range of what mode ``mode`` maps (info: its dtype entry): L* spans [0, 100]; grey values, channels,
    luma and value the dtype's nominal range."""
    return (0.0, 100.0) if mode == "lightness" else (info.lo, info.hi)


def intensity_image(
    arr: np.ndarray, info: DtypeInfo, channel: int, mode: str, threads: int
) -> tuple[np.ndarray, DtypeInfo]:
    """The intensity of a colour image, with the channel axis removed."""
    rgb = np.moveaxis(arr, channel, -1)
    flat = np.ascontiguousarray(rgb, dtype=info.compute).reshape(-1, rgb.shape[-1])
    intensity, intensity_info = _intensity(flat, info, mode, threads)
    return intensity.reshape(rgb.shape[:-1]), intensity_info


def _equalize_luma(rgb, info, axes, mask, nbins, in_range, threads):
    """Integer luma in one fused kernel: no intermediate luma image."""
    layout = BatchLayout(rgb.shape[:-1], axes)
    flat = layout.flatten(rgb, info.compute, channels=True)
    flat_mask = None if mask is None else layout.flatten(mask)
    out = np.empty_like(flat)
    spec = make_spec(info, nbins, in_range, None)
    core.equalize_luma(flat, flat_mask, out, spec.core, threads=threads)
    return layout.restore(out, channels=True)
