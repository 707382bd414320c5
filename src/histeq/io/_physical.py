"""The pixel sizes a file states, per array axis: OME-XML's ``PhysicalSize`` (OME-TIFF), ImageJ's ``spacing``
and resolution, OME-Zarr's scale.  CLAHE's ``spacing`` reads them (``histeq clahe --spacing file``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree


def pixel_sizes(meta: dict) -> dict[int, float]:
    """The pixel size along each array axis that the file of ``meta`` (``read_file``'s, or ``{"ome_zarr":
    OmeZarr}``) states, by axis number; {} when it states none.  The units are the file's (microns, mostly)."""
    if "ome_zarr" in meta:
        ome = meta["ome_zarr"]
        return {axis: ome.scale[axis] for axis in ome.spatial}
    axes = meta.get("axes", "")
    if meta.get("ome"):
        return _by_letter(axes, _ome_xml_sizes(meta["ome"]))
    imagej = meta.get("imagej")
    if imagej:
        sizes = {}
        if "spacing" in imagej:
            sizes["Z"] = float(imagej["spacing"])
        if "resolution" in meta:  # pixels per unit, as (numerator, denominator)
            for letter, (numerator, denominator) in zip("XY", meta["resolution"]):
                if numerator:
                    sizes[letter] = denominator / numerator
        return _by_letter(imagej.get("axes", ""), sizes)
    return {}


def _by_letter(axes: str, sizes: dict[str, float]) -> dict[int, float]:
    return {k: sizes[letter] for k, letter in enumerate(axes.upper()) if letter in sizes and sizes[letter] > 0}


def _ome_xml_sizes(xml: str) -> dict[str, float]:
    """PhysicalSizeX/Y/Z of the first image's Pixels element."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return {}
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Pixels":
            return {
                letter: float(element.attrib[f"PhysicalSize{letter}"])
                for letter in "XYZ"
                if f"PhysicalSize{letter}" in element.attrib
            }
    return {}
