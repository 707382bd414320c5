"""Reproductions of the peers' equalization conventions (``compat=``).

Each peer's rule is a table from the histogram.  OpenCV's and Pillow's
(float32 scale and round-half-even; integer steps) are built and applied in
the compiled core (peer_equalize.hpp, clahe_opencv.hpp); scikit-image's
interpolation between bin centres is built here over the compiled histogram.
The NumPy references of the first two are in the tests (``tests/_reference.py``).
"""

from __future__ import annotations

import numpy as np

from histeq import _checks as _validate
from histeq._kernels import MAX_NBINS, DtypeInfo, core, require_tables
from histeq._layout import BatchLayout, grey_axes
from histeq._spec import make_spec

#: scikit-image's default number of bins for float images.
SKIMAGE_NBINS = 256


def equalize(
    arr: np.ndarray,
    info: DtypeInfo,
    mode: str,
    channel: int | None,
    spatial: tuple[int, ...],
    mask: np.ndarray | None,
    nbins: int | None,
    in_range,
    out_range,
    threads: int,
) -> np.ndarray:
    """``arr`` equalized as the peer ``mode`` does, each image and channel alone; ``mask`` has the image's shape
    without the channel axis."""
    check_peer(mode, info, nbins, mask, in_range, out_range)
    if mode == "skimage":
        layout = BatchLayout(arr.shape, spatial)
        mask = _validate.channel_mask(mask, channel, arr.shape)
        flat_mask = None if mask is None else layout.flatten(mask)
        return layout.restore(_skimage(layout.flatten(arr), flat_mask, info, nbins or SKIMAGE_NBINS, threads))
    # The compiled core takes the channels interleaved, last, as a colour image stores them (no reordering).
    pixels = arr[..., None] if channel is None else np.moveaxis(arr, channel, -1)
    layout = BatchLayout(pixels.shape[:-1], spatial if channel is None else grey_axes(spatial, channel))
    flat = layout.flatten(pixels, channels=True)
    out = np.empty_like(flat)
    core.equalize_peer(flat, None if mask is None else layout.flatten(mask), out, rule=mode, threads=threads)
    result = layout.restore(out, channels=True)
    return result[..., 0] if channel is None else np.moveaxis(result, -1, channel)


def check_peer(mode: str, info: DtypeInfo, nbins, mask, in_range, out_range) -> None:
    """The arguments equalize's compat ``mode`` refuses: a TypeError or ValueError naming the peer's limits."""
    if in_range is not None or out_range is not None:
        raise ValueError(f"compat={mode!r} takes no in_range or out_range: the peer has none")
    if mode == "skimage":
        return
    if info.dtype != np.uint8:
        raise TypeError(f"compat={mode!r} reproduces a uint8-only function; got {info.dtype}")
    if nbins is not None:
        raise ValueError(f"compat={mode!r} takes no nbins: the peer always uses 256")
    if mode == "opencv" and mask is not None:
        raise ValueError("compat='opencv' takes no mask: cv2.equalizeHist has none (compat='pillow' has one)")


def _counts(flat, flat_mask, info, threads, spec=None):
    spec = spec or make_spec(info, None, None, None)
    counts = np.empty((flat.shape[0], spec.nbins), dtype=np.int64)
    ranges = np.empty((flat.shape[0], 3), dtype=np.float64)
    core.histogram(flat, flat_mask, counts, ranges, spec.core, threads=threads)
    return counts


