"""Reading and writing images and arrays, with atomic writes.

PNG, JPEG and TIFF (8 and 16 bit, grey, RGB, RGBA; a multi-page TIFF is a
stack), NumPy ``.npy`` and ``.npz`` files, and DICOM.  Needs the ``io`` extra
(Pillow, tifffile, pypng) for images and the ``dicom`` extra (pydicom) for
DICOM; NumPy files need nothing.  Writes go to a temporary file in the target
folder, renamed over the target only once complete, so an interrupted run never
leaves a truncated file.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = [
    "read_image",
    "write_image",
    "read_file",
    "write_file",
    "atomic_writer",
    "atomic_path",
    "write_tiff_chunked",
    "is_color_file",
    "FormatError",
    "SUFFIXES",
]

SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy", ".npz", ".dcm")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {suffix or '(none)'!r}; supported: {', '.join(SUFFIXES)}")
    return suffix


def _need(module: str, extra: str = "io"):
    try:
        return __import__(module)
    except ImportError:
        raise ImportError(f"this file type needs {module}: pip install 'histeq[{extra}]'") from None


def _png_is_16bit_colour(path: Path) -> bool:
    # IHDR: bit depth at byte 24, colour type at byte 25 (2 = RGB, 6 = RGBA).
    with open(path, "rb") as f:
        header = f.read(26)
    return len(header) == 26 and header[24] == 16 and header[25] in (2, 6)


def read_file(path) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays of a file (one, named ``"image"``, except in ``.npz`` files) and the metadata worth keeping
    (TIFF resolution, tags and ImageJ/OME metadata, PNG/JPEG dpi, EXIF and ICC profile, the DICOM dataset;
    see ``histeq._file_metadata``).  :func:`write_file` takes ``meta["operation"]``
    besides, the words that a DICOM output records as its derivation."""
    path = Path(path)
    suffix = _suffix(path)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        if not arrays:
            raise ValueError(f"{path} holds no arrays")
        return arrays, {}
    if suffix == ".dcm":
        from . import _dicom

        pixels, dataset = _dicom.read(path)
        return {"image": pixels}, {"dicom": dataset}
    if suffix in (".tif", ".tiff"):
        from . import _file_metadata

        tifffile = _need("tifffile")
        with tifffile.TiffFile(path) as tif:
            image = tif.asarray()
            meta = _file_metadata.read_tiff(tif)
        return {"image": image}, meta
    if suffix in (".png", ".jpg", ".jpeg"):
        image, meta = _read_with_pillow(path, suffix, photo_metadata=True)
        return {"image": image}, meta
    return {"image": read_image(path)}, {}


def write_file(path, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
    """Write what :func:`read_file` read (atomically), keeping the metadata the format can hold."""
    path = Path(path)
    suffix = _suffix(path)
    meta = meta or {}
    if suffix == ".npz":
        with atomic_writer(path) as f:
            np.savez(f, **arrays)
        return
    if len(arrays) != 1:
        raise ValueError(f"{suffix} holds one image; {len(arrays)} arrays need .npz")
    (array,) = arrays.values()
    array = np.asarray(array)
    if suffix == ".dcm":
        from . import _dicom

        if meta.get("dicom") is None:
            raise ValueError("DICOM output needs a DICOM input (its header is kept); write .tif or .npy instead")
        _dicom.write(path, array, meta["dicom"], meta.get("operation", "processing"))
        return
    writer = {".npy": _write_npy, ".tif": _write_tiff, ".tiff": _write_tiff}.get(suffix, _write_pil_or_png)
    with atomic_writer(path) as f:
        writer(f, array, suffix, meta)


def read_image(path) -> np.ndarray:
    """Read an image or array; colour images come back (M, N, 3 or 4), channels last."""
    path = Path(path)
    suffix = _suffix(path)
    if suffix in (".npz", ".dcm"):
        arrays, _ = read_file(path)
        if len(arrays) != 1:
            raise ValueError(f"{path} holds {len(arrays)} arrays; read it with read_file")
        return next(iter(arrays.values()))
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix in (".tif", ".tiff"):
        return _need("tifffile").imread(path)
    return _read_with_pillow(path, suffix)[0]


def _read_with_pillow(path: Path, suffix: str, photo_metadata: bool = False) -> tuple[np.ndarray, dict]:
    """The pixels of a file Pillow opens (16-bit colour PNGs: pypng's), and with ``photo_metadata`` its dpi,
    EXIF block and ICC profile, from one opening of the file."""
    _need("PIL")
    from PIL import Image

    meta: dict = {}
    with Image.open(path) as im:
        if photo_metadata:
            from . import _file_metadata

            if "dpi" in im.info:
                meta["dpi"] = tuple(float(d) for d in im.info["dpi"])
            meta.update(_file_metadata.read_photo(im))
        if suffix == ".png" and im.mode in ("RGB", "RGBA") and _png_is_16bit_colour(path):
            return _read_16bit_colour_png(path), meta  # Pillow reduces these to 8 bits; pypng keeps them
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif im.mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
            im = im.convert("L" if im.mode == "1" else "RGB")
        array = np.asarray(im)
    if array.dtype == np.int32 and suffix == ".png":  # mode "I" from a 16-bit grey PNG
        array = array.astype(np.uint16)
    return array, meta


def _read_16bit_colour_png(path: Path) -> np.ndarray:
    png = _need("png")
    with open(path, "rb") as f:
        width, height, rows, info = png.Reader(file=f).asDirect()
        pixels = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows])
    return pixels.reshape(height, width, info["planes"])


