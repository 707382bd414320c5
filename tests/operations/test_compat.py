"""compat= modes against the peers themselves, on real images."""

import numpy as np
import pytest
from conftest import real_grey_images
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import histeq

GREY = real_grey_images()


@pytest.mark.parametrize("name", sorted(GREY))
def test_opencv_bit_exact(name):
    import cv2

    image = GREY[name]
    np.testing.assert_array_equal(histeq.equalize(image, compat="opencv"), cv2.equalizeHist(image))


@given(
    hnp.arrays(
        np.uint8,
        hnp.array_shapes(min_dims=2, max_dims=2, max_side=40),
        elements=st.integers(0, 255) | st.integers(100, 103),
    )
)
def test_opencv_bit_exact_on_generated_images(image):
    import cv2

    np.testing.assert_array_equal(histeq.equalize(image, compat="opencv"), cv2.equalizeHist(image))
    # A contiguous image takes the one-image path, a transposed view the full one.
    np.testing.assert_array_equal(histeq.equalize(image.T, compat="opencv"), cv2.equalizeHist(image.T.copy()))


def test_opencv_batch_and_per_channel(astronaut):
    import cv2

    batch = np.stack([GREY["camera"], GREY["camera"][::-1] // 2])
    out = histeq.equalize(batch, axes=(1, 2), compat="opencv")
    for i in range(2):
        np.testing.assert_array_equal(out[i], cv2.equalizeHist(batch[i]))
    rgb = histeq.equalize(astronaut, channel_axis=-1, compat="opencv")
    expected = np.stack([cv2.equalizeHist(np.ascontiguousarray(astronaut[..., c])) for c in range(3)], axis=-1)
    np.testing.assert_array_equal(rgb, expected)


def _pillow(image, mask=None):
    from PIL import Image, ImageOps

    pil_mask = None if mask is None else Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(ImageOps.equalize(Image.fromarray(image), mask=pil_mask))


@pytest.mark.parametrize("name", sorted(GREY))
def test_pillow_bit_exact_grey(name):
    image = GREY[name]
    np.testing.assert_array_equal(histeq.equalize(image, compat="pillow"), _pillow(image))


def test_pillow_bit_exact_rgb_and_mask(astronaut):
    np.testing.assert_array_equal(histeq.equalize(astronaut, channel_axis=-1, compat="pillow"), _pillow(astronaut))
    mask = np.zeros(astronaut.shape[:2], bool)
    mask[100:300, 50:400] = True
    np.testing.assert_array_equal(
        histeq.equalize(astronaut, channel_axis=-1, compat="pillow", mask=mask), _pillow(astronaut, mask)
    )
    grey = GREY["camera"]
    np.testing.assert_array_equal(histeq.equalize(grey, compat="pillow", mask=mask), _pillow(grey, mask))


@given(
    hnp.arrays(
        np.uint8,
        hnp.array_shapes(min_dims=2, max_dims=2, max_side=40),
        elements=st.integers(0, 255) | st.integers(7, 9),
    )
)
def test_pillow_bit_exact_on_generated_images(image):
    np.testing.assert_array_equal(histeq.equalize(image, compat="pillow"), _pillow(image))
    np.testing.assert_array_equal(histeq.equalize(image.T, compat="pillow"), _pillow(image.T.copy()))


@given(
    st.sampled_from(["opencv", "pillow"]),
    st.integers(1, 3),
    st.integers(1, 5),
    st.integers(1, 300),
    st.booleans(),
    st.sampled_from([1, 2, 3]),
    st.data(),
)
def test_compiled_peers_equal_the_reference(rule, batch, channels, pixels, masked, threads, data):
    # Batches, any number of interleaved channels and masks, which the peers themselves cannot take.
    import _reference as ref

    from histeq._kernels import core

    levels = st.integers(0, 255) | st.integers(40, 43)
    image = data.draw(hnp.arrays(np.uint8, (batch, pixels, channels), elements=levels))
    mask = data.draw(hnp.arrays(np.bool_, (batch, pixels))) if masked and rule == "pillow" else None
    out = np.empty_like(image)
    core.equalize_peer(image, mask, out, rule=rule, threads=threads)
    np.testing.assert_array_equal(out, ref.equalize_peer(image, rule, mask))


def test_compiled_peers_on_a_large_colour_batch_in_any_layout(astronaut):
    # Large enough for several workers and the vectorized tables; the channel axis anywhere.
    batch = np.stack([astronaut, astronaut[::-1] // 2 + 40])
    for rule in ("opencv", "pillow"):
        out = histeq.equalize(np.moveaxis(batch, -1, 1), axes=(2, 3), channel_axis=1, compat=rule)
        flat = batch.reshape(2, -1, 3)
        expected = ref_peer(flat, rule).reshape(batch.shape)
        np.testing.assert_array_equal(np.moveaxis(out, 1, -1), expected)
        rgba = np.concatenate([astronaut, astronaut[..., :1]], axis=-1)
        np.testing.assert_array_equal(
            histeq.equalize(rgba, channel_axis=-1, compat=rule),
            ref_peer(rgba.reshape(1, -1, 4), rule).reshape(rgba.shape),
        )


def ref_peer(image, rule):
    import _reference as ref

    return ref.equalize_peer(image, rule)


def test_the_peer_binding_refuses_bad_arguments():
    from histeq._kernels import core

    image = np.zeros((1, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="rule"):
        core.equalize_peer(image, None, np.empty_like(image), rule="matlab", threads=1)
    with pytest.raises(ValueError, match="mask"):
        core.equalize_peer(image, np.ones((1, 9), bool), np.empty_like(image), rule="pillow", threads=1)
    with pytest.raises(ValueError, match="shape"):
        core.equalize_peer(image, None, np.empty((1, 10, 4), np.uint8), rule="pillow", threads=1)
    with pytest.raises(TypeError):
        core.equalize_peer(image.astype(np.uint16), None, np.empty((1, 10, 3), np.uint16), rule="pillow", threads=1)


def _skimage_cases():
    from skimage import data, img_as_float

    moon = data.moon()
    return {
        "camera uint8": data.camera(),
        "moon uint16": moon.astype(np.uint16) * 200,
        "moon int16": moon.astype(np.int16) * 50 - 3000,
        "moon float64": img_as_float(moon),
        "camera float32": img_as_float(data.camera()).astype(np.float32),
        "moon uint16 3-D": np.stack([moon, moon.T, moon[::-1]]).astype(np.uint16) * 100,
    }


@pytest.mark.parametrize("name", sorted(_skimage_cases()))
def test_skimage_equal_to_float_rounding(name):
    from skimage import exposure

    image = _skimage_cases()[name]
    expected = exposure.equalize_hist(image)
    out = histeq.equalize(image, compat="skimage")
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6 if out.dtype == np.float32 else 1e-12)


def test_skimage_mask_and_nbins():
    from skimage import data, exposure, img_as_float

    image = img_as_float(data.moon())
    mask = np.zeros(image.shape, bool)
    mask[100:400, 50:300] = True
    np.testing.assert_allclose(
        histeq.equalize(image, compat="skimage", mask=mask, nbins=64),
        exposure.equalize_hist(image, nbins=64, mask=mask),
        rtol=0,
        atol=1e-12,
    )
    camera = data.camera()
    np.testing.assert_allclose(
        histeq.equalize(camera, compat="skimage", mask=mask),
        exposure.equalize_hist(camera, mask=mask),
        rtol=0,
        atol=1e-12,
    )


def test_compat_restrictions():
    image = GREY["camera"]
    with pytest.raises(TypeError, match="uint8"):
        histeq.equalize(image.astype(np.uint16), compat="opencv")
    with pytest.raises(ValueError, match="mask"):
        histeq.equalize(image, compat="opencv", mask=image > 0)
    with pytest.raises(ValueError, match="nbins"):
        histeq.equalize(image, compat="pillow", nbins=64)
    with pytest.raises(ValueError, match="in_range"):
        histeq.equalize(image, compat="skimage", in_range=(0, 10))
    with pytest.raises(ValueError, match="per channel"):
        histeq.equalize(np.dstack([image] * 3), channel_axis=2, compat="pillow", color="luma")
    with pytest.raises(ValueError, match="unknown compat"):
        histeq.equalize(image, compat="matlab")
