"""
16-bit microscopy
=================

Cameras on microscopes write 12 or 16 bits into ``uint16`` files, which often fill a few hundred levels
of the 65536. histeq keeps every level:

- **Global equalization** of a ``uint16`` image has one bin per level and gives ``uint16`` back.
- **CLAHE** clips on 256 groups of bins over the image's own range, so a dim 12-bit image is clipped as
  its 8-bit version would be.

Here the bundled sample micrograph is stretched into a dim 12-bit range, stored as ``uint16``.
"""

from importlib.resources import as_file, files

import matplotlib.pyplot as plt
import numpy as np

import histeq
from histeq import io

with as_file(files("histeq") / "data" / "sample.png") as path:
    sample = io.read_image(path).astype(np.float64)
rng = np.random.default_rng(0)
dim = (180 + sample / 255 * 700 + rng.normal(0, 6, sample.shape)).astype(np.uint16)  # levels ~180..880 of 4095

equalized = histeq.equalize(dim)
adaptive = histeq.clahe(dim, tiles=8, clip_limit=2.0)
print(dim.dtype, int(dim.min()), int(dim.max()), "->", equalized.dtype, int(equalized.min()), int(equalized.max()))

fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
for ax, (title, picture) in zip(axes, [("uint16, levels 180..880", dim), ("equalize", equalized), ("clahe", adaptive)]):
    ax.imshow(picture, cmap="magma", vmin=0, vmax=picture.max())
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
plt.show()