def is_color_file(path, array: np.ndarray) -> bool:
    """Whether an image file holds colour channels (last axis), as its format says: an RGB(A) image or a
    stack of them.  NumPy arrays and Zarr stores say nothing (use channel_axis)."""
    suffix = Path(path).suffix.lower()
    return suffix not in (".npy", ".npz", ".zarr") and array.ndim in (3, 4) and array.shape[-1] in (3, 4)


def write_image(path, array: np.ndarray) -> None:
    """Write atomically; the format follows the suffix and keeps the array's bit depth."""
    write_file(path, {"image": array})


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """A hidden temporary file beside ``path`` that replaces it only when the ``with`` block completes.

    The file is renamed over ``path`` once complete (atomic: same folder), so
    an interrupted or failed write never leaves a truncated ``path``.  On any
    error it is removed and ``path`` is untouched; a process killed outright
    leaves it to the next run into that folder (see ``histeq._temporary``).

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


def _write_npy(f, array, suffix, meta):
    np.save(f, array, allow_pickle=False)


def _write_tiff(f, array, suffix, meta):
    from . import _file_metadata

    colour = array.ndim in (3, 4) and array.shape[-1] in (3, 4)
    _need("tifffile").imwrite(
        f, array, photometric="rgb" if colour else "minisblack", **_file_metadata.tiff_options(meta, array)
    )


class FormatError(ValueError):
    """An array that a file format cannot hold; ``dtype``: one it holds, to convert to (None: none will do)."""

    def __init__(self, message: str, dtype: str | None = None):
        super().__init__(message)
        self.dtype = dtype


def _check_pil_or_png(array, suffix):
    """What PNG (uint8, uint16) and JPEG (uint8, no alpha) hold: one message for every dtype they refuse."""
    jpeg = suffix in (".jpg", ".jpeg")
    colour = array.ndim == 3 and array.shape[-1] in (3, 4)
    if array.ndim not in (2, 3) or (array.ndim == 3 and not colour):
        raise FormatError(f"{suffix} holds 2-D grey or RGB(A) images, got shape {array.shape}; use .tif or .npy")
    held = ("uint8",) if jpeg else ("uint8", "uint16")
    if array.dtype.name not in held:
        raise FormatError(
            f"{'JPEG' if jpeg else 'PNG'} holds {' or '.join(held)} images, this one is "
            f"{array.dtype}; convert it, or write .tif or .npy",
            "uint8" if jpeg else "uint16",
        )
    if jpeg and colour and array.shape[-1] == 4:
        raise FormatError("JPEG has no alpha channel; write RGBA images as .png or .tif")


def _write_pil_or_png(f, array, suffix, meta):
    from . import _file_metadata

    _check_pil_or_png(array, suffix)
    if array.dtype == np.uint16 and array.ndim == 3:  # 16-bit colour, which Pillow cannot write: pypng
        import io as _bytes_io

        png = _need("png")
        writer = png.Writer(array.shape[1], array.shape[0], bitdepth=16, greyscale=False, alpha=array.shape[-1] == 4)
        buffer = _bytes_io.BytesIO()
        writer.write(buffer, array.reshape(array.shape[0], -1))
        f.write(_file_metadata.png_with_metadata(buffer.getvalue(), meta))
        return
    _need("PIL")
    from PIL import Image

    jpeg = suffix in (".jpg", ".jpeg")
    options = dict(_file_metadata.pillow_options(meta), **({"quality": 95} if jpeg else {}))
    if "dpi" in meta:
        options["dpi"] = meta["dpi"]
    Image.fromarray(array).save(f, format="JPEG" if jpeg else "PNG", **options)
