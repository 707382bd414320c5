"""match, specify and exact equalization: against the NumPy reference, scikit-image, and their guarantees."""

import _reference as ref
import numpy as np
import pytest
from conftest import FLOAT_DTYPES, INT_DTYPES, real_grey_images
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import histeq

LEVEL_DTYPES = [np.uint8, np.int8, np.uint16, np.int16]


def _assert_matches(out, expected):
    assert out.dtype == expected.dtype and out.shape == expected.shape
    if out.dtype.kind == "f":  # the same formulas, vectorized: equal up to rounding
        tol = 1e-3 if out.dtype == np.float16 else 1e-9
        np.testing.assert_allclose(out.astype(float), expected.astype(float), rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(out, expected)


@st.composite
def images(draw, dtypes=INT_DTYPES + FLOAT_DTYPES, max_dims=3, max_side=8, nan=True):
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=max_side))
    if np.dtype(dtype).kind == "f":
        elements = st.floats(-50, 50, width=np.dtype(dtype).itemsize * 8)
        if nan:
            elements = elements | st.sampled_from([np.nan, np.inf, -np.inf])
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.min) + 6) | st.integers(int(info.min), int(info.max))
    return draw(hnp.arrays(dtype, shape, elements=elements))


def _has_counted(image, mask=None):
    values = image if mask is None else image[np.broadcast_to(mask, image.shape)]
    return values.size > 0 and (image.dtype.kind != "f" or np.isfinite(values).any())


# --- match and specify against the reference ---------------------------------------------------------------------


@given(images(), images(max_dims=2), st.data())
def test_match_equals_reference(image, reference, data):
    mask = data.draw(st.none() | hnp.arrays(np.bool_, image.shape))
    if not _has_counted(reference):
        with pytest.raises(ValueError, match="no counted pixel"):
            histeq.match(image, reference)
        return
    _assert_matches(histeq.match(image, reference, mask=mask), ref.match(image, reference, mask=mask))


@given(images(), st.lists(st.floats(0, 10), min_size=1, max_size=12), st.data())
def test_specify_equals_reference(image, weights, data):
    if sum(weights) == 0:
        weights[0] = 1.0
    info_levels = np.iinfo(image.dtype).max - np.iinfo(image.dtype).min + 1 if image.dtype.kind in "iu" else None
    if info_levels is not None and len(weights) > info_levels:
        return
    mask = data.draw(st.none() | hnp.arrays(np.bool_, image.shape))
    _assert_matches(histeq.specify(image, weights, mask=mask), ref.specify(image, weights, mask=mask))


@given(images(), images(max_dims=2), st.data())
def test_fit_match_and_specify_equal_the_functions(image, reference, data):
    mask = data.draw(st.none() | hnp.arrays(np.bool_, image.shape))
    if not _has_counted(reference):
        with pytest.raises(ValueError, match="no counted pixel"):
            histeq.fit_match(image, reference)
        return
    fitted = histeq.fit_match(image, reference, mask=mask)
    expected = histeq.match(image, reference, mask=mask)
    np.testing.assert_array_equal(fitted.apply(image), expected)
    # A patch through the same mapping is that patch of the whole result.
    corner = tuple(data.draw(st.integers(0, n - 1)) for n in image.shape)
    patch = tuple(slice(c, c + data.draw(st.integers(1, n - c))) for c, n in zip(corner, image.shape))
    np.testing.assert_array_equal(fitted.apply(image[patch]), expected[patch])
    name = data.draw(st.sampled_from(["uniform", "rayleigh", "exponential"]))
    np.testing.assert_array_equal(
        histeq.fit_specify(image, name, mask=mask).apply(image), histeq.specify(image, name, mask=mask)
    )


