"""What a result keeps of its input file's metadata: read from one file, written with another.

Photos (JPEG, PNG): the EXIF block and the ICC colour profile.  The pixels are
processed as stored and the EXIF orientation is kept with them, so a viewer
turns the result as it turned the input (every method here commutes with
flips and transposes of the image's axes); a profile keeps wide-gamut colours
what they were.  TIFF: resolution, the ICC profile, the orientation, GeoTIFF
tags, ImageJ metadata (axes, spacing, unit) and OME-XML.  Pillow and tifffile
read and write them; nothing here decodes pixels.
"""

from __future__ import annotations

import struct
import zlib

#: TIFF tags kept as they are: Orientation, and the GeoTIFF/GDAL tags of georeferenced images.
_KEPT_TIFF_TAGS = (274, 33550, 33922, 34264, 34735, 34736, 34737, 42112, 42113)


def read_photo(image) -> dict:
    """The EXIF block and ICC profile of an open Pillow image, as bytes ({} when it has neither)."""
    meta = {}
    icc = image.info.get("icc_profile")
    if icc:
        meta["icc_profile"] = bytes(icc)
    exif = image.getexif()
    if len(exif):
        meta["exif"] = exif.tobytes()
    return meta


_ORIENTATION = 274  # the same tag in EXIF and TIFF


def _exif_orientation(exif: bytes) -> int | None:
    from PIL import Image

    parsed = Image.Exif()
    parsed.load(exif)
    value = parsed.get(_ORIENTATION)
    return int(value) if value else None


def pillow_options(meta: dict) -> dict:
    """Keywords of Pillow's ``save`` (JPEG, PNG) that write the metadata back (a TIFF's orientation as EXIF)."""
    options = {key: meta[key] for key in ("icc_profile", "exif") if meta.get(key)}
    orientation = [tag[3] for tag in meta.get("tiff_tags", ()) if tag[0] == _ORIENTATION]
    if "exif" not in options and orientation:
        from PIL import Image

        exif = Image.Exif()
        exif[_ORIENTATION] = int(orientation[0])
        options["exif"] = exif.tobytes()
    return options


def png_with_metadata(png: bytes, meta: dict) -> bytes:
    """A PNG file (pypng writes 16-bit colour, without metadata) with an iCCP and an eXIf chunk added before
    its image data."""
    chunks = []
    if meta.get("icc_profile"):
        chunks.append((b"iCCP", b"ICC profile\x00\x00" + zlib.compress(meta["icc_profile"])))
    if meta.get("exif"):
        exif = meta["exif"]
        chunks.append((b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    if not chunks:
        return png
    at = png.index(b"IDAT") - 4  # the first image data chunk starts with its length
    added = b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data)) for kind, data in chunks
    )
    return png[:at] + added + png[at:]


def read_tiff(tif) -> dict:
    """What a TIFF result keeps of an open ``tifffile.TiffFile``."""
    meta: dict = {}
    page = tif.pages[0]
    tags = page.tags
    if "XResolution" in tags and "YResolution" in tags:
        meta["resolution"] = (tags["XResolution"].value, tags["YResolution"].value)
        if "ResolutionUnit" in tags:
            meta["resolutionunit"] = int(tags["ResolutionUnit"].value)
    if "InterColorProfile" in tags:
        meta["icc_profile"] = bytes(tags["InterColorProfile"].value)
    extratags = []
    for tag in tags.values():
        if tag.code in _KEPT_TIFF_TAGS:
            extratags.append((tag.code, int(tag.dtype), tag.count, tag.value, True))
    if extratags:
        meta["tiff_tags"] = extratags
    if tif.is_ome and tif.ome_metadata:
        meta["ome"] = tif.ome_metadata
        meta["axes"] = tif.series[0].axes  # which axis each PhysicalSize is
    elif tif.is_imagej and tif.imagej_metadata is not None:
        kept = {
            k: v
            for k, v in tif.imagej_metadata.items()
            if k in ("spacing", "unit", "finterval", "loop", "min", "max", "Labels", "Ranges")
        }
        meta["imagej"] = dict(kept, axes=tif.series[0].axes)
    return meta


def tiff_options(meta: dict, array) -> dict:
    """Keywords of ``tifffile.imwrite`` that write the metadata back for ``array`` (ImageJ's where ImageJ can
    hold the array: uint8, uint16 or float32, its axes unchanged)."""
    options: dict = {key: meta[key] for key in ("resolution", "resolutionunit") if key in meta}
    if meta.get("icc_profile"):
        options["iccprofile"] = meta["icc_profile"]
    extratags = list(meta.get("tiff_tags", ()))
    if meta.get("exif") and not any(tag[0] == _ORIENTATION for tag in extratags):  # a photo's orientation
        orientation = _exif_orientation(meta["exif"])
        if orientation:
            extratags.append((_ORIENTATION, 3, 1, orientation, True))
    if extratags:
        options["extratags"] = extratags
    imagej = meta.get("imagej")
    if meta.get("ome"):
        options.update(description=meta["ome"], metadata=None)
    elif imagej and array.dtype.name in ("uint8", "uint16", "float32") and len(imagej["axes"]) == array.ndim:
        options.update(imagej=True, metadata=dict(imagej))
    return options
