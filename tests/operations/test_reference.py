"""The NumPy references against independent reasoning and independent code."""

import _reference as ref
import numpy as np
import pytest


def test_hand_computed_uint8():
    # Levels 50 (x2), 51, 60: N = 4, c_min = 2, so 51 -> 255 * 1/2 = 127.5 -> 128 (halves up), 60 -> 255.
    image = np.array([[50, 50], [51, 60]], dtype=np.uint8)
    assert ref.equalize(image).tolist() == [[0, 0], [128, 255]]


def test_hand_computed_out_range_and_mask():
    image = np.array([10, 20, 30, 40], dtype=np.uint8)
    mask = np.array([True, True, True, False])
    # Counted: 10, 20, 30 -> N = 3, c_min = 1; 20 -> 2 * 1/2 = 1 on [0, 2]; 40 is above every count: top.
    assert ref.equalize(image, mask=mask, out_range=(0, 2)).tolist() == [0, 1, 2, 2]


def test_within_one_level_of_opencv(camera):
    # OpenCV rounds half to even in float32; the exact rule differs by at most one level.
    import cv2

    diff = ref.equalize(camera).astype(int) - cv2.equalizeHist(camera)
    assert np.abs(diff).max() <= 1


def test_histogram_matches_numpy_for_floats():
    x = np.random.default_rng(0).normal(size=1000)
    counts, edges = ref.histogram(x, nbins=37)
    expected, expected_edges = np.histogram(x, bins=37)
    np.testing.assert_array_equal(counts, expected)
    np.testing.assert_allclose(edges, expected_edges, rtol=0, atol=1e-12)


def test_integer_bins_follow_level_centres():
    # uint16 in 3 bins of width 65536/3: bin k holds levels whose centre is in [k w - 1/2, (k+1) w - 1/2).
    values = np.array([0, 21844, 21845, 43690, 43691, 65535], dtype=np.uint16)
    counts, edges = ref.histogram(values, nbins=3)
    assert counts.tolist() == [2, 2, 2]
    assert edges[0] == -0.5 and edges[-1] == 65535.5


def test_float_mapping_is_the_interpolated_cdf():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    # Two bins [0, 1.5), [1.5, 3]: F rises 2 over each; x = 1 -> F = 2 * (1 / 1.5), / N = 4.
    out = ref.equalize(x, nbins=2)
    np.testing.assert_allclose(out, [0, (2 / 1.5) / 4, 0.5 + (0.5 / 1.5) * 0.5, 1.0])


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_constant_image_is_unchanged(dtype):
    image = np.full((3, 4), 1 if dtype != np.float32 else 0.25, dtype=dtype)
    np.testing.assert_array_equal(ref.equalize(image), image)


def test_lab_round_trip_against_skimage():
    from skimage import color

    rgb = np.random.default_rng(1).random((50, 3))
    # scikit-image rounds the sRGB matrix and D65 white differently in the 4th digit.
    np.testing.assert_allclose(ref.rgb_to_lab(rgb), color.rgb2lab(rgb), atol=1e-2)
    # The published 7-digit matrices are inverse to about 1e-6.
    np.testing.assert_allclose(ref.lab_to_rgb(ref.rgb_to_lab(rgb)), rgb, atol=1e-5)
