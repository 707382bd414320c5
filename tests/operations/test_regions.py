"""CLAHE's contextual regions given by their size (``kernel_size``), in pixels or in the units of ``spacing``:
scikit-image's geometry where the two coincide, physical sizes equal to their pixel sizes, every path the same,
and the refusals."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import histeq


def _our_tiles(image, counts):
    """The tiles of the documented rule (Notes of histeq.clahe): pixel i of an axis of n cut in t is in tile k when
    k n / t <= i + 1/2 <= (k + 1) n / t; as slices, for counts that cut every axis evenly."""
    axes = []
    for n, t in zip(image.shape, counts):
        axes.append([slice(k * n // t, (k + 1) * n // t) for k in range(t)])
    return [tuple(index) for index in np.ndindex(*counts)], axes


def _skimage_tile_histograms(monkeypatch, image, kernel_size):
    """The histogram of each contextual region scikit-image's CLAHE counts (in its order), read from its own
    computation: it clips each region's histogram with ``clip_histogram``, one call per region."""
    from skimage import exposure
    from skimage.exposure import _adapthist

    seen = []
    clip = _adapthist.clip_histogram
    monkeypatch.setattr(_adapthist, "clip_histogram", lambda hist, **kw: seen.append(hist.copy()) or clip(hist, **kw))
    exposure.equalize_adapthist(image, kernel_size=kernel_size, clip_limit=0.5, nbins=256)
    return seen


