"""Reading one input and writing one output: a failure becomes one line that names the file (_FileError).

A file is read whole, or lazily (Zarr stores, large TIFFs: chunk by chunk, with Dask); outputs are written
atomically, with only the folders they need.  Heavy imports happen inside the functions.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from ._files import UsageError


class _FileError(Exception):
    """A file that could not be processed; the message names it."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _read(path: Path):
    """(arrays, metadata) of a file; any failure becomes one line that names the file."""
    from .. import io

    try:
        return io.read_file(path)
    except Exception as exc:  # noqa: BLE001 - decoders raise anything on a corrupt file
        raise _FileError(f"cannot read {path}: {_reason(exc)}") from exc


def _read_one(path: Path, option: str | None = None):
    """The one array of a file (a Zarr store: lazily); for an option's file (mask, reference) a failure is a
    usage error."""
    from ._files import require_regular

    require_regular(path)
    try:
        if path.suffix.lower() == ".zarr":
            try:
                return _open_lazy(path)[0]
            except Exception as exc:  # noqa: BLE001 - the store's readers raise anything
                raise _FileError(f"cannot read {path}: {_reason(exc)}") from exc
        arrays, _ = _read(path)
    except _FileError as exc:
        if option is None:
            raise
        raise UsageError(f"{option}: {exc}") from exc
    if len(arrays) != 1:
        raise UsageError(f"{path} holds {len(arrays)} arrays; give a file with one")
    return next(iter(arrays.values()))


def _channel_axis(given: int | None, path: Path, image) -> int | None:
    """The colour axis of a file's array: --channel-axis, else the last axis of a colour image file."""
    from .. import io

    return -1 if given is None and io.is_color_file(path, image) else given


def _write(target: Path, write) -> None:
    """Run ``write`` (an atomic writer of ``target``), creating the folders it needs only now, and removing
    those it created when the write fails: a failed file leaves nothing behind."""
    from .. import io

    created = []
    folder = target.parent
    while folder != folder.parent and not folder.exists():
        created.append(folder)
        folder = folder.parent
    try:
        for made in reversed(created):
            made.mkdir(exist_ok=True)
        write()
    except Exception as exc:  # noqa: BLE001 - encoders and the file system raise anything
        for made in created:
            try:
                made.rmdir()
            except OSError:  # not empty: another file of the run went there
                break
        if isinstance(exc, _FileError):
            raise
        hint = f" (convert with --dtype {exc.dtype})" if isinstance(exc, io.FormatError) and exc.dtype else ""
        raise _FileError(f"cannot write {target}: {_reason(exc)}{hint}") from exc


def _too_big_for_memory(path: Path) -> bool:
    """A TIFF whose decoded image (from its header) would take more than a quarter of the free memory: input,
    output and working space would not fit, so it goes chunk by chunk (when Dask is installed)."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return False
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            size = math.prod(series.shape) * series.dtype.itemsize
    except Exception:  # noqa: BLE001 - the in-memory path reports an unreadable file
        return False
    from .._chunks import available_memory

    available = available_memory()
    return bool(available) and size > available / 4 and importlib.util.find_spec("dask") is not None


def _open_lazy(path: Path, opened: list | None = None):
    """A Dask array of the file and its metadata: a Zarr store (an OME-Zarr image's full resolution, its
    metadata ``{"ome_zarr": OmeZarr}``) or a TIFF's tiles/strips as they are stored, else read whole.  A TIFF
    stays open until the caller closes what ``opened`` received."""
    import dask.array as da

    from .. import io

    suffix = path.suffix.lower()
    if suffix == ".zarr" and io.is_ome_zarr(path):
        _, ome = io.read_ome_zarr(path)
        return _read_lazily(path, str(path / ome.paths[0])), {"ome_zarr": ome}
    if suffix == ".zarr":
        return _read_lazily(path, str(path)), {}
    if suffix in (".tif", ".tiff") and opened is not None:
        import tifffile

        # The TiffFile held open until the caller closes it: tifffile.imread(aszarr=True) closes it at once and
        # the store reopens the file for its reads, a handle that a failed read could leave to the collector.
        tif = tifffile.TiffFile(path)
        opened.append(tif)
        store = tif.aszarr()
        opened.insert(0, store)  # closed first
        return _read_lazily(path, store), io.tiff_metadata(tif)
    arrays, meta = io.read_file(path)
    if len(arrays) != 1:
        raise ValueError(f"{path} holds {len(arrays)} arrays; chunked processing takes files with one")
    return da.from_array(next(iter(arrays.values()))), meta


def _read_lazily(path: Path, store):
    """The Zarr array in ``store`` (``path``'s) as a Dask array of its own chunks, whose reading errors say
    that ``path`` could not be read (they surface while the output is written, chunk by chunk)."""
    import dask.array as da
    import numpy as np
    import zarr

    stored = zarr.open(store, mode="r")

    def read(block_info=None):
        region = tuple(slice(a, b) for a, b in block_info[None]["array-location"])
        try:
            return np.asarray(stored[region])
        except Exception as exc:  # noqa: BLE001 - decoders raise anything on a corrupt file
            raise _FileError(f"cannot read {path}: {_reason(exc)}") from exc

    chunks = da.core.normalize_chunks(stored.chunks, stored.shape)
    return da.map_blocks(read, chunks=chunks, dtype=stored.dtype, meta=np.empty((0,) * stored.ndim, stored.dtype))


def _write_zarr(array, target: Path, meta: dict, spacing=None) -> None:
    """Write a Dask array to a Zarr store chunk by chunk, atomically (``io.atomic_folder``): as OME-Zarr with a
    pyramid when the input was one (its metadata kept) or the target's name ends in ``.ome.zarr`` (``spacing``:
    the input's pixel sizes along its spatial axes, where known), else as one plain array."""
    from .. import io

    if "ome_zarr" in meta:
        io.write_ome_zarr(target, array, meta["ome_zarr"])
    elif target.name.lower().endswith(".ome.zarr"):
        io.write_ome_zarr(target, array, io.OmeZarr.for_array(array.shape, spacing))
    else:
        with io.atomic_folder(target) as store:
            array.to_zarr(str(store))
