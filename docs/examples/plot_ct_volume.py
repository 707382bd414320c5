"""
A CT volume: in 3-D or slice by slice
=====================================

The Shepp-Logan phantom, stacked into a volume whose slices vary in brightness as a scan's do, as
``int16`` Hounsfield-like values. There are two ways to apply CLAHE to it:

- **3-D CLAHE** (``tiles=(4, 8, 8)``) interpolates between tiles in all three axes, so neighbouring
  slices get similar mappings.
- **Slice by slice** (``axes=(1, 2)``: each slice is one image of a batch) equalizes each slice on its
  own.
"""

import matplotlib.pyplot as plt
import numpy as np
from skimage import data, transform

import histeq

phantom = transform.resize(data.shepp_logan_phantom(), (128, 128), anti_aliasing=True)
depth = np.linspace(0.6, 1.4, 32)[:, None, None]
volume = -1000 + 1400 * phantom[None] * depth + np.random.default_rng(1).normal(0, 20, (32, 128, 128))
volume = volume.astype(np.int16)

in_3d = histeq.clahe(volume, tiles=(4, 8, 8), clip_limit=2.0)
by_slice = histeq.clahe(volume, axes=(1, 2), tiles=8, clip_limit=2.0)

fig, axes = plt.subplots(3, 4, figsize=(12, 9))
for row, (title, stack) in enumerate([("int16 volume", volume), ("3-D CLAHE", in_3d), ("slice by slice", by_slice)]):
    for column, z in enumerate((0, 10, 21, 31)):
        axes[row, column].imshow(stack[z], cmap="gray", vmin=stack.min(), vmax=stack.max())  # one scale a row
        axes[row, column].set_title(f"{title}, slice {z}", fontsize=9)
        axes[row, column].axis("off")
fig.tight_layout()
plt.show()