def _skimage(flat, flat_mask, info, nbins, threads):
    """skimage.exposure.equalize_hist: interpolate the CDF between bin centres.

    Integers get one bin per level between the image's min and max (nbins is
    ignored, as in scikit-image); floats get ``nbins`` bins over their range.
    Output dtype: float32 for float16/float32 input, float64 otherwise.  Where
    scikit-image cannot work (NaN in the image) NaN is kept as NaN.
    """
    out_dtype = np.float32 if info.dtype in (np.float16, np.float32) else np.float64
    out = np.empty(flat.shape, dtype=out_dtype)
    for b in range(flat.shape[0]):
        pixels = flat[b : b + 1]
        mask = None if flat_mask is None else flat_mask[b : b + 1]
        counted = pixels if mask is None else pixels[mask]
        counted = counted[np.isfinite(counted)] if info.is_float else counted
        if counted.size == 0:
            out[b] = np.nan
            continue
        lo, hi = counted.min(), counted.max()
        if info.is_float:
            if lo == hi:  # numpy's widening of an empty range
                lo, hi = lo - 0.5, hi + 0.5
            ranges = (float(lo), float(hi))
            spec = make_spec(info, nbins, ranges, None)
            edges = np.arange(nbins + 1) * ((ranges[1] - ranges[0]) / nbins) + ranges[0]
            edges[-1] = ranges[1]
            centers = (edges[:-1] + edges[1:]) / 2.0
        else:
            levels = int(hi) - int(lo) + 1
            if levels > MAX_NBINS:
                raise ValueError(f"compat='skimage' needs one bin per level; this image spans {levels} levels")
            spec = make_spec(info, levels, (float(lo), float(hi)), None)
            centers = np.arange(int(lo), int(hi) + 1)
        counts = _counts(np.ascontiguousarray(pixels, dtype=info.compute), mask, info, threads, spec)[0]
        cdf = np.cumsum(counts) / float(counts.sum())
        out[b] = np.interp(pixels[0], centers, cdf.astype(out_dtype))
    return out


def clahe_opencv(
    arr: np.ndarray, info: DtypeInfo, spatial: tuple[int, ...], tiles: tuple[int, int], clip: float | None, threads: int
) -> np.ndarray:
    """cv2.createCLAHE(clip, (tiles_x, tiles_y)).apply, image by image, with OpenCV's arithmetic (in the
    compiled core, clahe_opencv.hpp); the geometry is opencv_geometry's."""
    layout = BatchLayout(arr.shape, spatial)
    tile_h, tile_w, limit = opencv_geometry(info, layout.spatial_shape, tiles, clip)
    height, width = layout.spatial_shape
    require_tables(
        tiles[0] * tiles[1] * info.default_nbins * info.dtype.itemsize * min(threads, layout.batch),
        arr.nbytes,
        f"OpenCV's tables for {tiles[0]}x{tiles[1]} tiles",
    )
    flat = layout.flatten(arr)
    out = np.empty_like(flat)
    core.clahe_opencv(
        flat,
        out,
        height=height,
        width=width,
        tiles_y=tiles[0],
        tiles_x=tiles[1],
        tile_h=tile_h,
        tile_w=tile_w,
        limit=limit,
        threads=threads,
    )
    return layout.restore(out)


def check_opencv_clahe(channel, mask, nbins, in_range, out_range, color) -> None:
    """The arguments of clahe(compat='opencv') cv2.CLAHE has no counterpart of: a ValueError."""
    if channel is not None or any(a is not None for a in (mask, nbins, in_range, out_range, color)):
        raise ValueError(
            "compat='opencv' takes a grey 2-D image (or a batch of them) and no mask, nbins, "
            "in_range, out_range or color: cv2.CLAHE has none"
        )


def opencv_geometry(
    info: DtypeInfo, shape: tuple[int, ...], tiles: tuple[int, ...], clip: float | None
) -> tuple[int, int, int]:
    """(tile height, tile width, count limit) of cv2.CLAHE on images of ``shape``; a TypeError or ValueError
    where OpenCV takes no such image.

    OpenCV pads the bottom and right edges (mirrored, without repeating the
    edge) up to a multiple of the tiles -- both edges whenever either size is
    not a multiple -- clips each tile's histogram at
    ``max(int(clip * area / bins), 1)``, hands the clipped counts out evenly
    with the remainder on every ``bins // remainder``-th bin from the first,
    and interpolates the tile tables in float32, rounding halves to even.
    ``clip=None`` (or at most 0) is OpenCV's clipLimit 0: no clipping (limit 0).
    """
    if info.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"compat='opencv' CLAHE takes uint8 or uint16 images (as cv2.CLAHE), got {info.dtype}")
    if len(shape) != 2:
        raise ValueError(f"compat='opencv' CLAHE works on 2-D images; got {len(shape)} spatial axes")
    (height, width), (ty, tx) = shape, tiles
    padded = (
        (height, width) if not (height % ty or width % tx) else (height + ty - height % ty, width + tx - width % tx)
    )
    tile_h, tile_w = padded[0] // ty, padded[1] // tx
    limit = max(int(clip * tile_h * tile_w / info.default_nbins), 1) if clip is not None and clip > 0 else 0
    return tile_h, tile_w, limit
