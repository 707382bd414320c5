"""The public functions of matching and specification: each its signature, its docstring and one call."""

from __future__ import annotations

from typing import Literal, overload

import numpy as np

from histeq import _dispatch
from histeq._fitted.equalize import EqualizeMapping
from histeq._types import ArrayLike, Axes, ChannelAxis, ChannelOrder, Color, Image, Range, Sequenced, Ties

__all__ = ["match", "specify", "fit_match", "fit_specify"]


@overload
def match(
    image: Image,
    reference: ArrayLike,
    *,
    mask: ArrayLike = ...,
    reference_mask: ArrayLike = ...,
    nbins: int | None = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    exact: bool = ...,
    return_ties: Literal[False] = ...,
    threads: int | None = ...,
) -> Image: ...


@overload
def match(
    image: Image,
    reference: ArrayLike,
    *,
    mask: ArrayLike = ...,
    reference_mask: ArrayLike = ...,
    nbins: int | None = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    exact: bool = ...,
    return_ties: Literal[True],
    threads: int | None = ...,
) -> tuple[Image, Ties]: ...
@overload
def match(
    image: Sequenced,
    reference: ArrayLike,
    *,
    mask: ArrayLike = ...,
    reference_mask: ArrayLike = ...,
    nbins: int | None = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    exact: bool = ...,
    return_ties: Literal[False] = ...,
    threads: int | None = ...,
) -> np.ndarray: ...
@overload
def match(
    image: Sequenced,
    reference: ArrayLike,
    *,
    mask: ArrayLike = ...,
    reference_mask: ArrayLike = ...,
    nbins: int | None = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    exact: bool = ...,
    return_ties: Literal[True],
    threads: int | None = ...,
) -> tuple[np.ndarray, Ties]: ...


def match(
    image: Image | Sequenced,
    reference: ArrayLike,
    *,
    mask: ArrayLike = None,
    reference_mask: ArrayLike = None,
    nbins: int | None = None,
    axes: Axes = None,
    channel_axis: ChannelAxis = None,
    color: Color = None,
    channel_order: ChannelOrder = "rgb",
    exact: bool = False,
    return_ties: bool = False,
    threads: int | None = None,
) -> Image | np.ndarray | tuple[Image | np.ndarray, Ties]:
    """Map an image so that its histogram follows a reference image's.

    Parameters
    ----------
    image : (..., M, N[, ...][, C]) ndarray
        Any dtype of :func:`histeq.equalize`.
    reference : ndarray
        The image (or images) whose distribution of values is the target; any
        supported dtype, any size.  Its values are expressed in the image's
        units: unchanged within one dtype and between floats, otherwise mapped
        linearly between the nominal ranges (the dtype's range for integers,
        [0, 1] for floats).
    mask, reference_mask : bool ndarray, optional
        Only pixels where the mask is True feed the histogram of the image
        (every pixel is transformed), respectively of the reference.
    nbins : int, optional
        Bins of float and 32-bit integer histograms (default 4096, over each
        image's range of finite values).  Integers of at most 16 bits use one
        bin per level.
    axes : int or tuple of int, optional
        The spatial axes of one image; the others are batch axes.  Every image
        of the batch is matched to the reference, or, when the reference has
        the image's number of dimensions and the same size along every batch
        axis, to its own image of the reference.
    channel_axis : int, optional
        Axis of colour channels.  The reference's channel axis is the same
        axis counted from the end (so a batch can share one RGB reference).
    color : {'per-channel', 'lightness', 'luma', 'value'}, optional
        With ``channel_axis``: each channel matched to the reference's same
        channel (default, as scikit-image), or only the intensity -- CIELAB
        L*, BT.601 luma or HSV value, as in :func:`histeq.equalize` -- matched
        to the reference's intensity, keeping the colours.
    channel_order : {'rgb', 'bgr'}, optional
        The order of the colour channels: ``'bgr'`` for BGR(A) images as
        OpenCV reads them, so they need no conversion; the result keeps the
        input's order.  Default ``'rgb'``.
    exact : bool
        Order the pixels strictly (see Notes) and give the image exactly the
        reference's histogram, scaled to the image's pixel count.
    return_ties : bool
        With ``exact``, also return how many pixels kept a tie that only
        their position broke (an int, or an array of the batch shape).
    threads : int, optional
        Number of threads (default: :func:`histeq.get_num_threads`).

    Returns
    -------
    out : ndarray
        Same shape and dtype as ``image``.
    ties : int or ndarray
        Only with ``return_ties=True``.

    Notes
    -----
    Integer images: level ``v`` holding a fraction ``q(v)`` of the pixels
    at or below it maps to the reference's value at the same fraction,
    interpolated linearly between the reference's occupied levels, as
    :func:`skimage.exposure.match_histograms` does; the result is rounded
    (halves up) into the input dtype, where scikit-image returns float64.
    This holds at every width: a 32-bit image (or reference) whose counted
    values span at most ``nbins`` levels is taken level by level; a wider
    one is binned into ``nbins`` bins over its range, as floats are.  Float
    images: the image's cumulative histogram, linear inside each bin, is
    composed with the reference's quantile function (linear inside each bin
    of a float reference, between the levels of an integer one), so the map
    is continuous and monotone.  A reference's bin whose counted values are
    all one value holds that value: a reference of a few distinct values
    (labels, a mask as floats) gives outputs among them.  NaN stays NaN.  An
    image with no counted pixel is returned unchanged, with and without
    ``exact``; a reference with none is a ValueError.

    ``exact=True``: pixels are sorted by value, ties broken by the sums of
    their neighbours over growing shells (the local means of Coltuc, Bolon
    and Chassery [1]_, over the spatial axes, images padded symmetrically),
    then by position; the pixel of rank ``r`` takes the ``r``-th value of
    the target histogram scaled to the pixel count by largest remainders.
    A darker pixel never ends brighter than a lighter one.

    References
    ----------
    .. [1] D. Coltuc, P. Bolon and J.-M. Chassery, "Exact histogram
           specification", IEEE Trans. Image Processing 15(5), 1143-1152, 2006.
    .. [2] R. C. Gonzalez and R. E. Woods, *Digital Image Processing*, 4th ed.,
           section 3.3.2, "Histogram matching (specification)".

    Examples
    --------
    >>> import numpy as np, histeq
    >>> image = np.array([[0, 10], [20, 30]], dtype=np.uint8)
    >>> reference = np.array([[100, 100], [200, 250]], dtype=np.uint8)
    >>> histeq.match(image, reference)
    array([[100, 100],
           [200, 250]], dtype=uint8)
    """
    return _dispatch.call("match", locals())


