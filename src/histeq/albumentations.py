"""histeq's equalizations as albumentations transforms (albumentations >= 2.0).

``Equalize``, ``CLAHE``, ``RandomCLAHE``, ``Specify`` and ``MatchHistograms`` are ``ImageOnlyTransform`` objects in
albumentations' own form: an ``InitSchema`` that checks the arguments, ``p`` (0.5 by default, as albumentations'
transforms have it), random parameters drawn from the transform's own generator (``self.py_random``, which
``Compose(seed=...)`` seeds, so a seeded pipeline reproduces its run), and the targets albumentations passes:
``image`` (H, W) or (H, W, C), ``images`` (N, H, W[, C]), ``volume`` (D, H, W[, C]) and ``volumes``
(N, D, H, W[, C]).  Masks, bounding boxes and keypoints pass through untouched.

Unlike albumentations' own ``CLAHE`` and ``Equalize`` (uint8 only, 256 levels), every dtype is computed at full
precision: uint16 and float32 images keep every level and their dtype.  A volume is one 3-D image: CLAHE's
tiles are 3-D and equalization has one histogram per volume, unless ``per_slice=True`` asks for albumentations'
slice-by-slice behaviour.  ``color=None`` (the default) works on each channel alone; ``"lightness"``, ``"luma"``
or ``"value"`` equalize the intensity of RGB images and keep their colours.

Every transform round-trips through ``A.to_dict``/``A.from_dict`` and ``A.save``/``A.load``: ``Specify`` holds its
target histogram as a list, ``MatchHistograms`` its reference's histogram per channel (which is all that
matching uses of a reference), never an array or a callable.

Importing this module imports albumentations (``pip install "histeq[albumentations]"``); ``import histeq`` alone
does not.

Examples
--------
>>> import albumentations as A, numpy as np
>>> from histeq.albumentations import RandomCLAHE
>>> pipeline = A.Compose([RandomCLAHE(clip_limit=(1.5, 3.0), tiles=(4, 8), p=1.0)], seed=7)
>>> image = np.random.default_rng(0).integers(0, 4096, (64, 64), dtype=np.uint16)
>>> out = pipeline(image=image)["image"]
>>> out.dtype, out.shape
(dtype('uint16'), (64, 64))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, Optional, Union

import numpy as np
from albumentations.core.transforms_interface import BaseTransformInitSchema, ImageOnlyTransform
from pydantic import AfterValidator, Field

from histeq._clahe import clahe
from histeq._equalize import equalize
from histeq._histogram import histogram
from histeq._matching import match, specify
from histeq._tiles import checked_regions, fitted, fitted_regions

__all__ = ["CLAHE", "Equalize", "MatchHistograms", "RandomCLAHE", "Specify"]

ColorMode = Optional[Literal["lightness", "luma", "value"]]


def _layout(ndim: int, leading: int, spatial: int, color: str | None) -> dict[str, Any]:
    """histeq's layout of an albumentations array: ``leading`` batch axes, then ``spatial`` image axes, then the
    channels when there is an axis left (albumentations keeps channels last)."""
    if leading == 0 and ndim == spatial:
        return {}  # one grey image: histeq's defaults (and its one-step path for the commonest calls)
    axes = tuple(range(leading, leading + spatial))
    if ndim == leading + spatial or color is None:
        return {"axes": axes}  # grey, or each channel alone (the channel axis is then a batch axis)
    return {"axes": axes, "channel_axis": -1, "color": color}


def _ordered(low_high: tuple[float, float]) -> tuple[float, float]:
    if low_high[0] > low_high[1]:
        raise ValueError(f"a range must be (low, high) with low <= high, got {low_high}")
    return low_high


class _Equalization(ImageOnlyTransform):
    """The targets, laid out for histeq: every array albumentations passes goes through :meth:`_run`."""

    color: ColorMode
    per_slice: bool

    def _run(self, array: np.ndarray, leading: int, spatial: int, **params: Any) -> np.ndarray:
        raise NotImplementedError

    def _grey(self, array: np.ndarray, leading: int, spatial: int) -> dict[str, Any]:
        grey = array.ndim == leading + spatial or array.shape[-1] == 1
        return _layout(array.ndim, leading, spatial, None if grey else self.color)

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        return self._run(img, 0, 2, **params)

    def apply_to_images(self, images: np.ndarray, **params: Any) -> np.ndarray:
        return self._run(images, 1, 2, **params)

    def apply_to_volume(self, volume: np.ndarray, **params: Any) -> np.ndarray:
        return self._run(volume, 1, 2, **params) if self.per_slice else self._run(volume, 0, 3, **params)

    def apply_to_volumes(self, volumes: np.ndarray, **params: Any) -> np.ndarray:
        return self._run(volumes, 2, 2, **params) if self.per_slice else self._run(volumes, 1, 3, **params)


class Equalize(_Equalization):
    """Global histogram equalization (:func:`histeq.equalize`) of each image, at the image's own precision.

    Parameters
    ----------
    color : {None, "lightness", "luma", "value"}, optional
        None: each channel alone.  Otherwise the intensity of RGB images to equalize, their colours kept.
    per_slice : bool, optional
        A volume slice by slice instead of one histogram per volume.
    p : float, optional
        The probability of applying the transform; default 0.5.

    Notes
    -----
    Targets: image, images, volume, volumes.  Every dtype histeq takes: uint8, int8, uint16, int16, uint32,
    int32, float16, float32, float64.
    """

    class InitSchema(BaseTransformInitSchema):
        color: ColorMode = None
        per_slice: bool = False

    def __init__(self, color: ColorMode = None, per_slice: bool = False, p: float = 0.5):
        super().__init__(p=p)
        self.color, self.per_slice = color, per_slice

    def _run(self, array: np.ndarray, leading: int, spatial: int, **params: Any) -> np.ndarray:
        return equalize(array, **self._grey(array, leading, spatial))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("color", "per_slice")


class CLAHE(_Equalization):
    """Contrast-limited adaptive histogram equalization (:func:`histeq.clahe`), 3-D on volumes.

    Parameters
    ----------
    clip_limit : float or None, optional
        The clip limit, at least 1 (histeq's scale, see :func:`histeq.clahe`); None: no limit.  Default 2.
    tiles : int or tuple of int, optional
        Tiles per spatial axis (one number, or one per axis), at most each axis's length.  Default (neither
        ``tiles`` nor ``kernel_size``): 8.
    kernel_size : float or tuple of float, optional
        Instead of ``tiles``: the regions' size per spatial axis, in pixels or in the units of ``spacing`` (see
        :func:`histeq.clahe`), at most the image's size.
    spacing : float or tuple of float, optional
        The pixel (voxel) size per spatial axis, in the units of ``kernel_size``.
    color, per_slice, p
        As in :class:`Equalize`.
    """

    class InitSchema(BaseTransformInitSchema):
        clip_limit: Optional[Annotated[float, Field(ge=1)]] = 2.0
        tiles: Optional[Union[Annotated[int, Field(ge=1)], tuple[Annotated[int, Field(ge=1)], ...]]] = None
        kernel_size: Optional[Union[Annotated[float, Field(gt=0)], tuple[Annotated[float, Field(gt=0)], ...]]] = None
        spacing: Optional[Union[Annotated[float, Field(gt=0)], tuple[Annotated[float, Field(gt=0)], ...]]] = None
        color: ColorMode = None
        per_slice: bool = False

    def __init__(
        self,
        clip_limit: float | None = 2.0,
        tiles: int | tuple[int, ...] | None = None,
        color: ColorMode = None,
        per_slice: bool = False,
        p: float = 0.5,
        kernel_size: float | tuple[float, ...] | None = None,
        spacing: float | tuple[float, ...] | None = None,
    ):
        super().__init__(p=p)
        checked_regions(tiles, kernel_size, spacing)
        self.clip_limit, self.tiles, self.color, self.per_slice = clip_limit, tiles, color, per_slice
        self.kernel_size, self.spacing = kernel_size, spacing

    def _run(self, array: np.ndarray, leading: int, spatial: int, **params: Any) -> np.ndarray:
        sizes = array.shape[leading : leading + spatial]
        tiles = fitted_regions(self.tiles, self.kernel_size, self.spacing, sizes)
        return clahe(array, tiles=tiles, clip_limit=self.clip_limit, **self._grey(array, leading, spatial))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("clip_limit", "tiles", "kernel_size", "spacing", "color", "per_slice")


class RandomCLAHE(_Equalization):
    """CLAHE with its clip limit and tiles drawn per call from the transform's generator (``Compose(seed=...)``
    reproduces them); the images of one call (``images``, a volume's slices) share the draw.

    Parameters
    ----------
    clip_limit : (float, float), optional
        The range of clip limits, both at least 1; default (1, 4).
    tiles : (int, int), optional
        The range of tiles per axis, both ends included, at most each axis's length; default (4, 12).
    color, per_slice, p
        As in :class:`Equalize`.
    """

    class InitSchema(BaseTransformInitSchema):
        clip_limit: Annotated[
            tuple[Annotated[float, Field(ge=1)], Annotated[float, Field(ge=1)]], AfterValidator(_ordered)
        ] = (
            1.0,
            4.0,
        )
        tiles: Annotated[tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]], AfterValidator(_ordered)] = (
            4,
            12,
        )
        color: ColorMode = None
        per_slice: bool = False

    def __init__(
        self,
        clip_limit: tuple[float, float] = (1.0, 4.0),
        tiles: tuple[int, int] = (4, 12),
        color: ColorMode = None,
        per_slice: bool = False,
        p: float = 0.5,
    ):
        super().__init__(p=p)
        self.clip_limit, self.tiles, self.color, self.per_slice = clip_limit, tiles, color, per_slice

    def get_params(self) -> dict[str, Any]:
        return {
            "clip_limit": self.py_random.uniform(*self.clip_limit),
            "tiles": self.py_random.randint(*self.tiles),
        }

    def _run(self, array: np.ndarray, leading: int, spatial: int, **params: Any) -> np.ndarray:
        tiles = fitted(params["tiles"], array.shape[leading : leading + spatial])
        return clahe(array, tiles=tiles, clip_limit=params["clip_limit"], **self._grey(array, leading, spatial))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("clip_limit", "tiles", "color", "per_slice")


class Specify(_Equalization):
    """Histogram specification (:func:`histeq.specify`): each image mapped onto a target histogram.

    Parameters
    ----------
    histogram : list of float or {"uniform", "rayleigh", "exponential"}
        The target's weights over the output range, or a named density.
    alpha : float, optional
        The named densities' parameter; default 0.4.
    color, per_slice, p
        As in :class:`Equalize`.
    """

    class InitSchema(BaseTransformInitSchema):
        histogram: Union[Literal["uniform", "rayleigh", "exponential"], list[Annotated[float, Field(ge=0)]]]
        alpha: Annotated[float, Field(gt=0)] = 0.4
        color: ColorMode = None
        per_slice: bool = False

    def __init__(
        self,
        histogram: str | Sequence[float],
        alpha: float = 0.4,
        color: ColorMode = None,
        per_slice: bool = False,
        p: float = 0.5,
    ):
        super().__init__(p=p)
        self.histogram = histogram if isinstance(histogram, str) else [float(w) for w in histogram]
        self.alpha, self.color, self.per_slice = alpha, color, per_slice

    def _run(self, array: np.ndarray, leading: int, spatial: int, **params: Any) -> np.ndarray:
        target = self.histogram if isinstance(self.histogram, str) else np.asarray(self.histogram)
        return specify(array, target, alpha=self.alpha, **self._grey(array, leading, spatial))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("histogram", "alpha", "color", "per_slice")


class MatchHistograms(_Equalization):
    """Histogram matching (:func:`histeq.match`) of each image onto a reference image's histogram.

    The reference is kept as what matching uses of it, its histogram, one bin per level and one per channel,
    so that the transform serializes as data (albumentations' ``HistogramMatching`` holds a callable and cannot).
    Integer references of at most 16 bits; each channel matched alone.

    Parameters
    ----------
    reference : (H, W[, C]) ndarray of 8 or 16 bits, optional
        The reference image.
    reference_histogram : list of list of int, optional
        Instead of ``reference``, its counts per level (one list per channel), with ``reference_dtype`` and
        ``reference_low`` (its first level): how ``to_dict`` writes it.
    reference_dtype : str, optional
    reference_low : int, optional
    per_slice, p
        As in :class:`Equalize`.
    """

    class InitSchema(BaseTransformInitSchema):
        reference: Optional[Any] = None
        reference_histogram: Optional[list[list[int]]] = None
        reference_dtype: Optional[Literal["uint8", "int8", "uint16", "int16"]] = None
        reference_low: Optional[int] = None
        per_slice: bool = False

    def __init__(
        self,
        reference: np.ndarray | None = None,
        reference_histogram: list[list[int]] | None = None,
        reference_dtype: str | None = None,
        reference_low: int | None = None,
        per_slice: bool = False,
        p: float = 0.5,
    ):
        super().__init__(p=p)
        if (reference is None) == (reference_histogram is None):
            raise ValueError("MatchHistograms takes either a reference image or its reference_histogram")
        if reference is not None:
            reference_histogram, reference_dtype, reference_low = _histogram_of(np.asarray(reference))
        elif reference_dtype is None or reference_low is None:
            raise ValueError("a reference_histogram needs its reference_dtype and reference_low")
        self.reference_histogram, self.reference_dtype, self.reference_low = (
            reference_histogram,
            reference_dtype,
            reference_low,
        )
        self.color, self.per_slice = None, per_slice
        self._reference = _rebuilt(reference_histogram, str(reference_dtype), int(reference_low))

    def _run(self, array: np.ndarray, leading: int, spatial: int, **params: Any) -> np.ndarray:
        layout = _layout(array.ndim, leading, spatial, None)
        channels = self._reference.shape[-1]
        if channels == 1:
            return match(array, self._reference[:, 0], **layout)
        if array.ndim == leading + spatial or array.shape[-1] != channels:
            raise ValueError(
                f"the reference has {channels} channels; an image of shape {array.shape} does not have them last"
            )
        return match(array, self._reference, channel_axis=-1, color="per-channel", **layout)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("reference_histogram", "reference_dtype", "reference_low", "per_slice")


def _histogram_of(reference: np.ndarray) -> tuple[list[list[int]], str, int]:
    """(counts per level of each channel, dtype name, first level) of an 8/16-bit reference image."""
    if reference.dtype.kind not in "iu" or reference.dtype.itemsize > 2:
        raise TypeError(
            f"MatchHistograms keeps a reference as its histogram per level: 8- or 16-bit integers, got "
            f"{reference.dtype}; for other references use histeq.match, or Specify with a histogram"
        )
    planes = reference[..., None] if reference.ndim == 2 else reference
    if planes.ndim != 3:
        raise ValueError(f"a reference is (H, W) or (H, W, C), got shape {reference.shape}")
    counts, _ = histogram(planes, axes=(0, 1))  # one per channel, every level of the dtype
    low = int(np.iinfo(reference.dtype).min)
    return [[int(c) for c in channel] for channel in counts], str(reference.dtype), low


def _rebuilt(counts: list[list[int]], dtype: str, low: int) -> np.ndarray:
    """A reference with the same histograms, (pixels, channels): matching reads nothing else of a reference."""
    levels = np.arange(low, low + len(counts[0]))
    return np.stack([np.repeat(levels, channel) for channel in counts], axis=-1).astype(dtype)
