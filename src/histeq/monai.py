"""histeq's equalizations as MONAI transforms: channel-first 2-D and 3-D images, array and dictionary forms.

``Equalize``, ``CLAHE``, ``RandCLAHE`` and their dictionary forms ``Equalized``, ``CLAHEd``, ``RandCLAHEd``, and
``MatchHistogramsd``, in MONAI's own form: images channel first, (C, H, W) or (C, H, W, D), each channel its own
image (CLAHE in 3-D on volumes, with 3-D tiles); ``keys`` and ``allow_missing_keys``; an optional mask (``mask``,
or ``mask_key`` in a dictionary), as ``HistogramNormalize`` takes one; ``prob`` and ``set_random_state`` for the
random one, whose draw every key of a dictionary shares; NumPy and torch backends declared.  A ``MetaTensor``
comes back a ``MetaTensor`` with its metadata and affine; a CUDA tensor is computed on its GPU where histeq's
GPU backend covers the call.

Unlike MONAI's ``HistogramNormalize`` (NumPy, float32 out, 256 bins), the result keeps the image's dtype and
every level of 16-bit and float data; MONAI has no CLAHE.

Importing this module imports MONAI (``pip install "histeq[monai]"``); ``import histeq`` alone does not.

Examples
--------
>>> import numpy as np
>>> from monai.data import MetaTensor
>>> from histeq.monai import CLAHEd
>>> volume = MetaTensor(np.random.default_rng(0).integers(0, 3000, (1, 32, 32, 16), dtype=np.uint16))
>>> out = CLAHEd(keys="image", tiles=(4, 4, 2))({"image": volume})["image"]
>>> type(out).__name__, out.dtype, tuple(out.shape)
('MetaTensor', torch.uint16, (1, 32, 32, 16))
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms import MapTransform, RandomizableTransform, Transform
from monai.utils.enums import TransformBackends
from monai.utils.type_conversion import convert_to_dst_type, convert_to_tensor

from histeq._clahe import clahe
from histeq._equalize import equalize
from histeq._matching import match
from histeq._tiles import checked_regions, fitted_regions

__all__ = [
    "CLAHE",
    "CLAHEd",
    "Equalize",
    "Equalized",
    "MatchHistogramsd",
    "RandCLAHE",
    "RandCLAHEd",
]

_BACKENDS = [TransformBackends.TORCH, TransformBackends.NUMPY]


def _channel_first(img: Any, mask: Any, run: Any) -> Any:
    """``run(image, axes, mask)`` on a channel-first image (each channel its own image), the result given back as
    MONAI gives results: a tensor (a MetaTensor with the image's metadata when MONAI tracks it), of the image's
    dtype, on its device."""
    given = img
    if not isinstance(img, MetaTensor):  # a MetaTensor is what MONAI's conversion would give (and costs nothing)
        img = convert_to_tensor(img, track_meta=get_track_meta())
    if img.ndim < 2:
        raise ValueError(f"expected a channel-first image (C, H[, W[, D]]), got shape {tuple(img.shape)}")
    # The pixels without the metadata; a NumPy image as it is (MONAI's tensor of a uint16 array is int32, whose
    # range would become the output's).
    data = given if isinstance(given, np.ndarray) else _pixels(img)
    if mask is not None:
        mask = _pixels(mask)
        on_device = isinstance(data, torch.Tensor) and data.device.type != "cpu"
        if isinstance(mask, torch.Tensor):
            mask = mask.to(data.device).bool() if on_device else mask.cpu().numpy()
        if isinstance(mask, np.ndarray):
            mask = mask.astype(bool, copy=False)
            if on_device:  # the GPU backend takes a mask on the image's device
                mask = torch.from_numpy(mask).to(data.device)
    out = run(data, tuple(range(1, img.ndim)), mask)
    if isinstance(img, MetaTensor) and isinstance(out, torch.Tensor):
        result = out.as_subclass(MetaTensor)  # what convert_to_dst_type gives, at a tenth of its cost per sample
        result.copy_meta_from(img)
        return result
    result, *_ = convert_to_dst_type(src=out, dst=img, dtype=img.dtype)
    return result


class Equalize(Transform):
    """Global histogram equalization (:func:`histeq.equalize`) of each channel of a channel-first image.

    Parameters
    ----------
    mask : array or tensor, optional
        Only pixels where it is true count; (H, W[, D]) or (1, H, W[, D]).  A call's own ``mask`` replaces it.
    """

    backend = _BACKENDS

    def __init__(self, mask: Any = None) -> None:
        self.mask = mask

    def __call__(self, img: Any, mask: Any = None) -> Any:
        return _channel_first(
            img, self.mask if mask is None else mask, lambda data, axes, m: equalize(data, axes=axes, mask=m)
        )


class CLAHE(Transform):
    """CLAHE (:func:`histeq.clahe`) of each channel of a channel-first image; 3-D tiles on volumes.

    Parameters
    ----------
    clip_limit : float or None, optional
        The clip limit, at least 1 (see :func:`histeq.clahe`); None: no limit.  Default 2.
    tiles : int or tuple of int, optional
        Tiles per spatial axis, at most each axis's length; default (neither ``tiles`` nor ``kernel_size``): 8.
    mask : array or tensor, optional
        As in :class:`Equalize`.
    kernel_size : float or tuple of float, optional
        Instead of ``tiles``: the regions' size per spatial axis, at most the image's size: in the units of
        ``spacing``, else of a MetaTensor's ``pixdim`` (millimetres, as MONAI's ``Spacing`` reads them),
        else in pixels.
    spacing : float or tuple of float, optional
        The voxel size per spatial axis, in the units of ``kernel_size``; default: the MetaTensor's
        ``pixdim``.
    """

    backend = _BACKENDS

    def __init__(
        self,
        clip_limit: float | None = 2.0,
        tiles: int | Sequence[int] | None = None,
        mask: Any = None,
        kernel_size: float | Sequence[float] | None = None,
        spacing: float | Sequence[float] | None = None,
    ) -> None:
        checked_regions(tiles, kernel_size, spacing)
        self.clip_limit, self.tiles, self.mask = clip_limit, tiles, mask
        self.kernel_size, self.spacing = kernel_size, spacing

    def __call__(self, img: Any, mask: Any = None) -> Any:
        spacing = self.spacing
        if self.kernel_size is not None and spacing is None and isinstance(img, MetaTensor):
            spacing = tuple(float(step) for step in img.pixdim)

        def run(data: Any, axes: tuple[int, ...], mask: Any) -> Any:
            sizes = tuple(int(data.shape[axis]) for axis in axes)
            tiles = fitted_regions(self.tiles, self.kernel_size, spacing, sizes)
            return clahe(data, tiles=tiles, clip_limit=self.clip_limit, axes=axes, mask=mask)

        return _channel_first(img, self.mask if mask is None else mask, run)


class RandCLAHE(RandomizableTransform):
    """CLAHE with probability ``prob``, its clip limit and tiles drawn per call from the transform's random state
    (``set_random_state``).

    Parameters
    ----------
    prob : float, optional
        The probability of applying it; default 0.1, as MONAI's random intensity transforms.
    clip_limit : (float, float), optional
        The range of clip limits, both at least 1; default (1, 4).
    tiles : (int, int), optional
        The range of tiles per axis, both ends included; default (4, 12).
    mask : array or tensor, optional
        As in :class:`Equalize`.
    """

    backend = _BACKENDS

    def __init__(
        self,
        prob: float = 0.1,
        clip_limit: tuple[float, float] = (1.0, 4.0),
        tiles: tuple[int, int] = (4, 12),
        mask: Any = None,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        if not 1 <= clip_limit[0] <= clip_limit[1]:
            raise ValueError(f"clip_limit must be a range (low, high) with 1 <= low <= high, got {clip_limit!r}")
        if not 1 <= tiles[0] <= tiles[1]:
            raise ValueError(f"tiles must be a range (fewest, most) with 1 <= fewest <= most, got {tiles!r}")
        self.clip_limit, self.tiles, self.mask = clip_limit, tiles, mask
        self.drawn = CLAHE(clip_limit=clip_limit[0], tiles=tiles[0])

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        if self._do_transform:
            self.drawn = CLAHE(
                clip_limit=float(self.R.uniform(*self.clip_limit)),
                tiles=int(self.R.randint(self.tiles[0], self.tiles[1] + 1)),
            )

    def __call__(self, img: Any, mask: Any = None, randomize: bool = True) -> Any:
        if randomize:
            self.randomize()
        if not self._do_transform:
            return convert_to_tensor(img, track_meta=get_track_meta())
        return self.drawn(img, self.mask if mask is None else mask)


class _Keyed(MapTransform):
    """A dictionary form: each key's image through ``self.transform``, the mask from ``mask_key`` if given."""

    transform: Any

    def __init__(self, keys: KeysCollection, mask_key: str | None, allow_missing_keys: bool) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mask_key = mask_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        mask = d[self.mask_key] if self.mask_key is not None else None
        for key in self.key_iterator(d):
            d[key] = self.transform(d[key], mask)
        return d