@overload
def specify(
    image: Image,
    histogram: ArrayLike | str,
    *,
    mask: ArrayLike = ...,
    nbins: int | None = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    out_range: Range = ...,
    alpha: float = ...,
    exact: bool = ...,
    return_ties: Literal[False] = ...,
    threads: int | None = ...,
) -> Image: ...


@overload
def specify(
    image: Image,
    histogram: ArrayLike | str,
    *,
    mask: ArrayLike = ...,
    nbins: int | None = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    out_range: Range = ...,
    alpha: float = ...,
    exact: bool = ...,
    return_ties: Literal[True],
    threads: int | None = ...,
) -> tuple[Image, Ties]: ...
@overload
def specify(
    image: Sequenced,
    histogram: ArrayLike | str,
    *,
    mask: ArrayLike = ...,
    nbins: int | None = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    out_range: Range = ...,
    alpha: float = ...,
    exact: bool = ...,
    return_ties: Literal[False] = ...,
    threads: int | None = ...,
) -> np.ndarray: ...
@overload
def specify(
    image: Sequenced,
    histogram: ArrayLike | str,
    *,
    mask: ArrayLike = ...,
    nbins: int | None = ...,
    axes: Axes = ...,
    channel_axis: ChannelAxis = ...,
    color: Color = ...,
    channel_order: ChannelOrder = ...,
    out_range: Range = ...,
    alpha: float = ...,
    exact: bool = ...,
    return_ties: Literal[True],
    threads: int | None = ...,
) -> tuple[np.ndarray, Ties]: ...


