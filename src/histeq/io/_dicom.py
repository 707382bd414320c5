"""DICOM files: pixels read as stored, results written as a derived image that viewers show as it is.

A radiologist's viewer shows the stored pixels through the rescale (slope,
intercept) and a window (centre, width) or VOI LUT.  An equalized image keeps
the input's stored range (its pixels span the same values, so the rescale and
the bit depth still hold), gets a window over that whole range, and is a new,
derived image: a new SOP Instance UID, a derived series (one per source series
and operation), ImageType DERIVED\\SECONDARY, and the operation in
DerivationDescription with the source image referenced.  Works with pydicom 2.3
and later.
"""

from __future__ import annotations

import numpy as np

#: UIDs of derived objects: under pydicom's root, derived from the source UID and the operation, so that
#: all slices of a series processed alike land in one new series, and a re-run gives the same UIDs.
_UID_SALT = "histeq"


def _pydicom():
    try:
        import pydicom
    except ImportError:
        raise ImportError("DICOM files need pydicom: pip install 'histeq[dicom]'") from None
    return pydicom


def read(path) -> tuple[np.ndarray, object]:
    """(pixels as stored, dataset)."""
    dataset = _pydicom().dcmread(path)
    if "PixelData" not in dataset:
        raise ValueError(f"{path} is a DICOM file without pixel data")
    return dataset.pixel_array, dataset


def stored_range(pixels: np.ndarray) -> tuple[int, int] | None:
    """The output range of a DICOM image's results: the range its stored pixels span (None when they are
    constant or not integers, and the default ranges apply)."""
    if pixels.dtype.kind not in "iu" or pixels.size == 0:
        return None
    lo, hi = int(pixels.min()), int(pixels.max())
    return (lo, hi) if lo < hi else None


def write(path, pixels: np.ndarray, dataset, operation: str) -> None:
    """Write ``pixels`` (the source's dtype and shape) as the derived image of ``dataset``, atomically."""
    pydicom = _pydicom()
    from ._atomic import atomic_writer

    expected = dataset.pixel_array
    if pixels.dtype != expected.dtype or pixels.shape != expected.shape:
        raise ValueError(
            f"DICOM output keeps the input's {expected.dtype} {expected.shape} pixels; "
            f"got {pixels.dtype} {pixels.shape}"
        )
    out = dataset.copy()
    if out.file_meta.TransferSyntaxUID.is_compressed:  # the pixels are written back uncompressed
        out.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    out.PixelData = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("<")).tobytes()
    _mark_derived(out, dataset, operation)
    _window_whole_range(out, pixels)
    with atomic_writer(path) as f:
        _save_as(out, f, pydicom.__version__)


def _save_as(dataset, file, version: str) -> None:
    """A standard DICOM file (preamble and file meta): pydicom 3 says so with enforce_file_format, pydicom 2
    (what pip installs on Python 3.9) with write_like_original=False."""
    if int(version.split(".")[0]) >= 3:
        dataset.save_as(file, enforce_file_format=True)
    else:
        dataset.save_as(file, write_like_original=False)


def _mark_derived(out, source, operation: str) -> None:
    pydicom = _pydicom()
    generate = pydicom.uid.generate_uid
    sop = str(source.get("SOPInstanceUID", ""))
    out.SOPInstanceUID = generate(entropy_srcs=[_UID_SALT, operation, sop or str(id(source))])
    out.file_meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    series = str(source.get("SeriesInstanceUID", ""))
    out.SeriesInstanceUID = generate(entropy_srcs=[_UID_SALT, operation, series or out.SOPInstanceUID])
    kind = list(source.get("ImageType", []))
    out.ImageType = ["DERIVED", "SECONDARY"] + [str(v) for v in kind[2:]]
    done = f"histeq {operation}"
    previous = str(source.get("DerivationDescription", ""))
    out.DerivationDescription = (f"{previous}; {done}" if previous else done)[:1024]
    if "SeriesDescription" in source:
        out.SeriesDescription = f"{source.SeriesDescription} ({done})"[:64]
    if sop and "SOPClassUID" in source:
        reference = pydicom.Dataset()
        reference.ReferencedSOPClassUID = source.SOPClassUID
        reference.ReferencedSOPInstanceUID = sop
        out.SourceImageSequence = pydicom.Sequence([reference])


def _window_whole_range(out, pixels: np.ndarray) -> None:
    """A window over the pixels' whole range, in rescaled units, in place of the source's window or VOI LUT
    (chosen for the source's distribution, which equalization changed)."""
    lo, hi = float(pixels.min()), float(pixels.max())
    slope = float(out.get("RescaleSlope", 1) or 1)
    intercept = float(out.get("RescaleIntercept", 0) or 0)
    low, high = sorted((lo * slope + intercept, hi * slope + intercept))
    for keyword in ("VOILUTSequence", "WindowCenterWidthExplanation"):
        if keyword in out:
            delattr(out, keyword)
    # DICOM's linear window: centre c and width w show [c - 1/2 - (w - 1)/2, c - 1/2 + (w - 1)/2].
    out.WindowCenter = _decimal(0.5 + (low + high) / 2)
    out.WindowWidth = _decimal(max(high - low + 1, 1))
    for keyword, value in (("SmallestImagePixelValue", pixels.min()), ("LargestImagePixelValue", pixels.max())):
        if keyword in out:
            setattr(out, keyword, int(value))


def _decimal(value: float) -> str:
    """A DS value (at most 16 characters)."""
    text = f"{value:.6g}"
    return text if len(text) <= 16 else f"{value:.9e}"[:16]
