"""CLAHE: the compiled path against the NumPy reference, its symmetries, OpenCV bit for bit, bad input."""

import hashlib
import platform

import _reference as ref
import numpy as np
import pytest
from conftest import FLOAT_DTYPES, INT_DTYPES, any_images
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import histeq

# compat='opencv' is OpenCV's arithmetic as its x86_64 builds do it: a product and a sum rounded each on its own.
# OpenCV's ARM builds fuse its blend's multiply-adds (NEON's vfma), so there they round a few pixels the other way
# (at most 1 level, under 0.1% of the camera, moon and coins images), while histeq gives the same on every machine.
OPENCV_ROUNDS_EACH_STEP = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


def assert_opencv_equal(ours, theirs):
    if OPENCV_ROUNDS_EACH_STEP:
        np.testing.assert_array_equal(ours, theirs)
    else:
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        assert np.abs(ours.astype(np.int64) - theirs).max(initial=0) <= 1


@st.composite
def clahe_case(draw, max_dims=3, max_side=9):
    image = draw(any_images(max_dims, max_side))
    shape = image.shape
    kwargs = dict(tiles=tuple(draw(st.integers(1, n)) for n in shape), clip_limit=draw(st.none() | st.floats(1, 6)))
    if draw(st.booleans()):
        kwargs["mask"] = draw(hnp.arrays(np.bool_, shape))
    if draw(st.booleans()):
        kwargs["nbins"] = draw(st.integers(2, 40))
    if image.dtype.kind in "iu" and draw(st.booleans()):  # narrow spans: byte-sized levels of wider dtypes
        info = np.iinfo(image.dtype)
        lo = draw(st.integers(int(info.min), int(info.max) - 1))
        span = draw(st.sampled_from([1, 100, 255, 256, int(info.max) - int(info.min)]))
        kwargs["out_range"] = (lo, min(int(info.max), lo + span))
    return image, kwargs


def _assert_matches(out, expected):
    if out.dtype == np.float16:  # computed in float32, so rounded twice
        np.testing.assert_allclose(out.astype(float), expected.astype(float), rtol=1e-3, atol=1e-3)
    else:
        np.testing.assert_array_equal(out, expected)


@given(clahe_case())
def test_compiled_equals_reference(case):
    image, kwargs = case
    out = histeq.clahe(image, **kwargs)
    assert out.dtype == image.dtype and out.shape == image.shape
    _assert_matches(out, ref.clahe(image, **kwargs))


@given(
    hnp.arrays(st.sampled_from([np.uint8, np.uint16]), hnp.array_shapes(min_dims=2, max_dims=2, max_side=24)), st.data()
)
def test_the_lean_path_equals_the_reference_and_the_full_path(image, data):
    # A 2-D 8/16-bit image with an int tile count and a number clip limit takes the lean path when it can;
    # threads= forces the full path.  Transposed views and singleton axes fall back to it.
    tiles = data.draw(st.integers(1, min(image.shape)))
    clip = data.draw(st.sampled_from([2, 1.0]) | st.floats(1, 6))
    view = image.T if data.draw(st.booleans()) else image
    out = histeq.clahe(view, tiles=tiles, clip_limit=clip)
    np.testing.assert_array_equal(out, ref.clahe(view, tiles=tiles, clip_limit=clip))
    np.testing.assert_array_equal(
        out, histeq.clahe(view, tiles=tiles, clip_limit=clip, threads=histeq.get_num_threads())
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16])
def test_four_axes_against_reference(dtype):
    # 2^3 tile corners per row: the interpolation's general (not unrolled) path.
    rng = np.random.default_rng(4)
    info = np.iinfo(dtype)
    image = rng.integers(info.min, info.max, (5, 6, 4, 7), endpoint=True).astype(dtype)
    for tiles, clip in [((2, 3, 2, 2), 2.0), ((3, 2, 1, 4), None)]:
        np.testing.assert_array_equal(
            histeq.clahe(image, tiles=tiles, clip_limit=clip), ref.clahe(image, tiles=tiles, clip_limit=clip)
        )


def test_weights_of_16_bits_against_reference():
    # Two tile centres 16385 pixels apart: weights over 2^15 along x, past the 8-bit path's 16-bit multiply-adds.
    image = np.random.default_rng(6).integers(0, 256, (2, 16385), dtype=np.uint8)
    np.testing.assert_array_equal(histeq.clahe(image, tiles=(1, 2)), ref.clahe(image, tiles=(1, 2)))


