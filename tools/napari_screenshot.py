"""The README's napari screenshot: a 16-bit volume with anisotropic voxels before and after the CLAHE widget,
side by side in napari's grid, with the widget docked.

    xvfb-run -a -s "-screen 0 1600x1000x24" python tools/napari_screenshot.py docs/napari_clahe.png

Needs ``histeq[napari]`` and a display (xvfb-run gives one; Qt's offscreen platform has no OpenGL for the
canvas).  The volume is synthetic (blobs of a few sizes under uneven illumination, with a camera's noise over
the 16-bit range), so the script needs no download.
"""

from __future__ import annotations

import sys
import time

import napari
import numpy as np
from scipy import ndimage


def volume(shape=(48, 256, 256), seed=7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cells = np.zeros(shape)
    count = 500
    centres = rng.uniform((0, 0, 0), shape, (count, 3))
    z, y, x = np.indices(shape, dtype=np.float32)
    for (cz, cy, cx), radius, brightness in zip(centres, rng.uniform(4, 11, count), rng.uniform(0.3, 1, count)):
        inside = ((z - cz) * 3.5) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 < radius**2  # 1.4 / 0.4 = 3.5
        cells[inside] = np.maximum(cells[inside], brightness)
    cells = ndimage.gaussian_filter(cells, (0.6, 2, 2))
    illumination = 0.03 + np.exp(-(((y - 30) / 110) ** 2 + ((x - 40) / 120) ** 2 + ((z - 10) / 40) ** 2))
    signal = 1500 + 50000 * cells * illumination  # bright in one corner, dim in the others
    return rng.poisson(signal).clip(0, 65535).astype(np.uint16) + rng.normal(0, 200, shape).clip(0).astype(np.uint16)


def main(target: str) -> None:
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1500, 820)
    layer = viewer.add_image(volume(), name="stack (uint16)", scale=(1.4, 0.4, 0.4), colormap="gray")
    _, widget = viewer.window.add_plugin_dock_widget("histeq", "CLAHE (adaptive equalization)")
    widget.image.value = layer
    widget.region.value = "size in the layer's units (scale)"
    widget.size.value = 20.0  # microns: 14 x 50 x 50 voxels
    widget.clip_limit.value = 4.0
    widget.start()
    while widget.worker is not None:
        napari.qt.get_qapp().processEvents()
        time.sleep(0.02)
    for shown in viewer.layers:  # each displayed over its own 0.1 - 99.9 percentiles, as auto-contrast would
        shown.contrast_limits = tuple(float(v) for v in np.percentile(shown.data, (0.1, 99.9)))
    (viewer.canvas.grid if hasattr(viewer, "canvas") else viewer.grid).enabled = True  # napari 0.9 / before
    viewer.dims.current_step = (24, 0, 0)
    viewer.reset_view()
    for _ in range(20):
        napari.qt.get_qapp().processEvents()
        time.sleep(0.02)
    viewer.screenshot(target, canvas_only=False, flash=False)
    viewer.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/napari_clahe.png")
