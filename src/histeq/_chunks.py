"""Dask arrays: the histograms and ranges of chunked arrays, and batches block by block.

Dask is imported only when a Dask array arrives (``pip install 'histeq[dask]'``).
Global equalization, matching and specification (``_backends/dask/mapping.py``) reduce per-chunk histograms
to one, derive one mapping (lazily, as a delayed object) and apply it block
by block, so the result equals the in-memory one bit for bit for any chunking.  Batches (``axes``)
and colour images are processed one block of whole images at a time (the
spatial and channel axes are rechunked to single chunks when they are split).
"""

from __future__ import annotations

import os

import numpy as np

from histeq import _checks as _validate
from histeq._arrays import is_dask
from histeq._kernels import core
from histeq._spec import histogram_bins


def checked(image, mask, channel_axis, axes):
    """(dtype entry, channel axis, spatial axes, mask) of a Dask call, checked as the in-memory calls check
    theirs; a NumPy mask is validated, a Dask mask must be boolean with the image's shape (less channels)."""
    info = _validate.dtype_info(image.dtype)
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape}); there is nothing to process")
    channel = _validate.channel_axis(channel_axis, image.ndim)
    spatial = _validate.spatial_axes(axes, image.ndim, channel)
    grey_shape = tuple(n for a, n in enumerate(image.shape) if a != channel)
    if mask is not None and not is_dask(mask):
        mask = _validate.mask(mask, grey_shape)
    elif mask is not None and (mask.dtype != bool or mask.shape != grey_shape):
        raise ValueError(
            f"a Dask mask must be boolean with the image's shape {grey_shape}, got {mask.dtype} {mask.shape}"
        )
    return info, channel, spatial, mask


def one_image(image, mask):
    """(array, dtype entry, mask) of one whole grey image, NumPy or Dask, as a fit_* function learns from it:
    checked as the calls that take it check theirs."""
    if is_dask(image):
        info, _, _, mask = checked(image, mask, None, None)
        return image, info, mask
    arr, info = _validate.image(image)
    return arr, info, _validate.mask(mask, arr.shape)


def _blocks(arr, mask):
    import dask.array as da

    if mask is None:
        return arr.to_delayed().ravel(), [None] * arr.npartitions
    mask = da.broadcast_to(da.asarray(mask), arr.shape).rechunk(arr.chunks)
    return arr.to_delayed().ravel(), mask.to_delayed().ravel()


def finite_range(arr, mask):
    """(min, max, count) of the counted finite values, computed now (one pass)."""
    import dask

    def part(block, block_mask):
        values = block if block_mask is None else block[block_mask]
        if values.dtype.kind == "f":
            values = values[np.isfinite(values)]
        if values.size == 0:
            return (np.inf, -np.inf, 0)
        return (float(values.min()), float(values.max()), int(values.size))

    parts = dask.compute(*[dask.delayed(part)(b, m) for b, m in zip(*_blocks(arr, mask))])
    count = sum(p[2] for p in parts)
    if count == 0:
        return 0.0, 0.0, 0
    return min(p[0] for p in parts), max(p[1] for p in parts), count


def histogram_counts(arr, mask, info, nbins, lo, hi, threads, lazy=False):
    """The summed histogram of every chunk over fixed bins: computed now, or a delayed (nbins,) array."""
    import dask

    def part(block, block_mask):
        flat = np.ascontiguousarray(block, dtype=info.compute).reshape(1, -1)
        flat_mask = None if block_mask is None else np.ascontiguousarray(block_mask).reshape(1, -1)
        counts = np.zeros((1, nbins), dtype=np.int64)
        if flat.size:
            core.histogram(flat, flat_mask, counts, np.empty((1, 3)), histogram_bins(nbins, lo, hi), threads=threads)
        return counts[0]

    parts = [dask.delayed(part)(b, m) for b, m in zip(*_blocks(arr, mask))]
    total = dask.delayed(lambda *p: np.sum(p, axis=0))(*parts)
    return total if lazy else total.compute()


