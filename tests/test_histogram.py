"""histogram and cumulative_distribution against NumPy and scikit-image."""

import numpy as np
import pytest
from conftest import FLOAT_DTYPES, INT_DTYPES
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import histeq
from histeq import _reference as ref


def test_uint8_counts_equal_bincount(camera):
    counts, edges = histeq.histogram(camera)
    np.testing.assert_array_equal(counts, np.bincount(camera.ravel(), minlength=256))
    assert edges.shape == (257,) and edges[0] == -0.5 and edges[-1] == 255.5


@pytest.mark.parametrize("dtype", INT_DTYPES + FLOAT_DTYPES)
@given(data=st.data())
def test_equals_reference(dtype, data):
    image = data.draw(hnp.arrays(dtype, hnp.array_shapes(max_dims=3, max_side=10)))
    nbins = data.draw(st.none() | st.integers(2, 100))
    mask = data.draw(st.none() | hnp.arrays(np.bool_, image.shape))
    try:
        expected_counts, expected_edges = ref.histogram(image, nbins, mask)
    except ValueError:  # values spanning more than the largest float64
        with pytest.raises(ValueError, match="too wide"):
            histeq.histogram(image, nbins=nbins, mask=mask)
        return
    counts, edges = histeq.histogram(image, nbins=nbins, mask=mask)
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_allclose(edges, expected_edges, rtol=1e-12)


def test_float_counts_equal_numpy_histogram():
    x = np.random.default_rng(0).normal(size=(300, 200))
    counts, edges = histeq.histogram(x, nbins=100)
    expected, expected_edges = np.histogram(x, bins=100)
    np.testing.assert_array_equal(counts, expected)
    np.testing.assert_allclose(edges, expected_edges, rtol=0, atol=1e-12)


def test_batch_and_channel_histograms(astronaut):
    counts, edges = histeq.histogram(astronaut, channel_axis=-1)
    assert counts.shape == (3, 256) and edges.shape == (257,)
    for c in range(3):
        np.testing.assert_array_equal(counts[c], np.bincount(astronaut[..., c].ravel(), minlength=256))
    floats = np.random.default_rng(1).random((4, 10, 10))
    counts, edges = histeq.histogram(floats, axes=(1, 2), nbins=8)
    assert counts.shape == (4, 8) and edges.shape == (4, 9)
    for i in range(4):
        np.testing.assert_array_equal(counts[i], np.histogram(floats[i], 8)[0])


def test_in_range_clips_into_end_bins():
    x = np.array([-5.0, 0.0, 0.5, 1.0, 7.0, np.nan])
    counts, edges = histeq.histogram(x, nbins=2, in_range=(0, 1))
    assert counts.tolist() == [2, 3]
    np.testing.assert_array_equal(edges, [0, 0.5, 1])


def test_cumulative_distribution_matches_skimage(camera):
    from skimage import exposure

    cdf, centers = histeq.cumulative_distribution(camera)
    expected, expected_centers = exposure.cumulative_distribution(camera)
    lo, hi = int(camera.min()), int(camera.max())
    np.testing.assert_allclose(cdf[lo:hi + 1], expected, rtol=1e-12)
    np.testing.assert_array_equal(centers[lo:hi + 1], expected_centers)
    assert cdf[-1] == 1.0


def test_cumulative_distribution_of_an_empty_selection_is_nan():
    cdf, _ = histeq.cumulative_distribution(np.arange(4, dtype=np.uint8), mask=np.zeros(4, bool))
    assert np.isnan(cdf).all()


def test_a_range_wider_than_float64_is_refused():
    image = np.array([-1.7e308, 0.0, 1.7e308])
    for func in (histeq.histogram, histeq.equalize):
        with pytest.raises(ValueError, match="too wide"):
            func(image)
    with pytest.raises(ValueError, match="too wide"):
        histeq.histogram(image, in_range=(-1.7e308, 1.7e308))
    # Half of it bins fine.
    counts, _ = histeq.histogram(image / 2, nbins=2)
    assert counts.tolist() == [1, 2]
