"""Reading and writing images and arrays, with atomic writes.

PNG, JPEG and TIFF (8 and 16 bit, grey, RGB, RGBA; a multi-page TIFF is a
stack), NumPy ``.npy`` and ``.npz`` files, DICOM, and OME-Zarr images (lazily, with their
axes, physical scale and pyramid; the ``dask`` extra).  Needs the ``io`` extra
(Pillow, tifffile, pypng) for images and the ``dicom`` extra (pydicom) for
DICOM; NumPy files need nothing.  Writes go to a temporary file in the target
folder, renamed over the target only once complete, so an interrupted run never
leaves a truncated file.
"""

from ._atomic import atomic_folder, atomic_path, atomic_writer
from ._chunked import write_at as write_at
from ._chunked import write_tiff_chunked
from ._file_metadata import read_tiff as tiff_metadata
from ._images import SUFFIXES, FormatError, is_color_file, read_file, read_image, write_file, write_image
from ._ome_zarr import OmeZarr, is_ome_zarr, read_ome_zarr, write_ome_zarr
from ._physical import pixel_sizes

__all__ = [
    "read_image",
    "write_image",
    "read_file",
    "write_file",
    "read_ome_zarr",
    "write_ome_zarr",
    "is_ome_zarr",
    "OmeZarr",
    "pixel_sizes",
    "tiff_metadata",
    "atomic_writer",
    "atomic_path",
    "atomic_folder",
    "write_tiff_chunked",
    "is_color_file",
    "FormatError",
    "SUFFIXES",
]