def histogram_extremes(arr, mask, info, nbins, lo, hi, threads):
    """(counts, low, high), each (nbins,): the summed histogram of floats ``arr`` over fixed bins of [lo, hi] and
    the least and greatest counted value in every bin, reduced over the chunks, computed now."""
    import dask

    def part(block, block_mask):
        flat = np.ascontiguousarray(block, dtype=info.compute).reshape(1, -1)
        flat_mask = None if block_mask is None else np.ascontiguousarray(block_mask).reshape(1, -1)
        counts = np.zeros((1, nbins), dtype=np.int64)
        low, high = np.full((1, nbins), np.inf), np.full((1, nbins), -np.inf)
        if flat.size:
            core.histogram_extremes(
                flat, flat_mask, counts, np.empty((1, 3)), low, high, histogram_bins(nbins, lo, hi), threads=threads
            )
        return counts[0], low[0], high[0]

    parts = dask.compute(*[dask.delayed(part)(b, m) for b, m in zip(*_blocks(arr, mask))])
    return (
        np.sum([p[0] for p in parts], axis=0),
        np.min([p[1] for p in parts], axis=0),
        np.max([p[2] for p in parts], axis=0),
    )


def whole_images(arr, mask, spatial, channel):
    """(arr, mask) with the spatial and channel axes made single chunks (rechunked when split) and the mask, if
    any, as a Dask array of arr's chunks with a size-1 channel axis; batch axes keep their chunks."""
    import dask.array as da

    keep = tuple(spatial) + (() if channel is None else (channel,))
    arr = arr.rechunk({a: -1 for a in keep})
    if mask is None:
        return arr, None
    grey_shape = tuple(n for a, n in enumerate(arr.shape) if a != channel)
    mask = da.broadcast_to(da.asarray(mask), grey_shape)
    if channel is not None:
        mask = da.expand_dims(mask, channel)
    return arr, mask.rechunk(tuple((1,) if a == channel else c for a, c in enumerate(arr.chunks)))


def by_image_blocks(arr, mask, spatial, channel, fn, **map_blocks):
    """fn(block, mask block or None) over blocks of whole images (see whole_images): a chunk of images is one
    task.  ``map_blocks`` keywords describe an output of another shape (drop_axis, new_axis, chunks, dtype)."""
    import dask.array as da

    arr, mask = whole_images(arr, mask, spatial, channel)
    map_blocks.setdefault("dtype", arr.dtype)
    if mask is None:
        return arr.map_blocks(fn, None, **map_blocks)

    def with_mask(block, block_mask):
        return fn(block, block_mask if channel is None else np.squeeze(block_mask, channel))

    return da.map_blocks(with_mask, arr, mask, **map_blocks)


def available_memory() -> int:
    """Free physical memory in bytes (0 where the system does not say)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 0


#: Bytes per pixel an exact ordering holds at once (keys, their radix buffers, the order, the result), at most.
_EXACT_BYTES_PER_PIXEL = 64


def exact_in_memory(image, mask, what, run):
    """Exact ordering needs every pixel at once: ``run(image, mask)`` on the computed arrays when that fits in
    half the available memory (a Dask array of the result comes back, with the ties when run returns them),
    else a ValueError with the reason."""
    import dask.array as da

    need = image.size * _EXACT_BYTES_PER_PIXEL + image.nbytes
    available = available_memory() or need * 2
    if need > available / 2:
        raise ValueError(
            f"{what} orders all {image.size} pixels at once, which needs about {need / 2**30:.1f} GiB; "
            f"{available / 2**30:.1f} GiB are available: it cannot run chunk by chunk"
        )
    result = run(image.compute(), mask.compute() if is_dask(mask) else mask)
    if isinstance(result, tuple):
        return da.from_array(result[0], chunks=image.chunks), result[1]
    return da.from_array(result, chunks=image.chunks)
