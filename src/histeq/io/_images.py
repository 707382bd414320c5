"""Reading and writing images and arrays by file type (PNG, JPEG, TIFF, NumPy, DICOM), keeping the metadata
each format holds (``_file_metadata``, ``_dicom``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._atomic import atomic_writer

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
    see ``histeq.io._file_metadata``).  :func:`write_file` takes ``meta["operation"]``
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
