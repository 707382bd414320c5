"""Writing a Dask array to a TIFF file block by block, atomically, in bounded memory."""

from __future__ import annotations

import errno
import math
import os
import threading

import numpy as np

from ._atomic import atomic_path
from ._images import _need


def write_tiff_chunked(path, array) -> None:
    """Write a Dask array to an uncompressed TIFF block by block, atomically, in bounded memory.

    tifffile lays out an empty contiguous image (BigTIFF when large: pages
    for the leading axes, RGB/RGBA when the last axis has 3 or 4 entries);
    each block is computed once and written to its place in the file.
    """
    import dask.array as da

    tifffile = _need("tifffile")
    colour = array.ndim in (3, 4) and array.shape[-1] in (3, 4)
    if colour:
        array = array.rechunk({array.ndim - 1: -1})  # whole pixels: one write per run of rows
    with atomic_path(path) as tmp:
        offset, _ = tifffile.imwrite(
            tmp, shape=array.shape, dtype=array.dtype, returnoffset=True, photometric="rgb" if colour else "minisblack"
        )
        with open(tmp, "r+b") as f:
            da.store(array, _FileRegion(f.fileno(), offset, array.shape, array.dtype), lock=False, scheduler="threads")


class _FileRegion:
    """A C-ordered array at ``offset`` of an open file, as a target of ``dask.array.store``."""

    def __init__(self, fd: int, offset: int, shape: tuple, dtype) -> None:
        self.fd, self.offset, self.shape, self.dtype = fd, offset, shape, np.dtype(dtype)
        self.strides = [self.dtype.itemsize * math.prod(shape[k + 1 :]) for k in range(len(shape))]

    def __setitem__(self, key: tuple, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        starts = [k.start or 0 for k in key]
        # Past the first axis (from the end) that the block does not span whole, its runs are contiguous.
        cut = block.ndim - 1
        while cut > 0 and block.shape[cut] == self.shape[cut]:
            cut -= 1
        base = self.offset + sum(s * st for s, st in zip(starts, self.strides))
        for index in np.ndindex(*block.shape[:cut]):
            position = base + sum(i * st for i, st in zip(index, self.strides))
            write_at(self.fd, block[index].tobytes(), position)


_SEEK_LOCK = threading.Lock()


def _positioned_write(fd: int, data, position: int) -> int:
    """``os.pwrite`` where the system has it; else (Windows) a seek and a write under a lock, as blocks are
    stored from several threads."""
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, data, position)
    with _SEEK_LOCK:
        os.lseek(fd, position, os.SEEK_SET)
        return os.write(fd, data)


def write_at(fd: int, data: bytes, position: int) -> None:
    """All of ``data`` at ``position``: a positioned write may write less than asked (a full disk, a signal),
    and writing nothing at all is a full disk.  (Not a memory map: a full disk under a mapped file is SIGBUS.)"""
    view = memoryview(data)
    while view:
        written = _positioned_write(fd, view, position)
        if written <= 0:
            raise OSError(errno.ENOSPC, f"no space left on device (wrote {position} bytes)")
        view, position = view[written:], position + written
