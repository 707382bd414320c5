"""histogram and cumulative_distribution against NumPy and scikit-image."""

import _reference as ref
import numpy as np
import pytest
from conftest import FLOAT_DTYPES, INT_DTYPES
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import histeq


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
    np.testing.assert_allclose(cdf[lo : hi + 1], expected, rtol=1e-12)
    np.testing.assert_array_equal(centers[lo : hi + 1], expected_centers)
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


# --- integer data in whole levels, at every width -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint32, np.int32, np.int64, np.uint64])
def test_integer_bins_are_never_narrower_than_a_level(dtype):
    from skimage.exposure import histogram as skimage_histogram

    image = np.array([[0, 1], [1, 2]], dtype=dtype)
    counts, edges = histeq.histogram(image, in_range=None if np.dtype(dtype).itemsize > 2 else (0, 2))
    np.testing.assert_array_equal(counts, [1, 2, 1])  # over the levels 0, 1, 2
    np.testing.assert_array_equal((edges[:-1] + edges[1:]) / 2, [0, 1, 2])
    if dtype != np.uint64:  # scikit-image before 0.22 cannot bin uint64
        expected, centres = skimage_histogram(image)
        np.testing.assert_array_equal(counts, expected)
        np.testing.assert_array_equal((edges[:-1] + edges[1:]) / 2, centres)
    # more bins asked than the range has levels: one per level
    counts, edges = histeq.histogram(np.array([0, 1, 255], np.uint8), nbins=512)
    assert counts.size == 256 and edges[0] == -0.5 and edges[-1] == 255.5


def test_a_batch_of_32_bit_images_gets_the_bins_of_its_widest():
    images = np.array([[0, 1, 1, 4], [10, 10, 12, 12], [-3, -3, -3, -3]], dtype=np.int32)
    counts, edges = histeq.histogram(images, axes=1)
    assert counts.shape == (3, 5) and edges.shape == (3, 6)  # the widest range holds 5 levels
    assert np.all(np.diff(edges, axis=1) == 1)  # every image in whole levels, from its lowest value
    np.testing.assert_array_equal(counts, [[1, 2, 0, 0, 1], [2, 0, 2, 0, 0], [4, 0, 0, 0, 0]])
    np.testing.assert_array_equal(edges[:, 0], [-0.5, 9.5, -3.5])
    # past the largest 32-bit value there is no level to give a bin: the bins end there
    top = np.array([[0, 4], [2**31 - 1, 2**31 - 1]], dtype=np.int32)
    counts, edges = histeq.histogram(top, axes=1)
    assert counts[1].tolist() == [0, 0, 0, 0, 2] and edges[1, -1] == 2**31 - 0.5


def test_dask_integer_histograms_equal_in_memory():
    import dask.array as da

    rng = np.random.default_rng(2)
    images = rng.integers(-5, 9, (6, 20), dtype=np.int32)
    images[2] *= 50  # one wide image among narrow ones
    for axes in (1, None):
        expected = histeq.histogram(images, axes=axes)
        lazy = histeq.histogram(da.from_array(images, chunks=(2, 10)), axes=axes)
        for got, want in zip(lazy, expected):
            np.testing.assert_array_equal(np.asarray(got), want)


def test_extreme_float_ranges_give_finite_centres_and_no_warning():
    # pytest's filterwarnings=error turns any RuntimeWarning into a failure here
    cdf, centres = histeq.cumulative_distribution(np.array([-1.7976931348623157e308, 0.0]))
    assert np.all(np.isfinite(centres)) and centres[0] < centres[-1] < 0 and cdf[-1] == 1
    with pytest.raises(ValueError, match="too wide for finite bins"):
        histeq.fit_clahe(np.full((8, 8), np.finfo(float).max), tiles=1)