class Equalized(_Keyed):
    """Dictionary form of :class:`Equalize`: ``keys``, ``mask_key`` (the mask's key in the dictionary),
    ``allow_missing_keys``."""

    backend = _BACKENDS

    def __init__(self, keys: KeysCollection, mask_key: str | None = None, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, mask_key, allow_missing_keys)
        self.transform = Equalize()


class CLAHEd(_Keyed):
    """Dictionary form of :class:`CLAHE`: ``keys``, ``clip_limit``, ``tiles``, ``mask_key``,
    ``allow_missing_keys``, ``kernel_size``, ``spacing`` (default: each image's ``pixdim``)."""

    backend = _BACKENDS

    def __init__(
        self,
        keys: KeysCollection,
        clip_limit: float | None = 2.0,
        tiles: int | Sequence[int] | None = None,
        mask_key: str | None = None,
        allow_missing_keys: bool = False,
        kernel_size: float | Sequence[float] | None = None,
        spacing: float | Sequence[float] | None = None,
    ) -> None:
        super().__init__(keys, mask_key, allow_missing_keys)
        self.transform = CLAHE(clip_limit=clip_limit, tiles=tiles, kernel_size=kernel_size, spacing=spacing)


class RandCLAHEd(RandomizableTransform, _Keyed):
    """Dictionary form of :class:`RandCLAHE`: one draw per call, shared by every key (as MONAI's random
    dictionary transforms share theirs)."""

    backend = _BACKENDS

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.1,
        clip_limit: tuple[float, float] = (1.0, 4.0),
        tiles: tuple[int, int] = (4, 12),
        mask_key: str | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        _Keyed.__init__(self, keys, mask_key, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.random = RandCLAHE(prob=1.0, clip_limit=clip_limit, tiles=tiles)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandCLAHEd:
        super().set_random_state(seed, state)
        self.random.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            for key in self.key_iterator(d):
                d[key] = convert_to_tensor(d[key], track_meta=get_track_meta())
            return d
        self.random.randomize()
        mask = d[self.mask_key] if self.mask_key is not None else None
        for key in self.key_iterator(d):
            d[key] = self.random(d[key], mask, randomize=False)
        return d


class MatchHistogramsd(_Keyed):
    """Histogram matching (:func:`histeq.match`) of each key's image, channel by channel, onto a reference: the
    dictionary's ``reference_key`` item (a template of the same case) or a fixed ``reference`` image.

    Parameters
    ----------
    keys : str or sequence of str
        The images to match.
    reference_key : str, optional
        The dictionary's reference image (channel first, the images' channels).
    reference : array or tensor, optional
        A fixed channel-first reference instead.
    mask_key, allow_missing_keys
        As in :class:`Equalized`.
    """

    backend = _BACKENDS

    def __init__(
        self,
        keys: KeysCollection,
        reference_key: str | None = None,
        reference: Any = None,
        mask_key: str | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, mask_key, allow_missing_keys)
        if (reference_key is None) == (reference is None):
            raise ValueError("MatchHistogramsd takes either a reference_key or a reference image")
        self.reference_key, self.reference = reference_key, reference

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        reference = d[self.reference_key] if self.reference_key is not None else self.reference
        reference = _pixels(reference)
        mask = d[self.mask_key] if self.mask_key is not None else None
        for key in self.key_iterator(d):
            d[key] = _channel_first(d[key], mask, lambda data, axes, m: _matched(data, reference, axes, m))
        return d


def _matched(data: Any, reference: Any, axes: tuple[int, ...], mask: Any) -> Any:
    """Channel c of the image matched onto channel c of the reference (a one-channel reference serves all)."""
    on_device = isinstance(data, torch.Tensor) and data.device.type != "cpu"
    if isinstance(reference, torch.Tensor):
        reference = reference.to(data.device) if on_device else reference.cpu().numpy()
    if reference.shape[0] == 1:
        return match(data, reference[0], axes=axes, mask=mask)
    if reference.shape[0] != data.shape[0]:
        raise ValueError(
            f"the reference has {reference.shape[0]} channels and the image {data.shape[0]}; give one per channel, "
            "or one for all"
        )
    if mask is not None and mask.ndim == data.ndim:  # (1, H, W[, D]): the channels' shared mask
        mask = mask[0]
    return match(data, reference, axes=axes, channel_axis=0, color="per-channel", mask=mask)


def _pixels(value: Any) -> Any:
    """An image's pixels in its own dtype: a NumPy array as it is (MONAI's conversion turns uint16 into int32), a
    MetaTensor without its metadata, a tensor as it is."""
    if isinstance(value, np.ndarray) or not isinstance(value, torch.Tensor):
        return np.asarray(value)
    return value.as_tensor() if hasattr(value, "as_tensor") else value
