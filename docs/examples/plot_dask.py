"""
Larger than memory: the Dask path
=================================

A Dask array is processed chunk by chunk:

- the histograms are summed over the chunks, then each chunk is mapped;
- for CLAHE, the tile grid is anchored to the whole array, so the result equals the in-memory one for
  any chunking;
- nothing runs until ``.compute()`` or a write (``to_zarr``).

On the command line, ``histeq equalize scene.zarr -o out.zarr`` does the same.
"""

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from skimage import data

import histeq

scene = np.tile(data.moon(), (4, 4))  # 2048 x 2048, standing in for a mosaic too big for memory
lazy = da.from_array(scene, chunks=(700, 600))  # chunks that cut across tiles
result = histeq.clahe(lazy, tiles=16, clip_limit=2.0)
print(result)  # a Dask array: nothing computed yet
computed = result.compute()
assert np.array_equal(computed, histeq.clahe(scene, tiles=16, clip_limit=2.0))

fig, axes = plt.subplots(1, 2, figsize=(11, 5.6))
axes[0].imshow(scene, cmap="gray")
axes[0].set_title("2048 x 2048, chunks of 700 x 600")
axes[1].imshow(computed, cmap="gray")
axes[1].set_title("clahe, chunk by chunk (equal to in memory)")
for ax in axes:
    ax.axis("off")
fig.tight_layout()
plt.show()