@pytest.mark.parametrize(
    "dtype, scale", [(np.uint8, 1), (np.uint16, 257), (np.uint16, 16), (np.int16, 16), (np.float32, 1 / 255)]
)
def test_real_image_against_reference(dtype, scale):
    from skimage import data

    image = (data.camera()[100:160:2, 200:290:2].astype(np.float64) * scale).astype(dtype)
    for tiles, clip in [((3, 4), 2.0), ((5, 2), None), (1, 3.0)]:
        np.testing.assert_array_equal(
            histeq.clahe(image, tiles=tiles, clip_limit=clip), ref.clahe(image, tiles=tiles, clip_limit=clip)
        )


@given(clahe_case(max_dims=3, max_side=12), st.data())
def test_flips_commute(case, data):
    image, kwargs = case
    out = histeq.clahe(image, **kwargs)
    axis = data.draw(st.integers(0, image.ndim - 1))
    flipped_kwargs = dict(kwargs)
    if "mask" in kwargs:
        flipped_kwargs["mask"] = np.flip(kwargs["mask"], axis)
    np.testing.assert_array_equal(histeq.clahe(np.flip(image, axis), **flipped_kwargs), np.flip(out, axis))


@given(clahe_case(max_dims=3, max_side=12))
def test_transposes_commute_for_integers(case):
    image, kwargs = case
    assume(image.dtype.kind != "f" and image.ndim >= 2)  # float interpolation is not exact under transposes
    order = tuple(reversed(range(image.ndim)))
    moved = dict(kwargs, tiles=tuple(kwargs["tiles"][a] for a in order))
    if "mask" in kwargs:
        moved["mask"] = np.transpose(kwargs["mask"], order)
    np.testing.assert_array_equal(
        histeq.clahe(np.transpose(image, order), **moved), np.transpose(histeq.clahe(image, **kwargs), order)
    )


@pytest.mark.parametrize("dtype", INT_DTYPES + FLOAT_DTYPES)
def test_one_tile_without_clipping_is_global_equalization(camera, dtype):
    image = camera[::4, ::4]
    if np.dtype(dtype).kind == "f":
        image = (image / 255.0).astype(dtype)
    else:
        image = image.astype(dtype)
    _assert_matches(histeq.clahe(image, tiles=1, clip_limit=None), histeq.equalize(image))


