"""Dask arrays and fit/apply: chunked results equal in-memory ones, on a real (distributed) scheduler."""

import numpy as np
import pytest
from conftest import FLOAT_DTYPES, INT_DTYPES, any_images
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import histeq

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    """Two workers on a local scheduler: every compute in this module goes through it."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        with distributed.Client(cluster) as c:
            yield c


# Every example computes through the distributed scheduler (tens of milliseconds): fewer of them.
_fewer = settings(max_examples=max(10, settings.default.max_examples // 4))


def _chunks(draw, shape):
    return tuple(draw(st.integers(1, n)) for n in shape)


@st.composite
def chunked(draw):
    image = draw(any_images(max_dims=3, max_side=12))
    return image, _chunks(draw, image.shape)


@_fewer
@given(chunked(), st.data())
def test_global_equalization_equals_in_memory_for_any_chunking(client, case, data):
    image, chunks = case
    kwargs = {}
    if data.draw(st.booleans()):
        kwargs["mask"] = data.draw(hnp.arrays(np.bool_, image.shape))
    if data.draw(st.booleans()):
        kwargs["nbins"] = data.draw(st.integers(2, 50))
    lazy = histeq.equalize(da.from_array(image, chunks=chunks), **kwargs)
    assert isinstance(lazy, da.Array) and lazy.dtype == image.dtype
    np.testing.assert_array_equal(lazy.compute(), histeq.equalize(image, **kwargs))


def test_batches_and_colour_block_by_block(client, astronaut):
    batch = np.random.default_rng(0).integers(0, 120, (10, 1, 24, 20), dtype=np.uint8)
    lazy = histeq.equalize(da.from_array(batch, chunks=(3, 1, 24, 20)), axes=(-2, -1))
    assert lazy.chunks[0] == (3, 3, 3, 1)  # one task per chunk of images, no rechunking
    np.testing.assert_array_equal(lazy.compute(), histeq.equalize(batch, axes=(-2, -1)))
    split = histeq.equalize(da.from_array(batch, chunks=(4, 1, 7, 9)), axes=(-2, -1))  # spatial axes made whole
    np.testing.assert_array_equal(split.compute(), histeq.equalize(batch, axes=(-2, -1)))
    mask = astronaut[..., 0] > 40
    lazy = histeq.equalize(da.from_array(astronaut, chunks=(100, 200, 2)), channel_axis=-1, color="luma", mask=mask)
    np.testing.assert_array_equal(lazy.compute(), histeq.equalize(astronaut, channel_axis=-1, color="luma", mask=mask))


def test_dask_mask_and_in_range(client, camera):
    image = da.from_array(camera, chunks=128)
    mask = image > 30
    np.testing.assert_array_equal(
        histeq.equalize(image, mask=mask, out_range=(10, 200)).compute(),
        histeq.equalize(camera, mask=camera > 30, out_range=(10, 200)),
    )
    floats = (camera / 255.0).astype(np.float32)
    np.testing.assert_array_equal(
        histeq.equalize(da.from_array(floats, chunks=100), in_range=(0.1, 0.9)).compute(),
        histeq.equalize(floats, in_range=(0.1, 0.9)),
    )


def test_exact_on_dask_runs_in_memory_when_it_fits(client, camera, monkeypatch):
    from histeq import _chunks as histeq_dask

    lazy = da.from_array(camera, chunks=100)
    out, ties = histeq.equalize(lazy, exact=True, return_ties=True)
    assert isinstance(out, da.Array) and out.chunks == lazy.chunks
    expected, expected_ties = histeq.equalize(camera, exact=True, return_ties=True)
    np.testing.assert_array_equal(out.compute(), expected)
    assert ties == expected_ties
    np.testing.assert_array_equal(
        histeq.specify(lazy, [1, 2, 3], exact=True).compute(), histeq.specify(camera, [1, 2, 3], exact=True)
    )
    monkeypatch.setattr(histeq_dask, "_EXACT_BYTES_PER_PIXEL", 2**40)  # as if the image were huge
    with pytest.raises(ValueError, match="orders all .* pixels at once"):
        histeq.equalize(lazy, exact=True)
    with pytest.raises(ValueError, match="orders all .* pixels at once"):
        histeq.match(lazy, camera, exact=True)


@pytest.mark.parametrize("dtype", INT_DTYPES + FLOAT_DTYPES)
def test_fit_apply_through_a_file_and_on_patches(tmp_path, camera, dtype):
    scene = camera.astype(dtype) if np.dtype(dtype).kind in "iu" else (camera / 255).astype(dtype)
    if np.dtype(dtype).kind == "i":
        scene = scene - np.array(100, dtype=dtype)
    mapping = histeq.fit_equalize(scene, mask=camera > 20)
    mapping.save(tmp_path / "map.npz")
    loaded = histeq.EqualizeMapping.load(tmp_path / "map.npz")
    whole = histeq.equalize(scene, mask=camera > 20)
    np.testing.assert_array_equal(loaded.apply(scene), whole)
    np.testing.assert_array_equal(loaded.apply(scene[300:340, 7:90]), whole[300:340, 7:90])
    with pytest.raises(TypeError, match="fitted on"):
        loaded.apply(scene.astype(np.float64) if np.dtype(dtype) != np.float64 else scene.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32])
def test_fit_match_through_a_file_on_dask_and_patches(client, tmp_path, camera, astronaut, dtype):
    def scaled(image):
        return image.astype(dtype) if np.dtype(dtype).kind in "iu" else (image / 255).astype(dtype)

    scene, reference = scaled(camera), scaled(astronaut[..., 1])
    whole = histeq.match(scene, reference)
    histeq.fit_match(da.from_array(scene, chunks=(100, 70)), da.from_array(reference, chunks=128)).save(
        tmp_path / "match.npz"
    )
    loaded = histeq.EqualizeMapping.load(tmp_path / "match.npz")
    np.testing.assert_array_equal(loaded.apply(scene[17:200, 300:301]), whole[17:200, 300:301])
    np.testing.assert_array_equal(loaded.apply(da.from_array(scene, chunks=64)).compute(), whole)
    weights = np.linspace(1, 0, 50)
    fitted = histeq.fit_specify(da.from_array(scene, chunks=(100, 70)), weights, mask=camera > 30)
    np.testing.assert_array_equal(fitted.apply(scene), histeq.specify(scene, weights, mask=camera > 30))
    nan = np.full((4, 6), np.nan, dtype=np.float32)  # nothing counted: kept as it is
    assert histeq.fit_match(nan, reference.astype(np.float32)).kind == "identity"
    np.testing.assert_array_equal(histeq.fit_match(nan, reference.astype(np.float32)).apply(nan), nan)
    with pytest.raises(ValueError, match="nbins applies"):
        histeq.fit_match(camera, camera, nbins=10)
    with pytest.raises(ValueError, match="no counted pixel"):
        histeq.fit_match(scene, reference, reference_mask=np.zeros(reference.shape, bool))


def test_fit_on_dask_and_degenerate_images(client):
    constant = np.full((20, 30), 7, dtype=np.uint16)
    mapping = histeq.fit_equalize(da.from_array(constant, chunks=7))
    assert mapping.kind == "rescale"
    np.testing.assert_array_equal(mapping.apply(constant), histeq.equalize(constant))
    nan = np.full((5, 5), np.nan)
    np.testing.assert_array_equal(histeq.fit_equalize(nan).apply(nan), histeq.equalize(nan))


@_fewer
@given(chunked(), st.data())
def test_histogram_and_cdf_equal_in_memory(client, case, data):
    image, chunks = case
    mask = data.draw(st.none() | hnp.arrays(np.bool_, image.shape))
    counts, edges = histeq.histogram(da.from_array(image, chunks=chunks), mask=mask)
    assert isinstance(counts, da.Array)
    expected_counts, expected_edges = histeq.histogram(image, mask=mask)
    np.testing.assert_array_equal(counts.compute(), expected_counts)
    np.testing.assert_array_equal(edges, expected_edges)
    cdf, centers = histeq.cumulative_distribution(da.from_array(image, chunks=chunks), mask=mask)
    np.testing.assert_array_equal(cdf.compute(), histeq.cumulative_distribution(image, mask=mask)[0])


def test_histogram_of_a_dask_batch_image_by_image(client, astronaut):
    batch = np.random.default_rng(4).integers(0, 200, (7, 2, 12, 10), dtype=np.uint8)
    mask = batch[0, 0] > 50
    counts, edges = histeq.histogram(da.from_array(batch, chunks=(3, 1, 6, 10)), axes=(-2, -1), mask=mask)
    expected_counts, expected_edges = histeq.histogram(batch, axes=(-2, -1), mask=mask)
    assert counts.shape == expected_counts.shape
    np.testing.assert_array_equal(counts.compute(), expected_counts)
    np.testing.assert_array_equal(edges, expected_edges)
    floats = np.random.default_rng(5).random((4, 9, 11))
    counts, edges = histeq.histogram(da.from_array(floats, chunks=(3, 5, 11)), axes=(1, 2), nbins=16)
    expected_counts, expected_edges = histeq.histogram(floats, axes=(1, 2), nbins=16)
    np.testing.assert_array_equal(counts.compute(), expected_counts)
    np.testing.assert_array_equal(edges.compute(), expected_edges)
    counts, _ = histeq.histogram(da.from_array(astronaut, chunks=(100, 512, 3)), channel_axis=-1)
    np.testing.assert_array_equal(counts.compute(), histeq.histogram(astronaut, channel_axis=-1)[0])
    cdf, _ = histeq.cumulative_distribution(da.from_array(batch, chunks=(3, 1, 12, 10)), axes=(-2, -1))
    np.testing.assert_array_equal(cdf.compute(), histeq.cumulative_distribution(batch, axes=(-2, -1))[0])


@_fewer
@given(chunked(), st.data())
def test_match_and_specify_equal_in_memory(client, case, data):
    image, chunks = case
    reference = data.draw(chunked())[0]
    mask = data.draw(st.none() | hnp.arrays(np.bool_, image.shape))
    lazy_image = da.from_array(image, chunks=chunks)
    weights = data.draw(st.lists(st.floats(0.1, 5), min_size=1, max_size=8))
    np.testing.assert_array_equal(
        histeq.specify(lazy_image, weights, mask=mask).compute(), histeq.specify(image, weights, mask=mask)
    )
    counted = reference[np.isfinite(reference)] if reference.dtype.kind == "f" else reference
    if counted.size == 0:
        return
    expected = histeq.match(image, reference, mask=mask)
    np.testing.assert_array_equal(histeq.match(lazy_image, reference, mask=mask).compute(), expected)
    lazy_reference = da.from_array(reference, chunks=max(1, reference.shape[0] // 2))
    np.testing.assert_array_equal(histeq.match(lazy_image, lazy_reference, mask=mask).compute(), expected)


def test_match_a_dask_colour_batch_block_by_block(client, astronaut):
    from skimage import data

    batch = np.stack([astronaut[:100, :100], astronaut[200:300, 200:300]])
    lazy = histeq.match(
        da.from_array(batch, chunks=(1, 50, 100, 3)), data.coffee(), axes=(1, 2), channel_axis=-1, color="lightness"
    )
    np.testing.assert_array_equal(
        lazy.compute(), histeq.match(batch, data.coffee(), axes=(1, 2), channel_axis=-1, color="lightness")
    )


@_fewer
@given(chunked(), st.data())
def test_clahe_with_the_grid_anchored_equals_in_memory(client, case, data):
    image, chunks = case
    kwargs = dict(
        tiles=tuple(data.draw(st.integers(1, n)) for n in image.shape),
        clip_limit=data.draw(st.none() | st.floats(1, 6)),
    )
    if data.draw(st.booleans()):
        kwargs["mask"] = data.draw(hnp.arrays(np.bool_, image.shape))
    if data.draw(st.booleans()):
        kwargs["nbins"] = data.draw(st.integers(2, 40))
    try:
        lazy = histeq.clahe(da.from_array(image, chunks=chunks), **kwargs)
    except ValueError as exc:  # e.g. 420 tiles of 65536 bins: over the chunked path's documented table budget
        assert "fitted CLAHE mappings" in str(exc)
        assume(False)
    assert isinstance(lazy, da.Array) and lazy.chunks == da.from_array(image, chunks=chunks).chunks
    np.testing.assert_array_equal(lazy.compute(), histeq.clahe(image, **kwargs))


def test_clahe_chunked_and_block_by_block(client, camera):
    volume = np.stack([camera[:128, :160], camera[200:328, 100:260], camera[300:428, 300:460]]).astype(np.uint16) * 100
    lazy = histeq.clahe(da.from_array(volume, chunks=(2, 50, 70)), tiles=(2, 4, 5))
    np.testing.assert_array_equal(lazy.compute(), histeq.clahe(volume, tiles=(2, 4, 5)))
    batch = volume[:, None]
    mask = batch[0, 0] > 2000
    lazy = histeq.clahe(da.from_array(batch, chunks=(2, 1, 64, 160)), axes=(-2, -1), tiles=4, mask=mask)
    np.testing.assert_array_equal(lazy.compute(), histeq.clahe(batch, axes=(-2, -1), tiles=4, mask=mask))
    with pytest.raises(ValueError, match="tiles"):
        histeq.clahe(da.from_array(camera, chunks=100), tiles=0)


def test_clahe_of_a_dask_image_refuses_tables_beyond_the_free_memory(client, camera, monkeypatch):
    """A 16-bit Dask volume of many tiles holds 65536 bins per tile at once: refused with the reason, rather than
    the process being killed for memory; many chunks are summed in a tree, equal to in memory."""
    from histeq import _chunks

    volume = (camera[:96, :120].astype(np.uint16) * 257)[None].repeat(20, axis=0)
    lazy = da.from_array(volume, chunks=(3, 17, 19))  # 7 x 6 x 7 chunks: three levels of sums
    np.testing.assert_array_equal(histeq.clahe(lazy, tiles=(4, 6, 6)).compute(), histeq.clahe(volume, tiles=(4, 6, 6)))
    monkeypatch.setattr(_chunks, "available_memory", lambda: 64 * 2**20)  # 64 MiB free: 144 tiles need 180 MiB
    with pytest.raises(ValueError, match=r"144 tiles over 65536 bins.*half the free memory.*larger regions"):
        histeq.clahe(lazy, tiles=(4, 6, 6))
    with pytest.raises(ValueError, match="half the free memory"):
        histeq.fit_clahe(lazy, tiles=(4, 6, 6))
    assert histeq.clahe(volume, tiles=(4, 6, 6)).shape == volume.shape  # in memory: tables a layer at a time


@pytest.mark.parametrize("dtype", INT_DTYPES + FLOAT_DTYPES)
def test_fit_clahe_through_a_file_and_on_patches(tmp_path, camera, dtype):
    grey = camera[:200, :300]
    scene = grey.astype(dtype) if np.dtype(dtype).kind in "iu" else (grey / 255).astype(dtype)
    kwargs = dict(tiles=(3, 5), clip_limit=2.5, mask=camera[:200, :300] > 15)
    histeq.fit_clahe(scene, **kwargs).save(tmp_path / "clahe.npz")
    fitted = histeq.ClaheMapping.load(tmp_path / "clahe.npz")
    whole = histeq.clahe(scene, **kwargs)
    np.testing.assert_array_equal(fitted.apply(scene), whole)
    np.testing.assert_array_equal(fitted.apply(scene[37:111, 150:299], offset=(37, 150)), whole[37:111, 150:299])
    with pytest.raises(ValueError, match="outside"):
        fitted.apply(scene[:50, :50], offset=(180, 0))


def test_fit_clahe_on_dask_and_degenerate(client, camera):
    lazy = da.from_array(camera, chunks=(90, 200))
    fitted = histeq.fit_clahe(lazy, tiles=4)
    np.testing.assert_array_equal(
        fitted.apply(lazy[100:300, 50:250], offset=(100, 50)).compute(), histeq.clahe(camera, tiles=4)[100:300, 50:250]
    )
    nan = np.full((6, 7), np.nan, dtype=np.float32)
    np.testing.assert_array_equal(histeq.fit_clahe(nan, tiles=2).apply(nan), histeq.clahe(nan, tiles=2))


def test_bad_dask_arguments(client, camera):
    lazy = da.from_array(camera, chunks=100)
    with pytest.raises(ValueError, match="Dask mask must be boolean"):
        histeq.equalize(lazy, mask=lazy)
    with pytest.raises(ValueError, match="Dask mask must be boolean"):
        histeq.clahe(lazy, mask=(lazy > 3)[:10])
    with pytest.raises(ValueError, match="empty"):
        histeq.histogram(da.zeros((0, 4), dtype=np.uint8))
    with pytest.raises(TypeError, match="unsupported image dtype"):
        histeq.match(da.zeros((4, 4), dtype=np.complex64), camera)
    with pytest.raises(TypeError, match="fitted on uint8"):
        histeq.fit_clahe(camera, tiles=2).apply(camera.astype(np.uint16))
    for fit in (histeq.fit_equalize, histeq.fit_clahe, lambda x, mask: histeq.fit_match(x, camera, mask=mask)):
        with pytest.raises(ValueError, match="Dask mask must be boolean"):
            fit(lazy, mask=(lazy > 3)[:10])
        with pytest.raises(ValueError, match="empty"):
            fit(da.zeros((0, 4), dtype=np.uint8), mask=None)
