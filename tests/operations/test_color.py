"""Colour modes: the compiled path against the reference, and what each mode keeps."""

import _reference as ref
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import histeq

MODES = ["lightness", "luma", "value"]


def _as(image, dtype):
    if np.dtype(dtype).kind == "f":
        return (image / 255.0).astype(dtype)
    return image.astype(dtype) * (257 if dtype == np.uint16 else 1)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_equals_reference(astronaut, mode, dtype):
    image = _as(astronaut[::2, ::2], dtype)
    out = histeq.equalize(image, channel_axis=-1, color=mode)
    expected = ref.equalize_color(image, mode)
    assert out.dtype == image.dtype and out.shape == image.shape
    if mode == "lightness":  # transcendental functions: the last bit may differ
        tol = 1 if image.dtype.kind == "u" else 1e-5
        assert np.abs(out.astype(float) - expected.astype(float)).max() <= tol
        if image.dtype.kind == "u":
            assert np.mean(out != expected) < 0.01
    else:
        np.testing.assert_array_equal(out, expected)


def test_default_is_lightness(astronaut):
    np.testing.assert_array_equal(
        histeq.equalize(astronaut, channel_axis=-1), histeq.equalize(astronaut, channel_axis=-1, color="lightness")
    )


def test_lightness_keeps_chroma(astronaut):
    from skimage import color

    out = histeq.equalize(astronaut, channel_axis=-1)
    before, after = color.rgb2lab(astronaut), color.rgb2lab(out)
    # Where no channel clipped, a* and b* are kept up to 8-bit quantization.
    inside = (out > 2).all(-1) & (out < 253).all(-1)
    assert inside.mean() > 0.8
    diff = np.abs(after[..., 1:] - before[..., 1:])[inside]
    assert np.median(diff) < 0.5 and np.percentile(diff, 95) < 2.0
    # and lightness is equalized: its histogram is much flatter than before.
    l_hist = np.histogram(after[..., 0], bins=10, range=(0, 100))[0]
    assert l_hist.min() > 0.3 * l_hist.mean()


def test_value_keeps_hue_and_saturation(astronaut):
    from skimage import color

    out = histeq.equalize(astronaut, channel_axis=-1, color="value")
    before, after = color.rgb2hsv(astronaut), color.rgb2hsv(out)
    coloured = (before[..., 1] > 0.2) & (after[..., 2] > 0.2)
    hue = np.abs(after[..., 0] - before[..., 0])[coloured]
    hue = np.minimum(hue, 1 - hue)
    assert np.percentile(hue, 99) < 0.02
    assert np.percentile(np.abs(after[..., 1] - before[..., 1])[coloured], 99) < 0.05


def test_luma_follows_opencv_ycrcb_recipe(astronaut):
    import cv2

    ycrcb = cv2.cvtColor(astronaut, cv2.COLOR_RGB2YCrCb)
    ycrcb[..., 0] = cv2.equalizeHist(ycrcb[..., 0])
    expected = cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
    out = histeq.equalize(astronaut, channel_axis=-1, color="luma")
    diff = np.abs(out.astype(int) - expected)
    # OpenCV rounds Cr/Cb to 8 bits and Y' half-to-even; we keep them exact.
    assert np.percentile(diff, 99) <= 2 and diff.max() <= 4


def test_alpha_passes_through(astronaut):
    alpha = np.random.default_rng(0).integers(0, 256, astronaut.shape[:2], dtype=np.uint8)
    rgba = np.dstack([astronaut, alpha])
    for mode in MODES:
        out = histeq.equalize(rgba, channel_axis=-1, color=mode)
        np.testing.assert_array_equal(out[..., 3], alpha)
        np.testing.assert_array_equal(out[..., :3], histeq.equalize(astronaut, channel_axis=-1, color=mode))


@pytest.mark.parametrize("mode", MODES + ["per-channel"])
def test_channel_axis_position_does_not_matter(astronaut, mode):
    last = histeq.equalize(astronaut, channel_axis=-1, color=mode)
    first = histeq.equalize(np.moveaxis(astronaut, -1, 0), channel_axis=0, color=mode)
    np.testing.assert_array_equal(np.moveaxis(first, 0, -1), last)


