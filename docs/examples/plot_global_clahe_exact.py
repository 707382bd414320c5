"""
Global, adaptive (CLAHE) and exact equalization
===============================================

The camera image three ways, with each result's histogram and cumulative distribution:

- **Global equalization** maps every pixel through the image's cumulative histogram.
- **CLAHE** maps each pixel through the histograms of the tiles around it, clipped so that no level's
  slope exceeds ``clip_limit``. Local contrast rises, and noise in flat regions is not amplified.
- **Exact equalization** orders the pixels that share a level by their neighbourhoods, so the output
  histogram is exactly flat.
"""

import matplotlib.pyplot as plt
from skimage import data

import histeq

image = data.camera()
results = {
    "original": image,
    "equalize": histeq.equalize(image),
    "clahe (8 x 8 tiles, clip 2)": histeq.clahe(image, tiles=8, clip_limit=2.0),
    "equalize(exact=True)": histeq.equalize(image, exact=True),
}

fig, axes = plt.subplots(2, 4, figsize=(14, 6.5))
for column, (title, picture) in enumerate(results.items()):
    axes[0, column].imshow(picture, cmap="gray", vmin=0, vmax=255)
    axes[0, column].set_title(title)
    axes[0, column].axis("off")
    counts, edges = histeq.histogram(picture)
    cdf, centers = histeq.cumulative_distribution(picture)
    axes[1, column].bar(edges[:-1], counts, width=1.0, color="0.4")
    twin = axes[1, column].twinx()
    twin.plot(centers, cdf, color="tab:red")
    twin.set_ylim(0, 1.02)
    axes[1, column].set_xlim(0, 255)
fig.tight_layout()
plt.show()
