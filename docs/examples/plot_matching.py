"""
Matching one image's histogram to another's
===========================================

``histeq.match`` maps an image so that its histogram follows a reference image's. It works on the
lightness of colour images by default, so the colours of the image are kept while its tones follow
the reference. ``exact=True`` makes the histograms equal exactly.
"""

import matplotlib.pyplot as plt
from skimage import data

import histeq

image, reference = data.astronaut(), data.coffee()
matched = histeq.match(image, reference, channel_axis=-1)
exact = histeq.match(image, reference, channel_axis=-1, color="per-channel", exact=True)

fig, axes = plt.subplots(1, 4, figsize=(14, 3.8))
for ax, (title, picture) in zip(
    axes,
    [("image", image), ("reference", reference), ("match (lightness)", matched), ("match per channel, exact", exact)],
):
    ax.imshow(picture)
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
plt.show()
