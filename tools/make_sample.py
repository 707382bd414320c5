"""Regenerates src/histeq/data/sample.png, the demo's image.

A synthetic, deliberately low-contrast 8-bit "micrograph": uneven illumination,
round cells with darker nuclei, fine texture and sensor noise, squeezed into a
narrow band of grey levels -- the kind of picture histogram equalization is for.
Deterministic; made by this project, so it carries no third-party licence.
"""

from pathlib import Path

import numpy as np
from PIL import Image


def make(size: int = 512, seed: int = 2026) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    scene = 0.35 + 0.25 * x + 0.1 * np.sin(3 * y)  # uneven illumination
    for _ in range(60):
        cy, cx = rng.random(2)
        r = rng.uniform(0.02, 0.07)
        d2 = ((y - cy) ** 2 + (x - cx) ** 2) / r**2
        scene += 0.25 * np.exp(-(d2**2))  # cell body
        scene -= 0.15 * np.exp(-((d2 * 6) ** 2))  # nucleus
    scene += 0.03 * np.sin(40 * x + 25 * y) * np.sin(30 * y)
    scene += rng.normal(0, 0.015, scene.shape)
    scene = (scene - scene.min()) / (scene.max() - scene.min())
    return np.round(70 + 70 * scene).astype(np.uint8)  # levels 70..140 only


if __name__ == "__main__":
    path = Path(__file__).resolve().parents[1] / "src" / "histeq" / "data" / "sample.png"
    Image.fromarray(make()).save(path, optimize=True)
    print(path, path.stat().st_size, "bytes")
