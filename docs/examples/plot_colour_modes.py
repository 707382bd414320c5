"""
Colour modes side by side
=========================

Equalizing each RGB channel on its own shifts colours: a reddish photo turns blue-grey. histeq's
colour modes equalize one intensity instead and keep the colour around it:

- **lightness**: CIELAB L\\*, keeping a\\* and b\\*. This is the default.
- **luma**: BT.601 Y', keeping Cb and Cr, as OpenCV's YCrCb recipe does.
- **value**: HSV V, keeping hue and saturation.
- **per-channel**: each channel alone, as Pillow and torchvision do.
"""

import matplotlib.pyplot as plt
from skimage import data

import histeq

photo = data.coffee()
modes = ["lightness", "luma", "value", "per-channel"]
fig, axes = plt.subplots(1, 5, figsize=(16, 3.4))
axes[0].imshow(photo)
axes[0].set_title("original")
for ax, mode in zip(axes[1:], modes):
    ax.imshow(histeq.equalize(photo, channel_axis=-1, color=mode))
    ax.set_title(f'color="{mode}"')
for ax in axes:
    ax.axis("off")
fig.tight_layout()
plt.show()
