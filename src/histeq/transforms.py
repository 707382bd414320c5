"""Equalization as transforms for PyTorch training pipelines.

``Equalize``, ``CLAHE`` and ``RandomCLAHE`` are ``torch.nn.Module`` objects. They take tensors of shape
``(..., C, H, W)``, including ``torchvision.tv_tensors.Image`` and ``Video``, and give back the same type, dtype
and shape. Their results equal :func:`histeq.equalize` and :func:`histeq.clahe` on the last two axes, bit for
bit. They work per sample, inside ``torchvision.transforms.v2.Compose`` and in ``DataLoader`` workers (which
fork), and on whole batches.

Where torchvision is installed they are ``torchvision.transforms.v2.Transform`` objects, and take any sample a
v2 pipeline passes: a tensor, a tuple, a dict, nested. As torchvision's own colour transforms do, they transform
the images (``tv_tensors.Image``, ``tv_tensors.Video``, PIL images; a plain tensor when the sample holds no image
of those types, the first one) and pass everything else through unchanged: ``Mask``, ``BoundingBoxes``,
``KeyPoints``, labels. ``RandomCLAHE`` draws once per image of a sample's batch, and every image of the sample
uses those draws.

Each channel of each image is equalized on its own (``color=None``), as ``torchvision.transforms.v2.functional``
does. ``color="lightness"`` (or ``"luma"``, ``"value"``) equalizes the intensity of RGB images along the
channel axis ``-3`` instead, and keeps their colours.

Equalization is not differentiable: its gradient is zero almost everywhere. A tensor that requires grad is
computed on ``.detach()``, and the result does not require grad.

Importing this module imports PyTorch, so it needs ``pip install "histeq[torch]"``; ``import histeq`` alone does not.

Examples
--------
>>> import torch
>>> from histeq.transforms import CLAHE
>>> batch = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
>>> out = CLAHE(tiles=4, clip_limit=2.0)(batch)
>>> out.shape, out.dtype
(torch.Size([4, 3, 32, 32]), torch.uint8)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from histeq._clahe import clahe, clahe_per_image
from histeq._equalize import equalize
from histeq._tiles import checked_clip_limit, checked_regions, fitted, fitted_regions, tile_counts

__all__ = ["CLAHE", "Equalize", "RandomCLAHE"]

#: The image axes of (..., C, H, W) tensors, and their channel axis.
_SPATIAL = (-2, -1)
_CHANNEL = -3

try:  # torchvision's v2 machinery where it is installed: samples of any structure
    from torchvision import tv_tensors
    from torchvision.transforms import v2 as _v2
except ImportError:
    tv_tensors = _v2 = None


def _is_plain_tensor(value: Any) -> bool:
    """A tensor that is no tv_tensor (v2 treats the first of them as the image when a sample holds no other)."""
    return isinstance(value, torch.Tensor) and (tv_tensors is None or not isinstance(value, tv_tensors.TVTensor))


def _pil_types() -> tuple:
    try:
        import PIL.Image
    except ImportError:
        return ()
    return (PIL.Image.Image,)


#: PIL's image type where Pillow is installed (the images a v2 sample may hold besides tensors).
_PIL = _pil_types()


class _Transform(_v2.Transform if _v2 is not None else torch.nn.Module):  # type: ignore[misc]
    """The one base: a v2 transform where torchvision is installed (it flattens the sample, asks ``make_params``
    once and ``transform`` for each image), else a module whose ``forward`` takes one tensor."""

    _transformed_types = (tv_tensors.Image, tv_tensors.Video, _is_plain_tensor, *_PIL) if tv_tensors is not None else ()

    def make_params(self, flat_inputs: list) -> dict:
        return {}

    def transform(self, inpt: Any, params: dict) -> Any:
        """One image of the sample: a tensor (or tv_tensor) of shape (..., C, H, W), or a PIL image."""
        if _PIL and isinstance(inpt, _PIL):
            return _on_pil(lambda image: self._tensor(image, params), inpt)
        return self._tensor(inpt, params)

    def _tensor(self, image: torch.Tensor, params: dict) -> torch.Tensor:
        raise NotImplementedError

    # torchvision before 0.21 named the two methods with a leading underscore.
    def _get_params(self, flat_inputs: list) -> dict:
        return self.make_params(flat_inputs)

    def _transform(self, inpt: Any, params: dict) -> Any:
        return self.transform(inpt, params)

    if _v2 is None:

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return self.transform(image, self.make_params([image]))


def _on_pil(run: Any, picture: Any) -> Any:
    """``run`` on a PIL image, as a (C, H, W) tensor of its pixels, and back to a PIL image of its mode."""
    import PIL.Image

    pixels = np.asarray(picture)
    planes = torch.from_numpy(pixels.reshape(pixels.shape[:2] + (-1,)).transpose(2, 0, 1).copy())  # PIL's is read-only
    out = run(planes).numpy().transpose(1, 2, 0).reshape(pixels.shape)
    return PIL.Image.fromarray(np.ascontiguousarray(out), mode=picture.mode)


def _layout(image: torch.Tensor, color: str | None) -> dict:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"expected a tensor of shape (..., C, H, W), got {type(image).__name__}")
    if image.ndim < 3:
        raise ValueError(f"expected a tensor of shape (..., C, H, W), got shape {tuple(image.shape)}")
    if color is None:
        return {"axes": _SPATIAL}
    return {"axes": _SPATIAL, "channel_axis": _CHANNEL, "color": color}


class Equalize(_Transform):
    """Global histogram equalization of each image of a ``(..., C, H, W)`` tensor (see :func:`histeq.equalize`).

    Parameters
    ----------
    color : {None, "lightness", "luma", "value"}, optional
        None: every channel on its own. Otherwise the named intensity of RGB(A) images, with the channels on axis
        ``-3``.
    **kwargs
        Passed to :func:`histeq.equalize` (``nbins``, ``in_range``, ``out_range``, ``compat``, ``threads``, ...).

    Examples
    --------
    >>> import torch
    >>> from histeq.transforms import Equalize
    >>> image = torch.randint(50, 100, (3, 16, 16), dtype=torch.uint8)
    >>> out = Equalize()(image)
    >>> int(out.min()), int(out.max())
    (0, 255)
    """

    def __init__(self, *, color: str | None = None, **kwargs):
        super().__init__()
        self.color = color
        self.kwargs = kwargs

    def _tensor(self, image: torch.Tensor, params: dict) -> torch.Tensor:
        return equalize(image, **_layout(image, self.color), **self.kwargs)

    def extra_repr(self) -> str:
        return ", ".join([f"color={self.color!r}"] + [f"{k}={v!r}" for k, v in self.kwargs.items()])


class CLAHE(_Transform):
    """Contrast-limited adaptive histogram equalization of each image of a ``(..., C, H, W)`` tensor (see
    :func:`histeq.clahe`).

    Parameters
    ----------
    tiles : int or (int, int), optional
        Tiles along H and W, at most the image's size; default (neither ``tiles`` nor ``kernel_size``): 8.
    clip_limit : float or None, optional
        Largest slope of a tile's mapping relative to plain equalization (see :func:`histeq.clahe`); default
        2.0.  None: no limit.
    kernel_size : float or (float, float), optional
        Instead of ``tiles``: the regions' size along H and W, in pixels or in the units of ``spacing`` (see
        :func:`histeq.clahe`), at most the image's size.
    spacing : float or (float, float), optional
        The pixel size along H and W, in the units of ``kernel_size``.
    color : {None, "lightness", "luma", "value"}, optional
        As in :class:`Equalize`.
    **kwargs
        Passed to :func:`histeq.clahe`.
    """

    def __init__(
        self,
        tiles: int | tuple[int, int] | None = None,
        clip_limit: float | None = 2.0,
        *,
        kernel_size: float | tuple[float, float] | None = None,
        spacing: float | tuple[float, float] | None = None,
        color: str | None = None,
        **kwargs,
    ):
        super().__init__()
        # Refused when made, as RandomCLAHE's ranges are; each image's size bounds the regions at call time.
        checked_clip_limit(clip_limit, opencv=kwargs.get("compat") == "opencv")
        checked_regions(tiles, kernel_size, spacing)
        if tiles is not None:
            tile_counts(tiles, (math.inf, math.inf))
        self.tiles, self.kernel_size, self.spacing = tiles, kernel_size, spacing
        self.clip_limit, self.color, self.kwargs = clip_limit, color, kwargs

    def _tensor(self, image: torch.Tensor, params: dict) -> torch.Tensor:
        return clahe(
            image,
            tiles=fitted_regions(self.tiles, self.kernel_size, self.spacing, tuple(image.shape[-2:])),
            clip_limit=self.clip_limit,
            **_layout(image, self.color),
            **self.kwargs,
        )

    def extra_repr(self) -> str:
        regions = f"tiles={self.tiles!r}" if self.kernel_size is None else f"kernel_size={self.kernel_size!r}"
        spacing = "" if self.spacing is None else f", spacing={self.spacing!r}"
        return f"{regions}{spacing}, clip_limit={self.clip_limit!r}, color={self.color!r}"


class RandomCLAHE(_Transform):
    """CLAHE with its clip limit and tile count drawn per sample: an augmentation.

    For each image of the input's leading axes (each sample of a batch), the clip limit is drawn uniformly from
    ``clip_limit`` and the tiles per axis uniformly from the integers of ``tiles``; with probability ``1 - p``
    the image is left as it is.  Draws use PyTorch's random generator (``torch.manual_seed``; each DataLoader
    worker seeds its own), or ``generator`` when given.

    Parameters
    ----------
    clip_limit : (float, float), optional
        The range of clip limits, each finite and at least 1 (see :func:`histeq.clahe`); default (1.0, 4.0).
    tiles : (int, int), optional
        The range of tiles per axis, both ends included; default (4, 12).
    p : float, optional
        The probability of applying CLAHE to a sample; default 1.
    color : {None, "lightness", "luma", "value"}, optional
        As in :class:`Equalize`.
    generator : torch.Generator, optional
        The random generator of the draws.

    Examples
    --------
    >>> import torch
    >>> from histeq.transforms import RandomCLAHE
    >>> _ = torch.manual_seed(0)
    >>> batch = torch.randint(0, 256, (8, 1, 32, 32), dtype=torch.uint8)
    >>> RandomCLAHE(clip_limit=(1.5, 3.0), tiles=(2, 4))(batch).shape
    torch.Size([8, 1, 32, 32])
    """

    def __init__(
        self,
        clip_limit: tuple[float, float] = (1.0, 4.0),
        tiles: tuple[int, int] = (4, 12),
        p: float = 1.0,
        *,
        color: str | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        low, high = _range(clip_limit, "clip_limit", "(low, high) of clip limits >= 1, both finite", checked_clip_limit)
        # No bound on tile counts here: each image's size bounds them at call time (_fitting).
        fewest, most = _range(
            tiles, "tiles", "(fewest, most) of ints >= 1", lambda count: tile_counts(count, (math.inf,))[0]
        )
        if not low <= high:
            raise ValueError(f"clip_limit must be a range (low, high) with 1 <= low <= high, got {clip_limit!r}")
        if not fewest <= most:
            raise ValueError(f"tiles must be a range (fewest, most) with 1 <= fewest <= most, got {tiles!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be between 0 and 1, got {p!r}")
        self.clip_limit, self.tiles, self.p, self.color, self.generator = (
            (low, high),
            (fewest, most),
            p,
            color,
            generator,
        )

    def draw(self) -> tuple[bool, float, int]:
        """(apply, clip limit, tiles) of one sample."""
        numbers = torch.rand(2, generator=self.generator).tolist()
        tiles = int(torch.randint(self.tiles[0], self.tiles[1] + 1, (1,), generator=self.generator))
        return numbers[0] < self.p, self.clip_limit[0] + numbers[1] * (self.clip_limit[1] - self.clip_limit[0]), tiles

    def make_params(self, flat_inputs: list) -> dict:
        """The draws of a sample, one per image of its batch (the first image's leading axes; a PIL image is
        one image), in order: the same sequence whatever the sample's structure."""
        if not flat_inputs:
            return {"draws": []}
        first = flat_inputs[0]
        count = 1
        if isinstance(first, torch.Tensor):
            _layout(first, self.color)
            if first.numel() == 0:
                # Equalize and CLAHE refuse it through the functions; an empty batch would pass the loop untouched
                raise ValueError(f"image is empty (shape {tuple(first.shape)}); there is nothing to equalize")
            count = math.prod(first.shape[:-3])
        return {"draws": [self.draw() for _ in range(count)]}

    def _tensor(self, image: torch.Tensor, params: dict) -> torch.Tensor:
        layout = _layout(image, self.color)
        samples = image.reshape((-1,) + tuple(image.shape[-3:]))
        draws = params["draws"]
        if len(draws) != samples.shape[0]:
            raise ValueError(
                f"RandomCLAHE draws once per image of a sample's batch: the sample's first image has {len(draws)},"
                f" this one (shape {tuple(image.shape)}) {samples.shape[0]}"
            )
        if self.color is None:
            out = self._by_tiles(samples, draws)
        else:
            out = torch.empty_like(samples)
            for k, (apply, clip_limit, tiles) in enumerate(draws):
                out[k] = (
                    clahe(samples[k], tiles=_fitting(tiles, samples[k]), clip_limit=clip_limit, **layout)
                    if apply
                    else samples[k]
                )
        out = out.reshape(image.shape)
        return out if type(image) is torch.Tensor else out.as_subclass(type(image))

    def _by_tiles(self, samples: torch.Tensor, draws: list) -> torch.Tensor:
        """The draws of a grey batch, one call per tile count (each image with its own clip limit) instead of one
        per sample."""
        groups: dict[tuple[int, int], list[int]] = {}
        for k, (apply, _, tiles) in enumerate(draws):
            if apply:
                groups.setdefault(_fitting(tiles, samples[k]), []).append(k)
        if len(groups) == 1 and len(next(iter(groups.values()))) == samples.shape[0]:  # every image, one tile count
            tiles, members = next(iter(groups.items()))
            return clahe_per_image(samples, tiles, [draws[k][1] for k in members])
        out = samples.clone()
        for tiles, members in groups.items():
            index = torch.tensor(members, device=samples.device)
            out[index] = clahe_per_image(samples[index], tiles, [draws[k][1] for k in members])
        return out

    def extra_repr(self) -> str:
        return f"clip_limit={self.clip_limit!r}, tiles={self.tiles!r}, p={self.p!r}, color={self.color!r}"


def _range(value, name: str, what: str, check) -> tuple:
    """The two ends of a range argument, each passed through ``check`` (histeq.clahe's rule for one value), so
    that a range is refused when the module is made, not at its first call."""
    try:
        ends = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a range {what}, got {value!r}") from None
    if len(ends) != 2:
        raise ValueError(f"{name} must be a range {what}, got {value!r}")
    try:
        return tuple(check(end) for end in ends)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name} must be a range {what}, got {value!r}") from exc


def _fitting(tiles, image: torch.Tensor):
    """Tiles at most the image's size along H and W (``_tiles.fitted``)."""
    return fitted(tiles, tuple(image.shape[-2:]))
