"""The public functions of global equalization: each its signature, its docstring and one call."""

from __future__ import annotations

from typing import Literal, overload

import numpy as np

from histeq import _dispatch
from histeq._fitted.equalize import EqualizeMapping
from histeq._types import ArrayLike, Axes, ChannelAxis, ChannelOrder, Color, Image, Range, Sequenced, Ties

__all__ = ["equalize", "fit_equalize"]


@overload
def equalize(
    image: Image,
    *,
    nbins: int | None = ...,
    mask: ArrayLike = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    in_range: Range = ...,
    out_range: Range = ...,
    exact: bool = ...,
    return_ties: Literal[False] = ...,
    compat: str | None = ...,
    threads: int | None = ...,
) -> Image: ...


@overload
def equalize(
    image: Image,
    *,
    nbins: int | None = ...,
    mask: ArrayLike = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    in_range: Range = ...,
    out_range: Range = ...,
    exact: bool = ...,
    return_ties: Literal[True],
    compat: str | None = ...,
    threads: int | None = ...,
) -> tuple[Image, Ties]: ...
@overload
def equalize(
    image: Sequenced,
    *,
    nbins: int | None = ...,
    mask: ArrayLike = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    in_range: Range = ...,
    out_range: Range = ...,
    exact: bool = ...,
    return_ties: Literal[False] = ...,
    compat: str | None = ...,
    threads: int | None = ...,
) -> np.ndarray: ...
@overload
def equalize(
    image: Sequenced,
    *,
    nbins: int | None = ...,
    mask: ArrayLike = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    in_range: Range = ...,
    out_range: Range = ...,
    exact: bool = ...,
    return_ties: Literal[True],
    compat: str | None = ...,
    threads: int | None = ...,
) -> tuple[np.ndarray, Ties]: ...


