"""The input conventions every public function shares: 64-bit integers, sequences and masked arrays."""

import numpy as np
import pytest

import histeq


@pytest.mark.parametrize("wide, narrow", [(np.int64, np.int32), (np.uint64, np.uint32)])
def test_64bit_integers_are_computed_as_32bit(wide, narrow, camera):
    # Was "TypeError: unsupported image dtype int64" for equalize(np.arange(100).reshape(10, 10)).
    image = camera.astype(wide) * 1000 + 7
    as32 = image.astype(narrow)
    mask = camera > 20
    for func, kwargs in [
        (histeq.equalize, {}),
        (histeq.equalize, dict(mask=mask, out_range=(10, 5000))),
        (histeq.clahe, dict(tiles=4)),
        (histeq.specify, dict(histogram="rayleigh")),
        (histeq.match, dict(reference=camera.T.astype(wide))),
        (histeq.equalize, dict(exact=True)),
    ]:
        out = func(image, **kwargs)
        expected = func(as32, **{k: (v.astype(narrow) if k == "reference" else v) for k, v in kwargs.items()})
        assert out.dtype == wide
        np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(histeq.histogram(image)[0], histeq.histogram(as32)[0])
    np.testing.assert_array_equal(histeq.fit_equalize(image).apply(image[:50]), histeq.equalize(image)[:50])
    assert histeq.fit_clahe(image, tiles=4).apply(image).dtype == wide
    np.testing.assert_array_equal(
        histeq.equalize(np.arange(100).reshape(10, 10)), histeq.equalize(np.arange(100, dtype=np.int32).reshape(10, 10))
    )


def test_64bit_dask_images(camera):
    import dask.array as da

    image = camera.astype(np.int64)
    lazy = histeq.equalize(da.from_array(image, chunks=128))
    assert lazy.dtype == np.int64
    np.testing.assert_array_equal(lazy.compute(), histeq.equalize(image))
    with pytest.raises(ValueError, match="computed as int32"):
        histeq.equalize(da.from_array(image + 2**40, chunks=128)).compute()


def test_masked_array_mask_feeds_the_histogram(camera):
    # Was ignored: np.ma.masked_less(cam, 10) gave the unmasked result.
    hidden = np.ma.masked_less(camera, 10)
    out = histeq.equalize(hidden)
    assert isinstance(out, np.ma.MaskedArray)
    np.testing.assert_array_equal(out.mask, camera < 10)
    np.testing.assert_array_equal(out.data, histeq.equalize(camera, mask=camera >= 10))
    assert not np.array_equal(out.data, histeq.equalize(camera))
    roi = np.zeros(camera.shape, bool)
    roi[100:400, 100:400] = True
    np.testing.assert_array_equal(
        histeq.equalize(hidden, mask=roi).data, histeq.equalize(camera, mask=roi & (camera >= 10))
    )
    np.testing.assert_array_equal(histeq.clahe(hidden, tiles=4).data, histeq.clahe(camera, tiles=4, mask=camera >= 10))
    counts, _ = histeq.histogram(hidden)
    assert counts[:10].sum() == 0 and counts.sum() == (camera >= 10).sum()
    fitted = histeq.fit_equalize(hidden)
    np.testing.assert_array_equal(fitted.apply(hidden).data, out.data)


def test_masked_reference_and_colour(camera, astronaut):
    from skimage import data

    moon = data.moon()
    out = histeq.match(np.ma.masked_less(camera, 10), np.ma.masked_greater(moon, 200))
    np.testing.assert_array_equal(out.data, histeq.match(camera, moon, mask=camera >= 10, reference_mask=moon <= 200))
    # A colour pixel counts when every channel is unmasked.
    hidden = np.ma.masked_array(astronaut, mask=np.zeros(astronaut.shape, bool))
    hidden.mask[:50, :, 1] = True
    out = histeq.equalize(hidden, channel_axis=-1)
    counted = np.ones(astronaut.shape[:2], bool)
    counted[:50] = False
    np.testing.assert_array_equal(out.data, histeq.equalize(astronaut, channel_axis=-1, mask=counted))
    np.testing.assert_array_equal(out.mask, hidden.mask)
    before = hidden.copy()
    histeq.clahe(hidden, channel_axis=-1)
    np.testing.assert_array_equal(hidden.mask, before.mask)
    np.testing.assert_array_equal(hidden.data, before.data)


def test_masked_array_with_a_bad_mask_argument(camera):
    with pytest.raises(ValueError, match="mask of shape"):
        histeq.equalize(np.ma.masked_less(camera, 10), mask=np.ones((3, 3), bool))


@pytest.mark.parametrize(
    "call",
    [
        lambda photo: histeq.clahe(photo),
        lambda photo: histeq.equalize(photo, color="luma"),
        lambda photo: histeq.specify(photo, "uniform", color="value"),
        lambda photo: histeq.equalize(photo, mask=np.ones(photo.shape[:2], bool)),
    ],
)
@pytest.mark.parametrize("channels", [3, 4])
def test_errors_on_colour_shaped_arrays_say_pass_channel_axis(astronaut, call, channels):
    # Was: "tiles 8 must be between 1 and the axis length ..." about a tiles the user never passed.
    photo = np.concatenate([astronaut, astronaut[..., :1]], axis=-1)[..., :channels]
    with pytest.raises((TypeError, ValueError), match="pass channel_axis=-1 for a colour image"):
        call(photo)


def test_no_colour_hint_where_it_does_not_apply(camera):
    with pytest.raises(ValueError) as info:
        histeq.clahe(camera[:, :5], tiles=8)
    assert "channel_axis" not in str(info.value)
    with pytest.raises(ValueError) as info:
        histeq.clahe(np.zeros((8, 8, 3), np.uint8), channel_axis=-1, tiles=9)
    assert "pass channel_axis" not in str(info.value)


def test_photo_without_channel_axis_is_one_grey_volume(astronaut):
    # As the README says: every value of every channel in one histogram, one table for all three channels.
    out = histeq.equalize(astronaut)
    np.testing.assert_array_equal(out, histeq.equalize(astronaut.reshape(-1)).reshape(astronaut.shape))


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_refusals_of_64_bit_images_name_their_dtype(dtype):
    name = np.dtype(dtype).name
    with pytest.raises(TypeError, match=rf"got {name}; use color='per-channel'"):
        histeq.equalize(np.ones((4, 4, 3), dtype), channel_axis=-1)
    with pytest.raises(TypeError, match=rf"uint8-only function; got {name}"):
        histeq.equalize(np.ones((5, 5), dtype), compat="opencv")
    with pytest.raises(ValueError, match=rf"must hold integers for {name} images"):
        histeq.equalize(np.ones((5, 5), dtype), in_range=(0.5, 3))
