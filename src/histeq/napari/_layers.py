"""An Image layer as a histeq call's input, and a result as a layer like it: no Qt here, so the rules are
testable (and used) without a viewer.

napari keeps an RGB(A) image's channels on the last axis and gives ``scale`` and ``translate`` per displayed
axis (the channel axis excluded); a multiscale layer holds its pyramid, level 0 at full resolution.
"""

from __future__ import annotations

from typing import Any

#: What a result layer keeps of its input layer, where the installed napari has it.
_KEPT = ("scale", "translate", "rotate", "shear", "affine", "blending", "units", "axis_labels")


def layer_input(layer: Any, volume: bool) -> tuple[Any, dict[str, Any], tuple[float, ...]]:
    """The array a histeq call takes from ``layer`` (its full resolution), the layout keywords (``axes``, and
    ``channel_axis`` for RGB), and the layer's pixel size along those spatial axes (its ``scale``).

    ``volume``: 3-D processing of a layer with three or more axes (CLAHE's tiles in 3-D, one histogram per
    volume); otherwise each 2-D plane is an image of its own.  Axes before the spatial ones (time, channels
    kept as separate planes) are a batch: each of their images is processed on its own.
    """
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    spatial = 3 if volume and layer.ndim >= 3 else 2
    if layer.rgb:
        keywords: dict[str, Any] = {"axes": tuple(range(-spatial - 1, -1)), "channel_axis": -1}
    else:
        keywords = {"axes": tuple(range(-spatial, 0))}
    return data, keywords, tuple(float(step) for step in layer.scale[-spatial:])


def result_properties(layer: Any, what: str) -> dict[str, Any]:
    """Keywords of ``viewer.add_image`` for the result of ``layer``: its placement in the world (scale,
    translation, rotation, shear, affine; units and axis labels), its metadata and its display."""
    properties = {name: getattr(layer, name) for name in _KEPT if hasattr(layer, name)}
    properties.update(name=f"{layer.name} {what}", metadata=dict(layer.metadata), rgb=layer.rgb)
    if not layer.rgb:
        properties["colormap"] = layer.colormap
    return properties