def equalize(
    image: Image | Sequenced,
    *,
    nbins: int | None = None,
    mask: ArrayLike = None,
    axes: Axes = None,
    channel_axis: ChannelAxis = None,
    color: Color = None,
    channel_order: ChannelOrder = "rgb",
    in_range: Range = None,
    out_range: Range = None,
    exact: bool = False,
    return_ties: bool = False,
    compat: str | None = None,
    threads: int | None = None,
) -> Image | np.ndarray | tuple[Image | np.ndarray, Ties]:
    """Global histogram equalization of every image of a batch.

    Each image is mapped through its own cumulative histogram, so that the
    output levels are used as evenly as the input allows.

    Parameters
    ----------
    image : (..., M, N[, ...][, C]) ndarray
        uint8, int8, uint16, int16, uint32, int32, float16, float32 or float64;
        int64 and uint64 (and sequences of Python ints) are computed as int32
        and uint32 (their values must fit) and given back in 64 bits.
        2-D, 3-D or n-D; see ``axes`` for batches and ``channel_axis`` for colour.
    nbins : int, optional
        Number of histogram bins.  Default: one per level for integers of at
        most 16 bits (uint8: 256, uint16 and int16: 65536), 65536 for 32-bit
        integers and 4096 for floats.
    mask : bool ndarray, optional
        Only pixels where ``mask`` is True feed the histogram; every pixel is
        transformed.  Shape of the image without the channel axis, or
        broadcastable to it (a single (M, N) mask serves a whole batch).
        A masked array's own mask (``numpy.ma``) joins it: its masked pixels
        are not counted, and the result is a masked array with that mask.
    axes : int or tuple of int, optional
        The spatial axes that make up one image.  Every other axis except
        ``channel_axis`` is a batch axis: each image gets its own histogram,
        and the result for each equals equalizing that image alone, bit for
        bit.  Default: all axes but the channel axis (one image).
    channel_axis : int, optional
        Axis of colour channels.  ``None`` (default): a grey image or volume.
        Never guessed from the shape.
    color : {'lightness', 'luma', 'value', 'per-channel'}, optional
        With ``channel_axis``, what is equalized: CIELAB L* (sRGB, D65; a* and
        b*, hence chroma and hue, are kept), BT.601 luma Y' (Cb and Cr kept, as
        OpenCV's YCrCb recipe), HSV value V (hue and saturation kept) or each
        channel alone.  The first three need 3 (RGB) or 4 (RGBA, alpha passes
        through unchanged) channels and unsigned-integer or float images.
        Default: ``'lightness'``; ``'per-channel'`` under ``compat``.
    channel_order : {'rgb', 'bgr'}, optional
        The order of the colour channels: ``'bgr'`` for BGR(A) images as
        OpenCV reads them, so they need no conversion; the result keeps the
        input's order.  Default ``'rgb'``.
    in_range : (lo, hi), optional
        Range the histogram covers; values outside count in the end bins.
        Default: the dtype's range for integers of at most 16 bits, each image's
        own range of finite values for 32-bit integers and floats.  Fix it so
        that images (or chunks) share one binning.
    out_range : (lo, hi), optional
        Range of the output.  Default: the dtype's range for integers, [0, 1]
        for floats.  Grey and per-channel only.
    exact : bool
        Strict ordering (see Notes): the output histogram is then exactly flat
        (with a colour mode: the intensity's, before the RGB values are rounded).
        ``nbins`` and ``in_range`` do not apply.
    return_ties : bool
        With ``exact``, also return how many pixels kept a tie that only their
        position broke (an int, or an array of the batch shape).
    compat : {'opencv', 'pillow', 'skimage'}, optional
        Reproduce a peer's result instead of this library's conventions:
        ``cv2.equalizeHist`` (uint8, bit for bit), ``PIL.ImageOps.equalize``
        (uint8, grey or per channel like Pillow's RGB, mask allowed, bit for
        bit), ``skimage.exposure.equalize_hist`` (every dtype, its float output
        dtype, to float rounding; ``nbins`` defaults to its 256).
    threads : int, optional
        Number of threads (default: :func:`histeq.get_num_threads`).

    Returns
    -------
    out : ndarray
        Same shape and dtype as ``image`` (``compat='skimage'``: scikit-image's
        float dtype).
    ties : int or ndarray
        Only with ``return_ties=True``.

    Notes
    -----
    Integer images: with ``c`` the cumulative histogram, ``c_min`` its value at
    the lowest occupied bin, ``N`` the number of counted pixels and
    ``[a, b]`` the output range, level ``v`` maps to
    ``a + round((b - a) (c(v) - c_min) / (N - c_min))`` (halves round up):
    the darkest level present maps to ``a`` and the brightest to ``b``.

    Floating-point images: ``a + (b - a) F(x) / N``, where ``F`` is the
    cumulative histogram interpolated linearly inside each bin, so the mapping
    is continuous and the smallest and largest values map to ``a`` and ``b``.
    NaN stays NaN; NaN and infinite values never enter the histogram
    (-inf maps to ``a``, +inf to ``b``).

    ``exact=True`` (Coltuc, Bolon and Chassery [3]_): pixels are sorted by
    value, ties broken by the sums of their neighbours over growing shells
    (the local means over growing neighbourhoods, along the spatial axes;
    images padded symmetrically) and then by position, and the pixel of rank
    ``r`` among ``N`` gets the ``r``-th of ``N`` values spread evenly over the
    output: for integers each of the ``L`` output levels receives
    ``floor(N / L)`` or ``ceil(N / L)`` pixels (the lower levels take the
    extra ones), for floats rank ``r`` maps to ``a + (b - a) (r + 1/2) / N``.
    Masked-out pixels take the level of the next counted pixel in the order
    (the highest when none follows).  This is why ordinary equalization is not flat: it maps every
    pixel of one level to one output level, so it can merge levels but never
    split them; exact equalization splits them by their neighbourhoods.

    Nothing to equalize: when the counted pixels of an image all share one
    value (or, for integers, one bin), or no pixel is counted (all masked, all
    NaN), the image is rescaled linearly from ``in_range`` (default: the
    dtype's range for integers, [0, 1] for floats) to the output range,
    clipping.  With the default ranges that leaves it unchanged, as OpenCV and
    Pillow do for constant images.  The same with ``exact=True``: ties that
    only position could break are not split (``ties`` is 0).

    The caller's array is never modified.  Non-contiguous, read-only and
    big-endian arrays are accepted.

    References
    ----------
    .. [1] R. C. Gonzalez and R. E. Woods, *Digital Image Processing*, 4th ed.,
           Pearson, 2018, section 3.3.1, "Histogram equalization".
    .. [2] R. A. Hummel, "Image enhancement by histogram transformation",
           Computer Graphics and Image Processing 6(2), 184-195, 1977.
    .. [3] D. Coltuc, P. Bolon and J.-M. Chassery, "Exact histogram
           specification", IEEE Trans. Image Processing 15(5), 1143-1152, 2006.

    Examples
    --------
    >>> import numpy as np, histeq
    >>> image = np.array([[50, 50], [51, 60]], dtype=np.uint8)
    >>> histeq.equalize(image)
    array([[  0,   0],
           [128, 255]], dtype=uint8)

    A batch of 1800 single-channel 96 x 96 images, each equalized alone:

    >>> batch = np.random.default_rng(0).integers(0, 100, (1800, 1, 96, 96), dtype=np.uint8)
    >>> histeq.equalize(batch, axes=(-2, -1)).shape
    (1800, 1, 96, 96)
    """
    return _dispatch.call("equalize", locals())


def fit_equalize(
    image: ArrayLike,
    *,
    nbins: int | None = None,
    mask: ArrayLike = None,
    in_range: Range = None,
    out_range: Range = None,
    threads: int | None = None,
) -> EqualizeMapping:
    """Learn the global equalization of one grey image (NumPy or Dask), to apply it elsewhere.

    ``fit_equalize(x, **kw).apply(x)`` equals ``histeq.equalize(x, **kw)`` bit
    for bit; applied to a patch of ``x`` it gives that patch of the result.
    The arguments mean what they mean in :func:`histeq.equalize`; the whole
    array is one image.  A Dask array is reduced chunk by chunk (its range
    first, for floats and 32-bit integers without ``in_range``).

    Returns
    -------
    EqualizeMapping

    Examples
    --------
    >>> import numpy as np, histeq
    >>> scene = np.random.default_rng(0).integers(0, 100, (64, 64), dtype=np.uint8)
    >>> mapping = histeq.fit_equalize(scene)
    >>> np.array_equal(mapping.apply(scene[:16, :16]), histeq.equalize(scene)[:16, :16])
    True
    """
    return _dispatch.call("fit_equalize", locals())