def specify(
    image: Image | Sequenced,
    histogram: ArrayLike | str,
    *,
    mask: ArrayLike = None,
    nbins: int | None = None,
    axes: Axes = None,
    channel_axis: ChannelAxis = None,
    color: Color = None,
    channel_order: ChannelOrder = "rgb",
    out_range: Range = None,
    alpha: float = 0.4,
    exact: bool = False,
    return_ties: bool = False,
    threads: int | None = None,
) -> Image | np.ndarray | tuple[Image | np.ndarray, Ties]:
    """Map an image so that its histogram follows a given one.

    Parameters
    ----------
    image : (..., M, N[, ...][, C]) ndarray
        Any dtype of :func:`histeq.equalize`.
    histogram : (L,) array_like or {'uniform', 'rayleigh', 'exponential'}
        Non-negative weights of L output levels spread evenly over
        ``out_range`` (integer images: rounded to integers, halves up), as
        MATLAB's ``histeq(I, hgram)``; or a named density over the output
        range scaled to [0, 1] (x at the level centres), as the
        ``Distribution`` of MATLAB's ``adapthisteq``: uniform,
        Rayleigh ``x / alpha^2 exp(-x^2 / (2 alpha^2))`` or exponential
        ``alpha exp(-alpha x)``, over 256 levels (integers: every level of
        the output range, up to 65536).
    mask : bool ndarray, optional
        Only pixels where it is True feed the histogram; all are transformed.
    nbins : int, optional
        Bins of float and 32-bit integer image histograms (default 4096).
    axes, channel_axis : optional
        As in :func:`histeq.equalize`; every image (and channel) is mapped
        to the same target.
    color : {'per-channel', 'lightness', 'luma', 'value'}, optional
        With ``channel_axis``: each channel mapped (default), or only the
        intensity, as in :func:`histeq.equalize` (L* spans [0, 100]).
    channel_order : {'rgb', 'bgr'}, optional
        The order of the colour channels: ``'bgr'`` for BGR(A) images as
        OpenCV reads them, so they need no conversion; the result keeps the
        input's order.  Default ``'rgb'``.
    out_range : (lo, hi), optional
        Range of the target levels.  Default: the dtype's range for integers,
        [0, 1] for floats.  Grey and per-channel only.
    alpha : float
        Parameter of the named densities (default 0.4, as MATLAB's).
    exact, return_ties : bool
        Strict ordering, as in :func:`match`: the output histogram is then
        exactly the target scaled to the pixel count.
    threads : int, optional
        Number of threads.

    Returns
    -------
    out : ndarray
        Same shape and dtype as ``image`` (and ``ties`` with ``return_ties``).

    Notes
    -----
    Integer images of at most 16 bits: level ``v`` holding a fraction
    ``q(v)`` of the pixels at or below it maps to the lowest target level
    whose fraction of the weight at or below it reaches ``q(v)`` (the
    discrete quantile, as MATLAB's ``histeq``), so the output holds target
    levels only.  Float and 32-bit integer images: as :func:`match` with a
    reference made of L bins of equal width over ``out_range`` holding the
    weights.

    References
    ----------
    .. [1] R. C. Gonzalez and R. E. Woods, *Digital Image Processing*, 4th ed.,
           section 3.3.2, "Histogram matching (specification)".
    .. [2] D. Coltuc, P. Bolon and J.-M. Chassery, "Exact histogram
           specification", IEEE Trans. Image Processing 15(5), 1143-1152, 2006.

    Examples
    --------
    Two output levels, a quarter of the weight on the dark one:

    >>> import numpy as np, histeq
    >>> image = np.array([[0, 1], [2, 3]], dtype=np.uint8)
    >>> histeq.specify(image, [1, 3])
    array([[  0, 255],
           [255, 255]], dtype=uint8)
    """
    return _dispatch.call("specify", locals())


def fit_match(
    image: ArrayLike,
    reference: ArrayLike,
    *,
    mask: ArrayLike = None,
    reference_mask: ArrayLike = None,
    nbins: int | None = None,
    threads: int | None = None,
) -> EqualizeMapping:
    """Learn the matching of one grey image (NumPy or Dask) to ``reference``, to apply it elsewhere.

    ``fit_match(x, ref, **kw).apply(x)`` equals ``histeq.match(x, ref, **kw)``
    bit for bit; applied to a patch of ``x`` it gives that patch of the
    result.  The whole array is one image; the arguments mean what they
    mean in :func:`match`.  A Dask image or reference is reduced chunk by
    chunk.

    Returns
    -------
    EqualizeMapping
        A table (integers of at most 16 bits) or piecewise-linear pieces
        (floats, 32-bit integers); :meth:`~histeq.EqualizeMapping.save` and
        :meth:`~histeq.EqualizeMapping.load` keep it in a ``.npz`` file.

    Examples
    --------
    Fit on a whole scene, apply to one of its tiles:

    >>> import numpy as np, histeq
    >>> rng = np.random.default_rng(0)
    >>> scene, reference = rng.random((64, 64)), rng.random((32, 32)) ** 2
    >>> fitted = histeq.fit_match(scene, reference)
    >>> np.array_equal(fitted.apply(scene[:16, 8:24]), histeq.match(scene, reference)[:16, 8:24])
    True
    """
    return _dispatch.call("fit_match", locals())


def fit_specify(
    image: ArrayLike,
    histogram: ArrayLike | str,
    *,
    mask: ArrayLike = None,
    nbins: int | None = None,
    out_range: Range = None,
    alpha: float = 0.4,
    threads: int | None = None,
) -> EqualizeMapping:
    """Learn the specification of one grey image (NumPy or Dask) to ``histogram``, to apply it elsewhere.

    ``fit_specify(x, h, **kw).apply(x)`` equals ``histeq.specify(x, h, **kw)``
    bit for bit; applied to a patch of ``x`` it gives that patch of the
    result.  The whole array is one image; the arguments mean what they
    mean in :func:`specify`.

    Returns
    -------
    EqualizeMapping

    Examples
    --------
    >>> import numpy as np, histeq
    >>> scene = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    >>> fitted = histeq.fit_specify(scene, "rayleigh")
    >>> np.array_equal(fitted.apply(scene[8:40, :32]), histeq.specify(scene, "rayleigh")[8:40, :32])
    True
    """
    return _dispatch.call("fit_specify", locals())
