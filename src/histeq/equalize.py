"""Global histogram equalization."""

from __future__ import annotations

from typing import Literal, overload

import numpy as np

from . import _color, _compat, _validate, mapping, matching
from . import dask as _dask
from ._kernels import UINT8, UINT16, DtypeInfo, core, get_num_threads, require_tables, resolve_threads
from ._layout import BatchLayout
from ._spec import Spec, make_spec
from ._types import ArrayLike, Axes, ChannelAxis, ChannelOrder, Color, Image, Range, Ties

__all__ = ["equalize"]

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
@_validate.public
def equalize(
    image,
    *,
    nbins=None,
    mask=None,
    axes=None,
    channel_axis=None,
    color=None,
    channel_order="rgb",
    in_range=None,
    out_range=None,
    exact=False,
    return_ties=False,
    compat=None,
    threads=None,
):
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
    if (
        type(image) is np.ndarray
        and nbins is None
        and mask is None
        and axes is None
        and channel_axis is None
        and color is None
        and in_range is None
        and out_range is None
        and exact is False
        and return_ties is False
        and threads is None
    ):
        out = _one_image(image, compat)
        if out is not None:
            return out
    if _dask.is_dask(image):
        if exact is not False or return_ties is not False:  # one global order: in memory, when it fits
            return _dask.exact_in_memory(
                image,
                mask,
                "exact equalization",
                lambda x, m: equalize(
                    x,
                    nbins=nbins,
                    mask=m,
                    axes=axes,
                    channel_axis=channel_axis,
                    color=color,
                    in_range=in_range,
                    out_range=out_range,
                    exact=exact,
                    return_ties=return_ties,
                    compat=compat,
                    threads=threads,
                ),
            )
        return _equalize_dask(
            image,
            nbins=nbins,
            mask=mask,
            axes=axes,
            channel_axis=channel_axis,
            color=color,
            in_range=in_range,
            out_range=out_range,
            compat=compat,
            threads=threads,
        )
    call = _validate.call(image, mask, nbins, in_range, out_range, channel_axis, axes)
    arr, info, channel, spatial = call.arr, call.info, call.channel, call.spatial
    mode = _validate.choice(compat, "compat", _validate.COMPAT_MODES)
    nthreads = resolve_threads(threads)
    route, color_mode = _route(call, mode, color, exact is not False or return_ties is not False)
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


def _equalize_dask(image, *, mask, axes, channel_axis, **kwargs):
    """A Dask array: one global histogram for a whole grey array, otherwise blocks of whole images."""
    info, channel, spatial, mask = _dask.checked(image, mask, channel_axis, axes)
    nbins = _validate.nbins(kwargs["nbins"])
    in_range = _validate.value_range(kwargs["in_range"], info, "in_range")
    out_range = _validate.value_range(kwargs["out_range"], info, "out_range")
    if channel is None and len(spatial) == image.ndim and kwargs["color"] is None and kwargs["compat"] is None:
        return mapping.equalize_dask(image, mask, nbins, in_range, out_range, kwargs["threads"])

    def one_block(block, block_mask):
        return equalize(block, mask=block_mask, axes=spatial, channel_axis=channel, **kwargs)

    return _dask.by_image_blocks(image, mask, spatial, channel, one_block)