def test_one_tile_with_clipping_is_clipped_global_equalization(camera):
    # Independent of the tile machinery: equalize's rule on the clipped histogram.
    hist = np.bincount(camera.ravel(), minlength=256)
    t, lift = ref.clip_threshold(hist, 2.0)
    clipped = np.minimum(hist, t) + lift
    assert clipped.max() <= 2.0 * camera.size / 256 + 1e-9 and np.isclose(clipped.sum(), camera.size)
    cum = np.cumsum(np.minimum(hist, t)) + np.arange(1, 257) * lift
    lut = np.floor((cum - cum[0]) * (255 / (camera.size - cum[0])) + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(histeq.clahe(camera, tiles=1, clip_limit=2.0), lut[camera])


@pytest.mark.parametrize("bits", [10, 12, 14])
def test_deep_data_clip_as_their_8bit_version(camera, bits):
    # 10-14-bit data in uint16 (opencv issues 4770, 5953): the limit measured on all 65536 bins clipped
    # everything and the output kept 0..4305 of 0..65535, 122 grey levels off.  Now: as the 8-bit image.
    out = histeq.clahe(camera.astype(np.uint16) << (bits - 8))
    assert np.abs(out / 257 - histeq.clahe(camera)).mean() < 2
    assert int(out.max()) - int(out.min()) >= 0.95 * 65535


def test_ct_and_float_data_clip_as_their_8bit_version(camera):
    ct = camera.astype(np.int16) * 16 - 1024  # Hounsfield units -1024..3056
    out = histeq.clahe(ct).astype(np.float64) + 32768
    assert np.abs(out / 257 - histeq.clahe(camera)).mean() < 2
    assert out.max() - out.min() >= 0.95 * 65535
    as_float = histeq.clahe(camera / 255)
    assert np.abs(as_float * 255 - histeq.clahe(camera)).mean() < 2


def test_dense_12bit_data_clip_as_their_8bit_quantization(camera):
    noisy = (camera.astype(np.uint16) << 4) + np.random.default_rng(0).integers(0, 16, camera.shape, dtype=np.uint16)
    out = histeq.clahe(noisy)
    assert np.abs(out / 257 - histeq.clahe((noisy >> 4).astype(np.uint8))).mean() < 2
    assert len(np.unique(out)) > 4 * len(np.unique(histeq.clahe(camera)))  # the precision of 12 bits is kept


def test_opencv_rule_kept_for_8bit_and_compat(camera):
    # The 8-bit rule (limit on all 256 bins) is unchanged, and compat='opencv' keeps OpenCV's 16-bit rule.
    import cv2

    deep = camera.astype(np.uint16) << 4
    assert_opencv_equal(histeq.clahe(deep, compat="opencv", tiles=(8, 8)), cv2.createCLAHE(2.0, (8, 8)).apply(deep))
    assert int(histeq.clahe(deep, compat="opencv", tiles=(8, 8)).max()) < 8192


def test_a_case_computed_by_hand():
    # 4x4 pixels in 2x2 tiles of 2x2, no clipping.  The left tiles hold 0 and 50 twice each: their map (equalize's
    # rule, N = 4, c_min = 2) sends levels below 50 to 0 and 50 and above to 255.  The right tiles hold 100 and
    # 150: below 150 -> 0, 150 and above -> 255.  Top and bottom tiles are alike, so only columns blend: pixel
    # centres of columns 1 and 2 lie 1/4 and 3/4 of the way from the left tiles' centre to the right ones'.
    image = np.array([[0, 50, 100, 150], [50, 0, 150, 100]] * 2, np.uint8)
    row0 = [0, round(0.75 * 255), round(0.25 * 255), 255]  # 50: 3/4 of 255; 100: 1/4 of 255
    row1 = [255, 0, 255, 0]  # 150: 1/4 * 255 + 3/4 * 255
    np.testing.assert_array_equal(histeq.clahe(image, tiles=2, clip_limit=None), [row0, row1] * 2)


@given(st.integers(0, 2**32 - 1), st.integers(12, 24), st.integers(12, 24), st.sampled_from([1, 2, 3]))
def test_invariant_under_strictly_increasing_intensity_maps(seed, height, width, tiles):
    # Equalization depends on the order of the levels and their counts only; so does CLAHE without clipping
    # (clipping spreads the excess over every bin, so the spacing of the levels would count).
    rng = np.random.default_rng(seed)
    # Tiles of at least 4 x 4 pixels from 100 levels: none holds a single level (which would keep the identity).
    image = rng.integers(0, 100, (height, width)).astype(np.uint8)
    levels = np.sort(rng.choice(256, 100, replace=False)).astype(np.uint8)  # a strictly increasing map
    np.testing.assert_array_equal(histeq.equalize(levels[image]), histeq.equalize(image))
    np.testing.assert_array_equal(
        histeq.clahe(levels[image], tiles=tiles, clip_limit=None), histeq.clahe(image, tiles=tiles, clip_limit=None)
    )


def test_clipping_never_leaves_a_bin_above_the_limit():
    # OpenCV's single pass leaves bins above the limit (opencv issue 25837).
    hist = np.array([1000, 0, 0, 0, 0, 0, 0, 40] + [1] * 8)
    clipped = ref.clip_histogram(hist, 3.0)
    limit = 3.0 * hist.sum() / hist.size
    assert clipped.max() <= limit + 1e-9
    assert np.isclose(clipped.sum(), hist.sum())
    np.testing.assert_allclose(np.diff(clipped[1:7]), 0)  # the lift is even


@pytest.mark.parametrize("clip", [None, 1.0, 2.0, 4.0])
@pytest.mark.parametrize("grid", [(8, 8), (5, 7), (1, 3), (3, 3)])
def test_opencv_bit_for_bit(clip, grid):
    import cv2
    from skimage import data

    digest = hashlib.sha256()
    for image in (data.camera(), data.moon()[:301, :457], data.coins()):
        ours = histeq.clahe(image, tiles=grid, clip_limit=clip, compat="opencv")
        assert_opencv_equal(ours, cv2.createCLAHE(clip or 0, (grid[1], grid[0])).apply(image))
        digest.update(ours.tobytes())
    # OpenCV's own results on x86_64 (opencv-python-headless 5.1.0.95), which histeq gives on every machine.
    assert digest.hexdigest()[:16] == OPENCV_X86_DIGESTS[grid, clip]


OPENCV_X86_DIGESTS = {
    ((8, 8), None): "c4cb21bbc3377495",
    ((8, 8), 1.0): "35446f477c82a7c6",
    ((8, 8), 2.0): "8795a681d014c770",
    ((8, 8), 4.0): "54f7bf1de5035710",
    ((5, 7), None): "b16b844c23d1b6d4",
    ((5, 7), 1.0): "c275385f6bbf249c",
    ((5, 7), 2.0): "d64cfad6c66f991f",
    ((5, 7), 4.0): "3e130747814d0d91",
    ((1, 3), None): "dfde98fe7309e9bd",
    ((1, 3), 1.0): "0f96cb4667dc214b",
    ((1, 3), 2.0): "2943a413035d6644",
    ((1, 3), 4.0): "7757abaa2bc9696f",
    ((3, 3), None): "9bde11e6a9c0b37c",
    ((3, 3), 1.0): "0b68b88ce7650ae3",
    ((3, 3), 2.0): "b0b0dde795789894",
    ((3, 3), 4.0): "91d8858e4016451e",
}


@pytest.mark.parametrize("clip", [None, 2.0])
def test_opencv_uint16_bit_for_bit(clip):
    import cv2
    from skimage import data

    rng = np.random.default_rng(0)
    image = (data.camera().astype(np.uint16) * 200 + rng.integers(0, 200, (512, 512))).astype(np.uint16)[:300, :411]
    ours = histeq.clahe(image, tiles=(4, 6), clip_limit=clip, compat="opencv")
    assert_opencv_equal(ours, cv2.createCLAHE(clip or 0, (6, 4)).apply(image))


@given(
    st.sampled_from([np.uint8, np.uint16]),
    st.integers(2, 70),
    st.integers(2, 70),
    st.sampled_from([0.0, 0.3, 1.0, 2.0, 4.0, 40.0]),
    st.data(),
)
def test_opencv_bit_for_bit_on_any_size_and_clip(dtype, height, width, clip, data):
    # Every padding case (one axis a multiple of the tiles, tiles wholly in the padding) and the clip limits
    # below 1 that OpenCV takes (0: none), against cv2 itself.
    import cv2

    tiles = (data.draw(st.integers(1, min(height, 9))), data.draw(st.integers(1, min(width, 9))))
    top = 256 if dtype == np.uint8 else data.draw(st.sampled_from([4096, 65536]))
    image = np.random.default_rng(data.draw(st.integers(0, 99))).integers(0, top, (height, width)).astype(dtype)
    ours = histeq.clahe(image, tiles=tiles, clip_limit=clip, compat="opencv")
    assert_opencv_equal(ours, cv2.createCLAHE(clip, (tiles[1], tiles[0])).apply(image))


def test_opencv_batch_is_each_image():
    import cv2
    from skimage import data

    batch = np.stack([data.camera()[:96, :96], data.moon()[:96, :96]])[:, None]
    ours = histeq.clahe(batch, tiles=4, compat="opencv", axes=(-2, -1))
    for i in range(2):
        assert_opencv_equal(ours[i, 0], cv2.createCLAHE(2.0, (4, 4)).apply(batch[i, 0]))


def test_close_to_skimage(camera):
    from skimage import exposure

    ours = histeq.clahe(camera, tiles=8, clip_limit=0.01 * 256) / 255
    theirs = exposure.equalize_adapthist(camera, kernel_size=64, clip_limit=0.01)
    # Different tile layouts and rounding, same method: close, not equal.
    assert np.abs(ours - theirs).mean() < 0.05


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_batch_equals_each_image(dtype):
    rng = np.random.default_rng(3)
    batch = (rng.random((7, 1, 20, 30)) * 200).astype(dtype)
    out = histeq.clahe(batch, axes=(-2, -1), tiles=(3, 4))
    for i in range(7):
        np.testing.assert_array_equal(out[i, 0], histeq.clahe(batch[i, 0], tiles=(3, 4)))


@pytest.mark.parametrize("dtype", [np.uint16, np.int16])
def test_sums_beyond_int32_against_reference(dtype):
    # Weight denominators 40 x 46 x 58 times 16-bit levels pass 2^31: the exact sums in double, not int32.
    info = np.iinfo(dtype)
    volume = np.random.default_rng(7).integers(info.min, info.max, (20, 23, 29), endpoint=True).astype(dtype)
    for clip in (2.0, None):
        np.testing.assert_array_equal(
            histeq.clahe(volume, tiles=(3, 2, 4), clip_limit=clip), ref.clahe(volume, tiles=(3, 2, 4), clip_limit=clip)
        )


def test_volume_built_layer_by_layer_against_reference():
    # 16-bit windows and 32 tiles per layer along the first axis: tables built and read a layer at a time.  The
    # (slow, pure-Python) reference is computed once per case and checked against every thread count.
    volume = np.random.default_rng(8).integers(0, 65535, (12, 16, 17), endpoint=True).astype(np.uint16)
    volume[:4] //= 8  # layers of different windows
    mask = np.random.default_rng(1).random(volume.shape) < 0.7
    cases = [(volume, dict(tiles=(3, 4, 8))), (volume, dict(tiles=(3, 4, 8), mask=mask))]
    for shape, tiles in [((6, 64), (2, 32)), ((5, 66), (1, 33))]:  # 2-D; a single layer
        cases.append(
            (np.random.default_rng(9).integers(0, 65535, shape, endpoint=True).astype(np.uint16), dict(tiles=tiles))
        )
    for image, kwargs in cases:
        expected = ref.clahe(image, **kwargs)
        for threads in (1, 2, 3):
            np.testing.assert_array_equal(histeq.clahe(image, threads=threads, **kwargs), expected)


def test_a_volume_matches_the_reference_and_is_not_its_slices():
    volume = np.random.default_rng(4).integers(0, 4096, (6, 10, 12), dtype=np.uint16)
    out = histeq.clahe(volume, tiles=(2, 2, 3))
    np.testing.assert_array_equal(out, ref.clahe(volume, tiles=(2, 2, 3)))
    # 3-D tiles share histograms across slices: not the same as CLAHE slice by slice.
    slices = np.stack([histeq.clahe(layer, tiles=(2, 3)) for layer in volume])
    assert np.mean(out != slices) > 0.5


def test_degenerate_images():
    constant = np.full((9, 9), 77, np.uint8)
    np.testing.assert_array_equal(histeq.clahe(constant, tiles=3), constant)
    row = np.arange(40, dtype=np.uint8)[None] * 3
    np.testing.assert_array_equal(histeq.clahe(row, tiles=(1, 4)), ref.clahe(row, tiles=(1, 4)))
    with pytest.raises(ValueError, match="between 1 and the axis length"):
        histeq.clahe(row)  # 8 tiles along an axis of length 1
    single = np.array([[5]], np.uint8)
    np.testing.assert_array_equal(histeq.clahe(single, tiles=1), single)
    masked_out = histeq.clahe(np.arange(64, dtype=np.uint8).reshape(8, 8), tiles=2, mask=np.zeros((8, 8), bool))
    np.testing.assert_array_equal(masked_out, np.arange(64).reshape(8, 8))
    nan = np.full((6, 6), np.nan)
    assert np.isnan(histeq.clahe(nan, tiles=2)).all()


def test_colour_modes(astronaut):
    image = astronaut[::4, ::4]
    for mode in ("lightness", "luma", "value"):
        out = histeq.clahe(image, channel_axis=-1, color=mode, tiles=4)
        assert out.shape == image.shape and out.dtype == image.dtype
    # HSV value: each pixel's brightest channel becomes CLAHE of the brightest channels (the others scale with it).
    value = histeq.clahe(image, channel_axis=-1, color="value", tiles=4)
    np.testing.assert_array_equal(value.max(axis=-1), histeq.clahe(image.max(axis=-1), tiles=4))
    # CIELAB lightness: L* follows CLAHE of L*, and the hue of coloured pixels stays.
    lightness = histeq.clahe(image, channel_axis=-1, color="lightness", tiles=4)
    lab_in, lab_out = ref.rgb_to_lab(image / 255.0), ref.rgb_to_lab(lightness / 255.0)
    expected = histeq.clahe(lab_in[..., 0].astype(np.float32) / 100, tiles=4)
    assert np.corrcoef(lab_out[..., 0].ravel(), expected.ravel())[0, 1] > 0.999  # unchanged: 0.984
    hue_in, hue_out = (np.arctan2(lab[..., 2], lab[..., 1]) for lab in (lab_in, lab_out))
    vivid = np.hypot(lab_in[..., 1], lab_in[..., 2]) > 20
    assert np.median(np.abs(np.angle(np.exp(1j * (hue_out - hue_in)), deg=True))[vivid]) < 3
    per = histeq.clahe(image, channel_axis=-1, color="per-channel", tiles=4)
    np.testing.assert_array_equal(per[..., 1], histeq.clahe(image[..., 1], tiles=4))
    luma = histeq.clahe(image, channel_axis=-1, color="luma", tiles=4)
    y = np.round(image @ [0.299, 0.587, 0.114])
    y_out = np.round(luma @ [0.299, 0.587, 0.114])
    assert np.corrcoef(y_out.ravel(), histeq.clahe(y.astype(np.uint8), tiles=4).ravel())[0, 1] > 0.98


def test_caller_array_untouched_and_layouts():
    image = np.random.default_rng(5).integers(0, 256, (30, 40), dtype=np.uint8)
    before = image.copy()
    out = histeq.clahe(image, tiles=4)
    np.testing.assert_array_equal(image, before)
    np.testing.assert_array_equal(histeq.clahe(np.asfortranarray(image), tiles=4), out)
    np.testing.assert_array_equal(histeq.clahe(image.astype(">u1"), tiles=4), out)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(tiles=0), ValueError, "between 1"),
        (dict(tiles=50), ValueError, "between 1"),
        (dict(tiles=(2, 2, 2)), ValueError, "one count per spatial axis"),
        (dict(tiles=2.5), TypeError, "tiles"),
        (dict(tiles=(2, "a")), TypeError, "tiles"),
        (dict(clip_limit=0), ValueError, ">= 1"),
        (dict(clip_limit=0.01), ValueError, "256"),
        (dict(clip_limit=float("nan")), ValueError, "finite"),
        (dict(clip_limit="2"), TypeError, "clip_limit"),
        (dict(axes=(0, 0)), ValueError, "repeated"),
        (dict(compat="skimage"), ValueError, "unknown compat"),
        (dict(compat="opencv", mask=np.ones((20, 30), bool)), ValueError, "no mask"),
        (dict(compat="opencv", color="luma"), ValueError, "color"),
        (dict(color="luma"), ValueError, "channel_axis"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        histeq.clahe(np.zeros((20, 30), np.uint8), **kwargs)


def test_opencv_compat_refuses_what_opencv_cannot_do():
    with pytest.raises(TypeError, match="uint8 or uint16"):
        histeq.clahe(np.zeros((8, 8), np.float32), tiles=2, compat="opencv")
    with pytest.raises(ValueError, match="2-D"):
        histeq.clahe(np.zeros((8, 8, 8), np.uint8), tiles=2, compat="opencv")
    # Tables of 65536 entries for each of 4096 x 4096 tiles: refused before anything is allocated.
    with pytest.raises(ValueError, match="tables"):
        histeq.clahe(np.zeros((4096, 4096), np.uint16), tiles=4096, compat="opencv")
    from histeq._kernels import core

    image = np.zeros((1, 4096 * 4096), np.uint16)
    with pytest.raises(ValueError, match="2\\^31"):
        core.clahe_opencv(
            image,
            np.empty_like(image),
            height=4096,
            width=4096,
            tiles_y=4096,
            tiles_x=4096,
            tile_h=1,
            tile_w=1,
            limit=0,
            threads=1,
        )


@given(
    nbins=st.integers(-3, 300),
    clip=st.floats(allow_nan=True, allow_infinity=True),
    groups=st.integers(-1, 300),
    budget=st.sampled_from([float("nan"), -1.0, 0.0, 10.0, 2.0**30]),
    denominator=st.floats(allow_nan=True, allow_infinity=True),
    tiles=st.tuples(st.integers(-1, 12), st.integers(-1, 12)),
    lower=st.integers(-2, 12),
)
def test_fuzz_the_binding(nbins, clip, groups, budget, denominator, tiles, lower):
    from histeq._kernels import core

    image = np.random.default_rng(0).integers(0, 256, (1, 60), dtype=np.uint8)
    shape = np.array([6, 10], np.int64)
    t = np.array(tiles, np.int64)
    bounds = np.concatenate(
        [np.zeros(max(t[0], 0)), np.full(max(t[0], 0), 6), np.zeros(max(t[1], 0)), np.full(max(t[1], 0), 10)]
    ).astype(np.int64)
    lowers = np.full(16, lower, np.int32)
    weights = np.ones(16)
    try:  # the plan and the spec are checked where they are made, the rest by the call
        plan = core.TilePlan(shape, t, bounds, lowers, weights, weights, denominator)
        spec = core.Spec(nbins, False, 0, 255, 0, 255, 0, 255)
        core.clahe(
            image,
            None,
            np.empty_like(image),
            plan,
            spec,
            clip_limit=clip,
            clip_groups=groups,
            table_budget=budget,
            threads=2,
        )
    except ValueError:  # a TypeError would be a call that never reached the kernel
        pass


_SIMD_SCRIPT = """
import sys, numpy as np, histeq
rng = np.random.default_rng(3)
y, x = np.mgrid[0:150, 0:170] / 170
field = 0.5 + 0.3 * np.sin(5 * x) * np.cos(3 * y) + rng.normal(0, 0.05, x.shape)
images = {"u8": (field * 255).clip(0, 255).astype(np.uint8),
          "u8 batch": rng.integers(20, 200, (12, 1, 96, 96), dtype=np.uint8),
          "i8": (field * 255 - 128).clip(-128, 127).astype(np.int8),
          "u16": (field * 65535).clip(0, 65535).astype(np.uint16),
          "i16 volume": rng.normal(0, 3000, (20, 24, 28)).astype(np.int16),
          "f32": field.astype(np.float32)}
out = {}
for name, image in images.items():
    axes = (-2, -1) if "batch" in name else None
    for clip in (2.0, None):
        out[f"{name} {clip}"] = histeq.clahe(image, tiles=3 if image.ndim == 3 and axes is None else (4, 6),
                                             clip_limit=clip, axes=axes)
    if image.dtype.kind in "iu":
        out[f"{name} out_range"] = histeq.clahe(image, tiles=(3, 5), out_range=(10, 100), axes=(-2, -1))
    out[f"{name} equalize"] = histeq.equalize(image, axes=axes)
    out[f"{name} match"] = histeq.match(image, np.flip(image) ** 2)
out["u8 odd volume"] = histeq.clahe(np.resize(images["u8"], (101, 103, 107)), tiles=2)  # sums beyond int32
out["u8 long rows"] = histeq.clahe(np.tile(images["u8"][:2], 97)[:, :16385], tiles=(1, 2))  # weights >= 2^15
rgb = np.stack([images["u8"], np.roll(images["u8"], 7, axis=1) // 2, 255 - images["u8"]], axis=-1)[:, :167]
for rule in ("opencv", "pillow"):  # the peers' global tables, 1, 3 and 4 interleaved channels
    out[f"{rule} grey"] = histeq.equalize(images["u8"], compat=rule)
    out[f"{rule} rgb"] = histeq.equalize(rgb, channel_axis=-1, compat=rule)
    out[f"{rule} rgba"] = histeq.equalize(np.concatenate([rgb, rgb[..., :1]], -1), channel_axis=-1, compat=rule)
for name in ("u8", "u8 batch", "u16"):  # OpenCV's rule, its tables and blend; 2 tiles: tiles of >= 1024 pixels
    axes = (-2, -1) if "batch" in name else None
    for tiles in (2, (4, 6)):
        out[f"{name} opencv {tiles}"] = histeq.clahe(images[name], tiles=tiles, compat="opencv", axes=axes)
np.savez(sys.argv[1], **out)
"""


def test_every_instruction_set_gives_the_same_result(tmp_path):
    # CLAHE, equalize and match.  The kernels dispatch to AVX-512, AVX2 or baseline code at run time; HISTEQ_SIMD
    # caps the choice.
    import os
    import subprocess
    import sys

    results = {}
    for cap in ("", "avx2", "baseline"):
        target = tmp_path / f"simd{cap}.npz"
        subprocess.run(
            [sys.executable, "-c", _SIMD_SCRIPT, str(target)], check=True, env=dict(os.environ, HISTEQ_SIMD=cap)
        )
        with np.load(target) as archive:
            results[cap] = dict(archive)
    for name, expected in results[""].items():
        for cap in ("avx2", "baseline"):
            np.testing.assert_array_equal(results[cap][name], expected, err_msg=f"{name}, HISTEQ_SIMD={cap}")