@pytest.mark.parametrize("mode", MODES + ["per-channel"])
def test_colour_batches(astronaut, mode):
    batch = np.stack([astronaut[:128, :128], astronaut[200:328, 100:228] // 2])
    out = histeq.equalize(batch, axes=(1, 2), channel_axis=-1, color=mode)
    for i in range(2):
        np.testing.assert_array_equal(out[i], histeq.equalize(batch[i], channel_axis=-1, color=mode))


def test_per_channel_equals_each_channel(astronaut):
    out = histeq.equalize(astronaut, channel_axis=-1, color="per-channel")
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], histeq.equalize(astronaut[..., c]))


def test_colour_mask(astronaut):
    mask = np.zeros(astronaut.shape[:2], bool)
    mask[:200] = True
    out = histeq.equalize(astronaut, channel_axis=-1, color="luma", mask=mask)
    np.testing.assert_array_equal(out, ref.equalize_color(astronaut, "luma", mask=mask))
    per = histeq.equalize(astronaut, channel_axis=-1, color="per-channel", mask=mask)
    np.testing.assert_array_equal(per[..., 1], histeq.equalize(astronaut[..., 1], mask=mask))


def test_grey_rgb_stays_grey():
    grey = np.random.default_rng(1).integers(30, 90, (40, 40), dtype=np.uint8)
    rgb = np.dstack([grey] * 3)
    for mode in ("luma", "value"):
        out = histeq.equalize(rgb, channel_axis=-1, color=mode)
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
        np.testing.assert_array_equal(out[..., 0], histeq.equalize(grey))


@given(
    image=st.integers(0, 2).flatmap(
        lambda d: hnp.arrays(
            [np.uint8, np.uint16][d % 2],
            st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([3, 4])),
            elements=st.integers(0, 255) if d == 0 else st.integers(0, 65535) if d == 1 else st.integers(40, 43),
        )
    ),
    nbins=st.none() | st.integers(2, 300),
    data=st.data(),
)
def test_integer_colour_modes_equal_the_reference(image, nbins, data):
    """Including the fused luma kernel, with its bins, masks and constant images."""
    mask = data.draw(st.none() | hnp.arrays(np.bool_, image.shape[:2]))
    for mode in ("luma", "value"):
        out = histeq.equalize(image, channel_axis=-1, color=mode, nbins=nbins, mask=mask)
        np.testing.assert_array_equal(out, ref.equalize_color(image, mode, nbins=nbins, mask=mask))


@pytest.mark.parametrize("color", ["lightness", "luma", "value", "per-channel"])
def test_bgr_images_equal_their_rgb_results_in_bgr_order(astronaut, color):
    bgr = np.ascontiguousarray(astronaut[..., ::-1])
    for function, kwargs in ((histeq.equalize, {}), (histeq.clahe, {"tiles": 4})):
        np.testing.assert_array_equal(
            function(bgr, channel_axis=-1, color=color, channel_order="bgr", **kwargs)[..., ::-1],
            function(astronaut, channel_axis=-1, color=color, **kwargs),
        )
    np.testing.assert_array_equal(
        histeq.specify(bgr, "rayleigh", channel_axis=-1, color=color, channel_order="bgr")[..., ::-1],
        histeq.specify(astronaut, "rayleigh", channel_axis=-1, color=color),
    )


def test_bgr_reference_and_bgra_and_bad_orders(astronaut):
    from skimage import data

    bgr, coffee = np.ascontiguousarray(astronaut[..., ::-1]), data.coffee()
    np.testing.assert_array_equal(
        histeq.match(
            bgr, np.ascontiguousarray(coffee[..., ::-1]), channel_axis=-1, color="lightness", channel_order="bgr"
        )[..., ::-1],
        histeq.match(astronaut, coffee, channel_axis=-1, color="lightness"),
    )
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 200, np.uint8)])
    bgra = np.ascontiguousarray(rgba[..., [2, 1, 0, 3]])
    np.testing.assert_array_equal(
        histeq.equalize(bgra, channel_axis=-1, channel_order="bgr")[..., [2, 1, 0, 3]],
        histeq.equalize(rgba, channel_axis=-1),
    )
    with pytest.raises(ValueError, match="needs channel_axis"):
        histeq.equalize(bgr, channel_order="bgr")
    with pytest.raises(ValueError, match="'rgb' or 'bgr'"):
        histeq.clahe(bgr, channel_axis=-1, channel_order="hsv")
    with pytest.raises(ValueError, match="3 .BGR. or 4"):
        histeq.equalize(np.zeros((4, 4, 5), np.uint8), channel_axis=-1, channel_order="bgr")