@pytest.mark.parametrize("name", list(real_grey_images()))
def test_match_uint8_equals_skimage_rounded(name):
    """scikit-image's match_histograms returns float64 for uint8; ours is that, rounded (halves up)."""
    from skimage import data, exposure

    image = real_grey_images()[name]
    reference = data.moon() if name != "moon" else data.camera()
    expected = np.floor(exposure.match_histograms(image, reference) + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(histeq.match(image, reference), expected)


def test_match_uint16_equals_skimage_rounded(camera):
    from skimage import data, exposure

    image = camera.astype(np.uint16) * 257 + 3
    reference = data.moon().astype(np.uint16) * 200
    expected = np.floor(exposure.match_histograms(image, reference) + 0.5).astype(np.uint16)
    np.testing.assert_array_equal(histeq.match(image, reference), expected)


def test_match_float_close_to_skimage_on_continuous_data(camera):
    """On data with (almost) no repeated values the discrete and the continuous quantile maps agree closely;
    the difference is the binning (4096 bins), largest in the sparse tail of the reference."""
    from skimage import exposure

    rng = np.random.default_rng(0)
    image = camera / 255 + rng.normal(0, 0.02, camera.shape)
    reference = rng.gamma(2.0, 0.1, (300, 200))
    ours = histeq.match(image, reference)
    theirs = exposure.match_histograms(image, reference)
    spread = reference.max() - reference.min()
    assert np.median(np.abs(ours - theirs)) < 1e-3 * spread
    assert np.quantile(np.abs(ours - theirs), 0.99) < 5e-3 * spread


@pytest.mark.parametrize("dtype", INT_DTYPES + FLOAT_DTYPES)
def test_match_to_itself_is_the_identity(dtype, camera):
    image = camera[::4, ::4].astype(dtype)
    out = histeq.match(image, image)
    if np.dtype(dtype).kind == "f":
        np.testing.assert_allclose(out, image, atol=1e-3 if dtype == np.float16 else 1e-9)
    else:
        np.testing.assert_array_equal(out, image)


def test_match_keeps_dtype_and_converts_reference_units(camera):
    """A uint8 reference for a uint16 image is expressed in uint16 units (x 257)."""
    out = histeq.match(camera.astype(np.uint16), camera)
    np.testing.assert_array_equal(out, camera.astype(np.uint16) * 257)
    outf = histeq.match(camera / 255, camera)
    assert outf.dtype == np.float64 and 0 <= outf.min() and outf.max() <= 1


def test_match_batch_equals_one_by_one(camera):
    from skimage import data

    rng = np.random.default_rng(1)
    batch = rng.integers(0, 180, (5, 1, 20, 24), dtype=np.uint8)
    reference = data.moon()
    out = histeq.match(batch, reference, axes=(-2, -1))
    for i in range(5):
        np.testing.assert_array_equal(out[i, 0], histeq.match(batch[i, 0], reference))
    own = rng.integers(50, 255, (5, 1, 8, 8), dtype=np.uint8)  # one reference image per image
    out = histeq.match(batch, own, axes=(-2, -1))
    for i in range(5):
        np.testing.assert_array_equal(out[i, 0], histeq.match(batch[i, 0], own[i, 0]))


def test_match_per_channel(astronaut, camera):
    from skimage import data, exposure

    reference = data.coffee()
    out = histeq.match(astronaut, reference, channel_axis=-1)
    # scikit-image truncates a multichannel uint8 result; match each channel alone and round instead
    expected = np.stack(
        [np.floor(exposure.match_histograms(astronaut[..., c], reference[..., c]) + 0.5) for c in range(3)], axis=-1
    ).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    moved = histeq.match(np.moveaxis(astronaut, -1, 0), np.moveaxis(reference, -1, 0), channel_axis=0)
    np.testing.assert_array_equal(np.moveaxis(moved, 0, -1), out)


def test_specify_named_distributions(camera):
    for name in ("uniform", "rayleigh", "exponential"):
        out = histeq.specify(camera, name)
        assert out.dtype == np.uint8 and out.shape == camera.shape
        order = np.argsort(camera.ravel(), kind="stable")
        assert np.all(np.diff(out.ravel()[order].astype(int)) >= 0)  # monotone: one level, one output
    # Rayleigh with a small alpha crowds the dark levels: its median sits below the uniform one's.
    assert np.median(histeq.specify(camera, "rayleigh", alpha=0.2)) < np.median(histeq.specify(camera, "uniform"))


def test_match_constant_float_reference_gives_that_value():
    # Was [1.0, 1.00008, 1.5]: the constant's bin is widened to [0.5, 1.5] so that it has a width.
    from skimage.exposure import match_histograms

    image = np.array([0.1, 0.5, 0.9])
    np.testing.assert_array_equal(histeq.match(image, np.ones(3)), match_histograms(image, np.ones(3)))
    np.testing.assert_array_equal(histeq.match(image, np.ones(3), exact=True), np.ones(3))
    np.testing.assert_array_equal(histeq.fit_match(image, np.ones(3)).apply(image), np.ones(3))
    int32 = np.iinfo(np.int32)  # another dtype's reference, in the image's units through the nominal ranges
    np.testing.assert_allclose(
        histeq.match(image, np.array([7, 7], np.int32)),
        np.full(3, (7 - int32.min) / (int32.max - int32.min)),
        rtol=1e-15,
    )
    np.testing.assert_array_equal(histeq.match(image, np.array([2.0, np.nan, 2.0])), [2, 2, 2])
    batch_reference = np.array([[3.0, 3.0], [0.2, 0.4]])  # one constant reference image of two
    out = histeq.match(np.stack([image, image]), batch_reference, axes=-1)
    np.testing.assert_array_equal(out[0], [3, 3, 3])
    assert 0.2 <= out[1].min() and out[1].max() <= 0.4


def test_specify_never_outputs_where_the_target_has_no_mass():
    # Was 1.0 for the brightest pixel: the quantile at 1 ran on through the empty last bin.
    out = histeq.specify(np.linspace(0, 1, 11), [0, 1, 0])
    assert out.min() >= 1 / 3 and out.max() <= 2 / 3


@given(images(dtypes=FLOAT_DTYPES, nan=False), st.lists(st.sampled_from([0.0, 0.0, 1.0, 2.5]), min_size=1, max_size=7))
def test_specify_outputs_lie_in_occupied_bins(image, weights):
    if not any(weights):
        weights[0] = 1.0
    edges = np.linspace(0, 1, len(weights) + 1)
    occupied = [(edges[k], edges[k + 1]) for k, w in enumerate(weights) if w]
    out = histeq.specify(image, weights).astype(np.float64)
    finite = out[np.isfinite(image)]
    slack = np.finfo(image.dtype).eps  # the output is rounded to the image's dtype
    assert all(any(a - slack <= v <= b + slack for a, b in occupied) for v in finite.ravel())


@given(images(dtypes=FLOAT_DTYPES, nan=False), images(dtypes=FLOAT_DTYPES, nan=False))
def test_match_outputs_lie_within_the_reference_range(image, reference):
    finite = reference[np.isfinite(reference)].astype(np.float64)
    if finite.size == 0 or not np.isfinite(image).any():
        return
    out = histeq.match(image, reference).astype(np.float64)[np.isfinite(image)]
    # the output is rounded to the image's dtype
    slack = 2 * np.finfo(image.dtype).eps * max(1.0, np.abs(finite).max())
    assert finite.min() - slack <= out.min() and out.max() <= finite.max() + slack


def test_specify_matlab_style_two_levels():
    image = np.arange(8, dtype=np.uint8).reshape(2, 4)
    out = histeq.specify(image, [1, 1])
    np.testing.assert_array_equal(out, [[0, 0, 0, 0], [255, 255, 255, 255]])


# --- exact ordering ------------------------------------------------------------------------------------------------


@given(images(max_dims=3, max_side=7))
def test_exact_order_equals_reference(image):
    from histeq._backends.cpu import exact
    from histeq._kernels import dtype_info
    from histeq._layout import BatchLayout

    info = dtype_info(image.dtype)
    layout = BatchLayout(image.shape, tuple(range(image.ndim)))
    work = np.float64 if info.kind == "wide" else info.compute
    order, ties = exact.order(layout.flatten(image, work), layout, 2)
    expected, expected_ties = ref.exact_order(image)
    finite = int((~np.isnan(image)).sum()) if image.dtype.kind == "f" else image.size
    np.testing.assert_array_equal(order[0, :finite], expected[:finite])
    assert ties[0] == expected_ties


@given(images(), st.data())
def test_exact_equalize_equals_reference(image, data):
    mask = data.draw(st.none() | hnp.arrays(np.bool_, image.shape))
    info = histeq._kernels.dtype_info(image.dtype)
    out, ties = histeq.equalize(image, exact=True, mask=mask, return_ties=True)
    levels = np.arange(info.lo, info.hi + 1) if info.kind == "levels" else None

    def by_rank(n):
        if levels is not None:
            return np.repeat(levels, [n // len(levels) + (j < n % len(levels)) for j in range(len(levels))])
        spread = info.lo + (info.hi - info.lo) * (np.arange(n) + 0.5) / n
        return spread if info.is_float else ref._round_levels(spread, info)

    # nothing to equalize (nothing counted, or one counted value): equalize's identity rescale, no tie split;
    # -inf and +inf: the ends of the output range
    expected = ref.exact_values(
        image,
        by_rank,
        mask,
        uncounted=lambda x: ref._rescale(x, info, None, None),
        ends=(info.lo, info.hi),
        one_level=True,
    )
    _assert_matches(out, expected)
    counted = image[np.ones(image.shape, bool) if mask is None else mask]
    counted = counted[np.isfinite(counted)] if image.dtype.kind == "f" else counted
    assert ties == (ref.exact_order(image)[1] if np.unique(counted).size > 1 else 0)


@given(images(dtypes=LEVEL_DTYPES, max_dims=2, max_side=24))
def test_exact_equalize_is_flat_and_monotone(image):
    assume(np.unique(image).size > 1)  # one value: nothing to equalize (test_exact_keeps_what_has_nothing_to_equalize)
    out = histeq.equalize(image, exact=True, out_range=(0, 9))
    n, levels = image.size, 10
    counts = np.bincount(out.astype(np.int64).ravel(), minlength=levels)
    assert counts.size == levels and set(counts.tolist()) <= {n // levels, -(-n // levels)}
    # a darker pixel never ends brighter than a lighter one
    values = np.unique(image)
    for low, high in zip(values[:-1], values[1:]):
        assert out[image == low].max() <= out[image == high].min()


def test_exact_match_reproduces_reference_histogram(camera):
    from skimage import data

    reference = data.moon()[:512, :512]
    out = histeq.match(camera, reference, exact=True)
    np.testing.assert_array_equal(
        np.bincount(out.ravel(), minlength=256), np.bincount(reference.ravel(), minlength=256)
    )


def test_exact_specify_reproduces_target_counts(camera):
    weights = np.zeros(256)
    weights[[10, 100, 200]] = [1, 2, 1]
    out = histeq.specify(camera, weights, exact=True)
    counts = np.bincount(out.ravel(), minlength=256)
    assert counts[10] + counts[100] + counts[200] == camera.size
    np.testing.assert_array_equal(counts[[10, 100, 200]], np.array([1, 2, 1]) * camera.size // 4)


def test_exact_batch_equals_one_by_one():
    rng = np.random.default_rng(3)
    batch = rng.integers(0, 40, (4, 1, 17, 13), dtype=np.uint8)
    out, ties = histeq.equalize(batch, axes=(-2, -1), exact=True, return_ties=True)
    assert ties.shape == (4, 1)
    for i in range(4):
        single, t = histeq.equalize(batch[i, 0], exact=True, return_ties=True)
        np.testing.assert_array_equal(out[i, 0], single)
        assert ties[i, 0] == t


def test_exact_flat_where_plain_equalization_cannot_be(camera):
    plain = np.bincount(histeq.equalize(camera).ravel(), minlength=256)
    exact = np.bincount(histeq.equalize(camera, exact=True).ravel(), minlength=256)
    assert plain.max() > 4 * exact.max() and exact.min() == exact.max() == camera.size // 256


def test_exact_specification_splits_a_constant_image_by_position():
    # specify's promise is the target histogram, exactly; equalize leaves a constant image as it is instead
    # (test_exact_keeps_what_has_nothing_to_equalize).
    image = np.full((4, 8), 7, dtype=np.uint8)
    out, ties = histeq.specify(image, "uniform", exact=True, return_ties=True)
    assert ties == image.size - 1  # every pixel's key equals its predecessor's
    # 32 pixels on 256 levels: one each on the 32 lowest, in raster order
    np.testing.assert_array_equal(out.ravel(), np.arange(32))


# --- colour ---------------------------------------------------------------------------------------------------------


def test_match_lightness_follows_the_reference_lightness(astronaut):
    """The output's L* is the image's L* matched to the reference's L* (up to the rounding of RGB to uint8)."""
    from skimage import color, data

    reference = data.coffee()
    out = histeq.match(astronaut, reference, channel_axis=-1, color="lightness")
    lightness = color.rgb2lab(astronaut)[..., 0].astype(np.float32)
    expected = histeq.match(lightness, color.rgb2lab(reference)[..., 0].astype(np.float32))
    assert np.mean(np.abs(color.rgb2lab(out)[..., 0] - expected)) < 0.5
    # chroma is kept: hue angles barely move where there is colour
    lab_in, lab_out = color.rgb2lab(astronaut), color.rgb2lab(out)
    chromatic = np.hypot(lab_in[..., 1], lab_in[..., 2]) > 20
    hue_shift = np.angle(
        np.exp(1j * (np.arctan2(lab_out[..., 2], lab_out[..., 1]) - np.arctan2(lab_in[..., 2], lab_in[..., 1])))
    )
    assert np.median(np.abs(hue_shift[chromatic])) < 0.05


def test_exact_luma_is_flat(astronaut):
    out, ties = histeq.equalize(astronaut, channel_axis=-1, color="luma", exact=True, return_ties=True)
    luma = out.astype(float) @ np.array([0.299, 0.587, 0.114])
    counts = np.histogram(luma, bins=16, range=(-0.5, 255.5))[0]
    assert counts.max() < 1.1 * counts.min() and isinstance(ties, int)


def test_specify_value_per_image_of_a_colour_batch(astronaut):
    batch = np.stack([astronaut[:128, :128], astronaut[200:328, 200:328]])
    out = histeq.specify(batch, "uniform", axes=(1, 2), channel_axis=-1, color="value")
    for i in range(2):
        np.testing.assert_array_equal(out[i], histeq.specify(batch[i], "uniform", channel_axis=-1, color="value"))


# --- bad input -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda im: histeq.match(im, np.array([], dtype=np.uint8)), ValueError, "empty"),
        (lambda im: histeq.match(im, np.full(5, np.nan)), ValueError, "no counted pixel"),
        (
            lambda im: histeq.match(im, np.ones(5, np.uint8), reference_mask=np.zeros(5, bool)),
            ValueError,
            "no counted pixel",
        ),
        (lambda im: histeq.specify(im, [1, -1]), ValueError, "non-negative"),
        (lambda im: histeq.specify(im, [0, 0]), ValueError, "all zero"),
        (lambda im: histeq.specify(im, []), ValueError, "non-empty"),
        (lambda im: histeq.specify(im, [[1, 2]]), ValueError, "1-D"),
        (lambda im: histeq.specify(im, [1, np.nan]), ValueError, "finite"),
        (lambda im: histeq.specify(im, np.ones(300)), ValueError, "levels"),
        (lambda im: histeq.specify(im, "gaussian"), ValueError, "unknown histogram"),
        (lambda im: histeq.specify(im, "rayleigh", alpha=0), ValueError, "alpha"),
        (lambda im: histeq.specify(im, ["a"]), TypeError, "numbers"),
        (lambda im: histeq.match(im, im, nbins=16), ValueError, "one bin per level"),
        (lambda im: histeq.match(im, im, return_ties=True), ValueError, "exact=True"),
        (lambda im: histeq.match(im, im, exact="yes"), TypeError, "exact"),
        (lambda im: histeq.equalize(im, return_ties=True), ValueError, "exact=True"),
        (
            lambda im: histeq.match(np.stack([im] * 3, -1), np.stack([im] * 2, -1), channel_axis=-1),
            ValueError,
            "channels",
        ),
        (
            lambda im: histeq.match(np.stack([im] * 3, -1), im, channel_axis=-1, color="lightness"),
            ValueError,
            "3 \\(RGB\\) or 4",
        ),
        (
            lambda im: histeq.match(np.stack([im] * 3, 0), np.ones(3, np.uint8), channel_axis=0),
            ValueError,
            "channel axis like",
        ),
        (
            lambda im: histeq.match(np.stack([im] * 3, -1), np.stack([im] * 2, -1), channel_axis=-1, color="luma"),
            ValueError,
            "3 \\(RGB\\) or 4",
        ),
        (
            lambda im: histeq.specify(
                np.stack([im] * 3, -1), "uniform", channel_axis=-1, color="luma", out_range=(0, 9)
            ),
            ValueError,
            "out_range",
        ),
        (lambda im: histeq.match(im, im, color="luma"), ValueError, "channel_axis"),
        (lambda im: histeq.equalize(im, exact=True, compat="opencv"), ValueError, "compat"),
        (lambda im: histeq.match(im, np.zeros(4, dtype=complex)), TypeError, "complex"),
        (lambda im: histeq.fit_match(im, np.full(5, np.nan)), ValueError, "no counted pixel"),
        (lambda im: histeq.fit_match(im, im, nbins=16), ValueError, "one bin per level"),
        (lambda im: histeq.fit_match(im, im, mask=np.ones(3, bool)), ValueError, "mask"),
        (lambda im: histeq.fit_match(np.zeros((0, 3), np.uint8), im), ValueError, "empty"),
        (lambda im: histeq.fit_specify(im, [1, -1]), ValueError, "non-negative"),
        (lambda im: histeq.fit_specify(im, np.ones(300)), ValueError, "levels"),
        (lambda im: histeq.fit_specify(im, "gaussian"), ValueError, "unknown histogram"),
        (lambda im: histeq.fit_specify(im.astype(complex), "uniform"), TypeError, "complex"),
    ],
)
def test_bad_input(call, error, message):
    image = np.arange(64, dtype=np.uint8).reshape(8, 8)
    before = image.copy()
    with pytest.raises(error, match=message):
        call(image)
    np.testing.assert_array_equal(image, before)


def test_inputs_are_not_modified(camera):
    image, reference = camera.copy(), camera[::-1].copy()
    image.flags.writeable = False
    histeq.match(image, reference, exact=True)
    histeq.specify(image, "uniform")
    np.testing.assert_array_equal(image, camera)
    np.testing.assert_array_equal(reference, camera[::-1])


# --- the same answer at every integer width, and discrete references ------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.uint32, np.int32, np.int64, np.uint64])
def test_match_treats_integers_alike_at_every_width(dtype):
    # scikit-image matches integer images level by level whatever their width: so does histeq, wherever the
    # image's counted range holds at most nbins levels (4096 by default).
    from skimage.exposure import match_histograms

    image, reference = np.arange(10, dtype=dtype), np.arange(100, dtype=dtype)
    # the same values as int64, which every scikit-image takes (uint64 only from 0.22)
    expected = np.floor(match_histograms(image.astype(np.int64), reference.astype(np.int64)) + 0.5)
    np.testing.assert_array_equal(histeq.match(image, reference), expected.astype(dtype))
    np.testing.assert_array_equal(expected, np.arange(9, 100, 10))


@given(
    hnp.arrays(np.int64, hnp.array_shapes(max_dims=2, max_side=12), elements=st.integers(-300, 300)),
    hnp.arrays(np.int64, hnp.array_shapes(max_dims=2, max_side=12), elements=st.integers(-300, 300)),
)
def test_match_of_32_bit_integers_equals_16_bit(image, reference):
    # The same values at three widths: the same result.
    narrow = histeq.match(image.astype(np.int16), reference.astype(np.int16))
    np.testing.assert_array_equal(histeq.match(image.astype(np.int32), reference.astype(np.int32)), narrow)
    np.testing.assert_array_equal(histeq.match(image, reference), narrow)


def test_match_of_wide_integers_beyond_nbins_levels_is_binned():
    # Over more levels than nbins, a 32-bit image is binned as floats are: still monotone, into the reference's
    # range, and the same as a 16-bit image of those values binned alike is not required.
    rng = np.random.default_rng(5)
    image = rng.integers(-(10**6), 10**6, (64, 64), dtype=np.int32)
    reference = rng.integers(0, 5000, (64, 64), dtype=np.int32)
    out = histeq.match(image, reference)
    assert out.min() >= reference.min() and out.max() <= reference.max()
    order = np.argsort(image.ravel(), kind="stable")
    assert np.all(np.diff(out.ravel()[order].astype(np.int64)) >= 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_match_onto_a_few_distinct_values_gives_those_values(dtype):
    rng = np.random.default_rng(0)
    image = rng.random((96, 96)).astype(dtype)
    binary = (rng.random((80, 80)) > 0.7).astype(dtype)  # a mask as floats
    labels = rng.integers(0, 5, (80, 80)).astype(dtype) * dtype(0.37)  # labels, quantized data
    for reference in (binary, labels, np.where(binary > 0, dtype(1e-3), dtype(2e-3))):
        values = np.unique(reference)
        out = histeq.match(image, reference)
        assert set(np.unique(out).tolist()) <= set(values.tolist())
        # quantile matching: each reference value takes its share of the image, to within the pixels of one of
        # the image's 4096 bins (inside which a pixel's fraction is interpolated)
        counts = np.array([(out == v).sum() for v in values])
        shares = np.array([(reference == v).mean() for v in values]) * image.size
        assert np.all(np.abs(counts - shares) <= 1 + image.size / 4096)
        assert set(np.unique(histeq.match(image, reference, exact=True)).tolist()) <= set(values.tolist())


def test_match_onto_a_few_values_is_the_same_from_dask_and_fitted():
    import dask.array as da

    rng = np.random.default_rng(1)
    image = rng.random((64, 64))
    reference = np.repeat([0.25, 0.5, 2.0, 7.0], 400).reshape(40, 40)
    expected = histeq.match(image, reference)
    assert set(np.unique(expected).tolist()) == {0.25, 0.5, 2.0, 7.0}
    lazy = histeq.match(da.from_array(image, chunks=24), da.from_array(reference, chunks=16)).compute()
    np.testing.assert_array_equal(lazy, expected)
    np.testing.assert_array_equal(histeq.fit_match(image, da.from_array(reference, chunks=16)).apply(image), expected)


@given(
    images(dtypes=FLOAT_DTYPES, nan=False),
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=5),
    st.data(),
)
def test_match_outputs_lie_in_a_discrete_references_values(image, values, data):
    # A float image onto a reference of a few values, far apart relative to its bins: every output is one of
    # them.  (An integer image interpolates between the reference's levels, as scikit-image does.)
    values = np.unique(np.round(np.array(values), 0))
    reference = data.draw(hnp.arrays(np.float64, st.integers(1, 40), elements=st.sampled_from(values.tolist())))
    out = histeq.match(image, reference)
    assert set(np.unique(out).tolist()) <= set(np.unique(reference.astype(image.dtype)).tolist())


# --- exact mode: nothing to specify ---------------------------------------------------------------------------------


@pytest.mark.parametrize("function", ["match", "specify"])
def test_exact_leaves_an_image_with_nothing_counted_as_it_is(function):
    reference = np.array([0.0, 0.5, 1.0])
    for image, mask in (
        (np.array([np.inf]), None),
        (np.array([np.inf, -np.inf, np.nan]), None),
        (np.array([0.2, np.inf, 0.9]), np.zeros(3, bool)),
    ):
        call = getattr(histeq, function)
        target = reference if function == "match" else "uniform"
        expected = call(image, target, mask=mask)
        np.testing.assert_array_equal(expected, image)  # the README's rule, without exact
        out, ties = call(image, target, mask=mask, exact=True, return_ties=True)
        np.testing.assert_array_equal(out, image)
        assert ties == 0


def test_exact_keeps_what_has_nothing_to_equalize():
    # One rule for a constant image, with and without exact: unchanged (its ties are not split by position).
    constant = np.full((2, 3), 9, np.uint8)
    out, ties = histeq.equalize(constant, exact=True, return_ties=True)
    np.testing.assert_array_equal(out, constant)
    assert ties == 0
    np.testing.assert_array_equal(histeq.equalize(constant), constant)
    # the same when only the counted pixels are constant, for floats, and image by image in a batch
    values, counted = np.array([9, 9, 3, 200], np.uint8), np.array([True, True, False, False])
    np.testing.assert_array_equal(histeq.equalize(values, mask=counted, exact=True), values)
    floats = np.array([0.5, 0.5, np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(histeq.equalize(floats, exact=True), histeq.equalize(floats))
    batch = np.stack([constant, np.arange(6, dtype=np.uint8).reshape(2, 3)])
    out, ties = histeq.equalize(batch, axes=(1, 2), exact=True, return_ties=True)
    np.testing.assert_array_equal(out[0], constant)
    np.testing.assert_array_equal(out[1], histeq.equalize(batch[1], exact=True))
    assert ties.tolist() == [0, 0]


def test_match_onto_values_beyond_what_the_image_holds_warns_nothing():
    # Found by the fuzz harness (warnings are errors here): results clip into the image's dtype instead.
    top = float(np.finfo(np.float16).max)
    image = np.array([0.0, np.inf, -np.inf], np.float16)
    for exact in (False, True):
        np.testing.assert_array_equal(histeq.match(image, np.array([65520.0], np.float32), exact=exact), [top] * 3)
    huge = np.array([2.7e303, -1e308])  # beyond float64 once in an integer dtype's units
    np.testing.assert_array_equal(histeq.match(np.array([0, 1], np.int32), huge), [-(2**31), 2**31 - 1])
    np.testing.assert_array_equal(histeq.match(np.array([0, 1], np.uint8), huge, exact=True), [0, 255])
    assert histeq.fit_match(np.array([0], np.uint16), np.array([2.74e303])).apply(np.array([7], np.uint16)) == 65535
