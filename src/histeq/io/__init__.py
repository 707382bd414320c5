"""Reading and writing images and arrays, with atomic writes.

PNG, JPEG and TIFF (8 and 16 bit, grey, RGB, RGBA; a multi-page TIFF is a
stack), NumPy ``.npy`` and ``.npz`` files, and DICOM.  Needs the ``io`` extra
(Pillow, tifffile, pypng) for images and the ``dicom`` extra (pydicom) for
DICOM; NumPy files need nothing.  Writes go to a temporary file in the target
folder, renamed over the target only once complete, so an interrupted run never
leaves a truncated file.
"""

from ._atomic import atomic_path, atomic_writer
from ._chunked import write_at as write_at
from ._chunked import write_tiff_chunked
from ._images import SUFFIXES, FormatError, is_color_file, read_file, read_image, write_file, write_image

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
