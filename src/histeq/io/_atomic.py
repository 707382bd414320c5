"""Atomic writes: a temporary file beside the target (``_temporary``), renamed over it only once complete."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """A hidden temporary file beside ``path`` that replaces it only when the ``with`` block completes.

    The file is renamed over ``path`` once complete (atomic: same folder), so
    an interrupted or failed write never leaves a truncated ``path``.  On any
    error it is removed and ``path`` is untouched; a process killed outright
    leaves it to the next run into that folder (see ``histeq.io._temporary``).

    Durability: when ``path`` exists (an overwrite, ``--in-place``), the new
    data are flushed to disk (fsync) before the rename, so that even a power
    failure leaves the old file or the new one, never an empty one.  A new
    file is renamed without fsync, as ``cv2.imwrite`` and most tools write:
    a power failure in the seconds after may lose it, but nothing that
    existed before (an fsync per file cost about 1.7 ms, most of the time of
    a folder of small images).
    """
    from . import _temporary

    path = Path(path)
    tmp = _temporary.new_file(path)
    try:
        yield Path(tmp)
        if path.exists():  # durability where it protects data: see the docstring
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
        _temporary.done(tmp)
    except BaseException:
        _temporary.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_writer(path) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` only when the ``with`` block completes (see atomic_path)."""
    # Opened by name: some writers (tifffile) want a file object with a path.
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        yield f


@contextlib.contextmanager
def atomic_folder(path) -> Iterator[Path]:
    """A folder (a Zarr store) to write that replaces ``path`` only when the ``with`` block completes.

    It lies in a hidden folder beside ``path`` and is renamed into place when
    complete; a store it replaces is moved aside first and removed only after
    that, so an interrupted or failed write leaves the old store whole.
    """
    from . import _temporary

    path = Path(path)
    staging = Path(_temporary.new_folder(path))
    try:
        yield staging / "store"
        if path.exists():
            old = Path(_temporary.new_folder(path))
            os.replace(path, old / "store")
            os.replace(staging / "store", path)
            _temporary.remove(str(old))
        else:
            os.replace(staging / "store", path)
    finally:
        _temporary.remove(str(staging))
