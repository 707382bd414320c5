"""The public functions of CLAHE: each its signature, its docstring and one call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np

from histeq import _dispatch
from histeq._fitted.clahe import ClaheMapping
from histeq._types import ArrayLike, Axes, ChannelAxis, ChannelOrder, Color, Image, Range, Sequenced

__all__ = ["clahe", "fit_clahe"]


@overload
def clahe(
    image: Image,
    *,
    tiles: int | Sequence[int] | None = ...,
    kernel_size: float | Sequence[float] | None = ...,
    spacing: float | Sequence[float] | None = ...,
    clip_limit: float | None = ...,
    nbins: int | None = ...,
    mask: ArrayLike = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    in_range: Range = ...,
    out_range: Range = ...,
    compat: str | None = ...,
    threads: int | None = ...,
) -> Image: ...
@overload
def clahe(
    image: Sequenced,
    *,
    tiles: int | Sequence[int] | None = ...,
    kernel_size: float | Sequence[float] | None = ...,
    spacing: float | Sequence[float] | None = ...,
    clip_limit: float | None = ...,
    nbins: int | None = ...,
    mask: ArrayLike = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    in_range: Range = ...,
    out_range: Range = ...,
    compat: str | None = ...,
    threads: int | None = ...,
) -> np.ndarray: ...
def clahe(
    image: Image | Sequenced,
    *,
    tiles: int | Sequence[int] | None = None,
    kernel_size: float | Sequence[float] | None = None,
    spacing: float | Sequence[float] | None = None,
    clip_limit: float | None = 2.0,
    nbins: int | None = None,
    mask: ArrayLike = None,
    axes: Axes = None,
    channel_axis: ChannelAxis = None,
    color: Color = None,
    channel_order: ChannelOrder = "rgb",
    in_range: Range = None,
    out_range: Range = None,
    compat: str | None = None,
    threads: int | None = None,
) -> Image | np.ndarray:
    """Contrast-limited adaptive histogram equalization of every image of a batch.

    The image is divided into a grid of tiles (contextual regions); each gets
    the mapping of global equalization of its own histogram, clipped so that
    no level's slope exceeds ``clip_limit``; every pixel is then mapped by
    interpolating the mappings of the tiles around it, linearly along each
    spatial axis (bilinear in 2-D, trilinear in 3-D, multilinear in n-D).

    Parameters
    ----------
    image : (..., M, N[, ...][, C]) ndarray
        uint8, int8, uint16, int16, uint32, int32, float16, float32 or float64;
        2-D images, 3-D volumes or n-D; see ``axes`` for batches.
    tiles : int or sequence of int, optional
        Number of tiles along each spatial axis (in array order), or one
        number for all.  Each must be between 1 and the axis length.  Default
        (neither ``tiles`` nor ``kernel_size`` given): 8 along each axis.
    kernel_size : float or sequence of float, optional
        The contextual regions' size instead of their number, along each
        spatial axis (in array order) or one for all: in pixels, as
        scikit-image's ``kernel_size`` (Fiji's ``blocksize``), or in the
        units of ``spacing``.  An axis of ``n`` pixels and a region of ``k``
        pixels gets ``ceil(n / k)`` tiles, scikit-image's count: tiles of
        ``k`` pixels where ``k`` divides ``n`` (then scikit-image's tiles
        exactly), else of ``n / ceil(n / k)`` pixels, the nearest
        shorter size that cuts the axis evenly (no padding, no partial tile
        at the edge).  At least one pixel and at most the axis; not with
        ``tiles``.  An xarray DataArray whose spatial dimensions all have
        evenly spaced coordinates gives ``kernel_size`` in their units.
    spacing : float or sequence of float, optional
        The pixel (voxel) size along each spatial axis, or one for all, in
        the units of ``kernel_size``: ``kernel_size=20, spacing=(1.4, 0.4,
        0.4)`` makes regions of at most 20 µm along each axis on voxels of
        1.4 x 0.4 x 0.4 µm (14.3 x 50 x 50 voxels, each axis cut evenly as
        above).  Positive;
        only with ``kernel_size``.  Default: pixels (or a DataArray's
        coordinates).
    clip_limit : float or None, optional
        Largest slope of a tile's mapping relative to plain equalization: the
        histogram is clipped at ``clip_limit`` times its mean bin height and
        the clipped counts are spread evenly over the bins, repeatedly, so that
        no bin ends above the limit.  8-bit images measure it on their 256
        bins (as OpenCV); every other dtype on 256 groups of the bins its
        counted values span, so that 12-bit data in uint16, CT data in int16
        and floats are clipped as their 8-bit version would be, keeping every
        level (see Notes).  At least 1 (1 makes each tile's mapping
        linear); None: no clipping (plain adaptive equalization).  Default 2.
        scikit-image's normalized ``clip_limit=k`` (with its ``nbins=256``)
        corresponds to ``clip_limit = k * 256`` here; OpenCV's ``clipLimit``
        has this meaning already.
    nbins, in_range, out_range, mask, axes, channel_axis, color, channel_order, threads
        As in :func:`histeq.equalize`.  The bins are shared by all tiles of an
        image (floats: the image's finite range, or ``in_range``); ``mask``
        selects the pixels that feed the tile histograms.
    compat : {'opencv'}, optional
        Reproduce ``cv2.createCLAHE(clip_limit, (tiles_x, tiles_y)).apply``
        bit for bit (uint8 or uint16, 2-D images; ``tiles`` is given here in
        array order, (rows, columns), which is OpenCV's (height, width)).
        The results are those of OpenCV on x86_64, on every machine; OpenCV's
        ARM builds fuse the blend's multiply-adds and round a few pixels
        (under 0.1 %) one level the other way.

    Returns
    -------
    out : ndarray
        Same shape and dtype as ``image``.  A Dask array gives a Dask array,
        equal to the in-memory result for any chunking: one image's tile grid
        is anchored to the whole array (tile histograms summed over chunks,
        each chunk interpolated with its offset); batches and colour run block
        by block over whole images.

    Notes
    -----
    Tiles: along an axis of ``n`` pixels cut in ``t`` tiles, pixel ``i`` (its
    centre at ``i + 1/2``) belongs to tile ``k`` when ``k n / t <= i + 1/2 <=
    (k + 1) n / t``.  Tiles are as equal as the pixels allow and laid out
    symmetrically, so no padding is needed; a pixel centre exactly on a
    boundary counts in both tiles.  Each pixel is interpolated between the
    centres of its two nearest tiles along every axis (the outermost half
    tiles use their own tile alone).  Flipping any spatial axis therefore
    flips the result exactly, and for integer images, whose interpolation is
    exact (integer levels, rational weights, halves rounded up), so does
    transposing spatial axes together with ``tiles``; float results agree to
    rounding.  (OpenCV pads the bottom and right edges instead, so its result
    is not flip-equivariant; ``compat='opencv'`` reproduces that.)

    A tile's mapping is :func:`histeq.equalize`'s rule applied to its clipped
    histogram, so one tile without clipping equals global equalization.

    Clip rule for dtypes wider than a byte and floats: the bins from the
    image's lowest to its highest counted value (``S`` of them) form
    ``G = min(256, S)`` groups of consecutive bins, bin ``b`` in group
    ``floor((2 (b - first) + 1) G / 2S)``.  The groups' totals are clipped at
    ``clip_limit`` times their mean and the clipped mass spread over the
    groups as above; within a group every bin keeps its share of the group's
    clipped total and the group's lift is spread evenly over its bins.  On
    data with 256 levels or fewer per group this is exactly the 8-bit rule
    on the data quantized to 256 levels, refined by every level's own count;
    the limit measured on all 65536 bins (OpenCV's 16-bit rule, kept by
    ``compat='opencv'``) would clip all but the widest-spread data to a
    near-identity map.  A
    tile with fewer than two occupied bins (a constant region, or one whose
    pixels are all masked out) has nothing to equalize and keeps the identity
    rescale; a constant image is returned unchanged.  NaN stays NaN.

    Integer images interpolate exactly while the weights fit in 50 bits with
    the output levels: each axis's weights have the denominator
    ``2 n / gcd(n, t)``, which may use ``(50 - bits of the output span) /
    ndim`` bits (16-bit 2-D images: axes up to 65536 pixels; 16-bit volumes:
    about 1000).  Beyond that an axis's weights are rounded to that many bits.

    Memory: besides the output, the tile tables (for 16-bit images, each
    tile's spans the values around it; volumes build them a layer of tiles
    at a time).  The calling thread keeps up to 16 MiB of them per worker
    for its next call, which saves faulting in fresh pages every call.

    References
    ----------
    .. [1] S. M. Pizer et al., "Adaptive histogram equalization and its
           variations", Computer Vision, Graphics, and Image Processing 39(3),
           355-368, 1987.
    .. [2] K. Zuiderveld, "Contrast limited adaptive histogram equalization",
           in Graphics Gems IV, Academic Press, 1994, pp. 474-485.

    Examples
    --------
    >>> import numpy as np, histeq
    >>> image = np.tile(np.arange(64, dtype=np.uint8), (64, 1))  # a dim ramp, levels 0..63
    >>> out = histeq.clahe(image, tiles=4, clip_limit=None)
    >>> out.dtype, out.shape, int(out.min()), int(out.max())
    (dtype('uint8'), (64, 64), 0, 255)
    >>> limited = histeq.clahe(image, tiles=4, clip_limit=2.0)  # contrast limited: a gentler stretch
    >>> bool(limited.max() < out.max())
    True
    >>> np.array_equal(histeq.clahe(image[:, ::-1], tiles=4), limited[:, ::-1])
    True

    Regions given by their size: 16 pixels, or 20 µm on anisotropic voxels.

    >>> np.array_equal(histeq.clahe(image, kernel_size=16), limited)
    True
    >>> volume = np.random.default_rng(0).integers(0, 4096, (28, 100, 100), dtype=np.uint16)
    >>> microns = histeq.clahe(volume, kernel_size=20, spacing=(1.4, 0.4, 0.4))  # 39.2 x 40 x 40 µm
    >>> np.array_equal(microns, histeq.clahe(volume, tiles=2))
    True
    """
    return _dispatch.call("clahe", locals())


def fit_clahe(
    image: ArrayLike,
    *,
    tiles: int | Sequence[int] | None = None,
    kernel_size: float | Sequence[float] | None = None,
    spacing: float | Sequence[float] | None = None,
    clip_limit: float | None = 2.0,
    nbins: int | None = None,
    mask: ArrayLike = None,
    in_range: Range = None,
    out_range: Range = None,
    threads: int | None = None,
) -> ClaheMapping:
    """Learn the tile mappings of CLAHE on one grey image (NumPy or Dask), to apply them to patches.

    ``fit_clahe(x, **kw).apply(x)`` equals ``histeq.clahe(x, **kw)`` bit for
    bit, and ``.apply(x[patch], offset=corner)`` equals that patch of it: fit
    on a whole scene, then enhance tiles of it one at a time.  The arguments
    mean what they mean in :func:`histeq.clahe`; the whole array is one image.

    Returns
    -------
    ClaheMapping

    Examples
    --------
    >>> import numpy as np, histeq
    >>> scene = np.random.default_rng(3).integers(0, 200, (64, 96), dtype=np.uint8)
    >>> fitted = histeq.fit_clahe(scene, tiles=(2, 3))
    >>> np.array_equal(fitted.apply(scene), histeq.clahe(scene, tiles=(2, 3)))
    True
    """
    return _dispatch.call("fit_clahe", locals())


def clahe_per_image(image: Image, tiles: int | tuple[int, ...], clip_limits: Sequence[float]) -> Image:
    """CLAHE of a ``(N, C, H, W)`` batch on its last two axes, sample k with clip limit ``clip_limits[k]`` and
    every other argument at :func:`clahe`'s defaults, in one request: the draws of a ``transforms.RandomCLAHE``
    (the GPU backend computes them in one pass)."""
    arguments = {**(clahe.__kwdefaults__ or {}), "image": image, "tiles": tiles, "axes": (-2, -1)}
    return _dispatch.call("clahe", arguments, clip_limits=tuple(float(limit) for limit in clip_limits))