@pytest.mark.parametrize(
    "shape, kernel_size",
    [((96, 128), (32, 16)), ((64, 64), 16), ((16, 24, 32), (8, 8, 16)), ((60, 90), (60, 15))],
)
def test_regions_are_scikit_images_where_the_size_divides_the_axis(monkeypatch, shape, kernel_size):
    # 16 levels 17 apart over the full range: scikit-image's rescaling to 14 bits and binning keeps them apart.
    image = np.random.default_rng(len(shape)).integers(0, 16, shape, dtype=np.uint8) * 17
    image.flat[:2] = 0, 255
    theirs = _skimage_tile_histograms(monkeypatch, image, kernel_size)
    sizes = (kernel_size,) * len(shape) if isinstance(kernel_size, int) else kernel_size
    counts = tuple(n // k for n, k in zip(shape, sizes))
    order, slices = _our_tiles(image, counts)
    assert len(theirs) == math.prod(counts)
    for tile, hist in zip(order, theirs):
        region = image[tuple(slices[axis][k] for axis, k in enumerate(tile))]
        ours = np.bincount(region.ravel() // 17, minlength=16)
        np.testing.assert_array_equal(ours[ours > 0], hist[hist > 0])
    np.testing.assert_array_equal(
        histeq.clahe(image, kernel_size=kernel_size), histeq.clahe(image, tiles=counts, clip_limit=2.0)
    )


@pytest.mark.parametrize("shape, kernel_size", [((100, 90), (30, 45)), ((50, 70), 16), ((9, 40, 33), (4, 7, 10))])
def test_as_many_regions_as_scikit_image_where_it_does_not(monkeypatch, shape, kernel_size):
    """scikit-image pads the axis to whole regions; histeq cuts it into as many shorter, equal ones."""
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    image.flat[:2] = 0, 255
    theirs = _skimage_tile_histograms(monkeypatch, image, kernel_size)
    sizes = (kernel_size,) * len(shape) if isinstance(kernel_size, int) else kernel_size
    counts = tuple(math.ceil(n / k) for n, k in zip(shape, sizes))
    assert len(theirs) == math.prod(counts)
    np.testing.assert_array_equal(histeq.clahe(image, kernel_size=kernel_size), histeq.clahe(image, tiles=counts))


@given(
    st.lists(st.integers(1, 24), min_size=1, max_size=3).flatmap(
        lambda shape: st.tuples(
            st.just(tuple(shape)), st.tuples(*(st.floats(1, n, allow_subnormal=False) for n in shape))
        )
    )
)
def test_a_region_size_is_the_fewest_tiles_no_longer(case):
    shape, kernel_size = case
    image = (np.arange(math.prod(shape)).reshape(shape) * 7 % 256).astype(np.uint8)
    counts = tuple(math.ceil(round(n / k, 9)) for n, k in zip(shape, kernel_size))
    assert all(n / t <= k * (1 + 1e-9) for n, t, k in zip(shape, counts, kernel_size))
    np.testing.assert_array_equal(histeq.clahe(image, kernel_size=kernel_size), histeq.clahe(image, tiles=counts))


def test_physical_sizes_equal_their_pixel_sizes():
    """20 um on 1.4 x 0.4 x 0.4 um voxels: 20 / 1.4 voxels deep, 50 x 50 voxels across (20 / 0.4 is
    50.000000000000004 in floating point, and must still be 50)."""
    volume = np.random.default_rng(5).normal(20000, 6000, (40, 150, 120)).clip(0, 65535).astype(np.uint16)
    physical = histeq.clahe(volume, kernel_size=20, spacing=(1.4, 0.4, 0.4))
    np.testing.assert_array_equal(physical, histeq.clahe(volume, kernel_size=(20 / 1.4, 50, 50)))
    np.testing.assert_array_equal(physical, histeq.clahe(volume, tiles=(3, 3, 3)))  # 56 um, 60 um, 48 um
    # A per-axis size in physical units, and the spacing of a batch's spatial axes only.
    batch = np.stack([volume[:, :50, :50], volume[:, 50:100, 50:100]])
    per_axis = histeq.clahe(batch, kernel_size=(28, 10, 10), spacing=(1.4, 0.4, 0.4), axes=(1, 2, 3))
    np.testing.assert_array_equal(per_axis, histeq.clahe(batch, tiles=(2, 2, 2), axes=(1, 2, 3)))


def test_every_path_takes_a_region_size():
    image = np.random.default_rng(2).integers(0, 4096, (60, 80), dtype=np.uint16)
    expected = histeq.clahe(image, tiles=(3, 4))
    fitted = histeq.fit_clahe(image, kernel_size=(200, 200), spacing=(10, 10))
    np.testing.assert_array_equal(fitted.apply(image), expected)
    assert fitted.tiles == (3, 4)
    da = pytest.importorskip("dask.array")
    lazy = histeq.clahe(da.from_array(image, chunks=(25, 30)), kernel_size=20)
    np.testing.assert_array_equal(lazy.compute(), expected)


def test_a_data_arrays_coordinates_give_the_spacing():
    xr = pytest.importorskip("xarray")
    volume = np.random.default_rng(4).integers(0, 65535, (28, 100, 100), dtype=np.uint16)
    coords = {"z": np.arange(28) * 1.4, "y": np.arange(100) * 0.4 + 7, "x": -np.arange(100) * 0.4}
    array = xr.DataArray(volume, dims=("z", "y", "x"), coords=coords)
    out = histeq.clahe(array, kernel_size=20)
    assert isinstance(out, xr.DataArray) and out.coords["z"].equals(array.coords["z"])
    np.testing.assert_array_equal(out.values, histeq.clahe(volume, kernel_size=20, spacing=(1.4, 0.4, 0.4)))
    # Given spacing wins; without coordinates the size is in pixels.
    np.testing.assert_array_equal(
        histeq.clahe(array, kernel_size=20, spacing=1).values, histeq.clahe(volume, tiles=(2, 5, 5))
    )
    bare = xr.DataArray(volume, dims=("z", "y", "x"))
    np.testing.assert_array_equal(histeq.clahe(bare, kernel_size=20).values, histeq.clahe(volume, tiles=(2, 5, 5)))
    with pytest.raises(ValueError, match="evenly spaced"):
        histeq.clahe(array.assign_coords(x=np.arange(100) ** 2), kernel_size=20)
    with pytest.raises(ValueError, match="spacing="):
        histeq.clahe(array.drop_vars("z"), kernel_size=20)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(tiles=4, kernel_size=16), ValueError, "not both"),
        (dict(tiles=8, kernel_size=16), ValueError, "not both"),
        (dict(spacing=0.5), ValueError, "needs kernel_size"),
        (dict(kernel_size=16, spacing=(1, 1, 1)), ValueError, "one number per spatial axis"),
        (dict(kernel_size=(16, 16, 16)), ValueError, "one number per spatial axis"),
        (dict(kernel_size=16, spacing=(1, 0)), ValueError, "positive and finite"),
        (dict(kernel_size=16, spacing=-0.4), ValueError, "positive and finite"),
        (dict(kernel_size=float("nan")), ValueError, "positive and finite"),
        (dict(kernel_size=0), ValueError, "positive and finite"),
        (dict(kernel_size=65), ValueError, "larger than the image along axis 0"),
        (dict(kernel_size=(8, 97)), ValueError, "larger than the image along axis 1"),
        (dict(kernel_size=20, spacing=0.25), ValueError, "larger than the image"),
        (dict(kernel_size=0.5), ValueError, "under one pixel"),
        (dict(kernel_size="16"), TypeError, "kernel_size must be a number"),
        (dict(kernel_size=(16, None)), TypeError, "kernel_size must hold numbers"),
        (dict(kernel_size=16, spacing=True), TypeError, "spacing must hold numbers"),
    ],
)
def test_bad_region_sizes(kwargs, error, match):
    image = np.zeros((64, 96), np.uint8)
    with pytest.raises(error, match=match):
        histeq.clahe(image, **kwargs)
    with pytest.raises(error, match=match):
        histeq.fit_clahe(image, **kwargs)
