"""The compiled path against the NumPy reference, and the properties of equalize."""

import _reference as ref
import numpy as np
import pytest
from conftest import FLOAT_DTYPES, INT_DTYPES
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import histeq


def _assert_matches_reference(out, expected, dtype):
    if np.dtype(dtype) == np.float16:  # computed in float32, so rounded twice
        np.testing.assert_allclose(out.astype(float), expected.astype(float), rtol=1e-3, atol=1e-3)
    else:
        np.testing.assert_array_equal(out, expected)


@st.composite
def grey_case(draw):
    dtype = draw(st.sampled_from(INT_DTYPES + FLOAT_DTYPES))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=12))
    if np.dtype(dtype).kind == "f":
        elements = st.floats(-1e3, 1e3, width=np.dtype(dtype).itemsize * 8) | st.sampled_from([np.nan, np.inf, -np.inf])
    else:
        info = np.iinfo(dtype)
        narrow = st.integers(int(info.min) // 256 + 5, int(info.min) // 256 + 40)
        elements = narrow | st.integers(int(info.min), int(info.max))
    image = draw(hnp.arrays(dtype, shape, elements=elements))
    kwargs = {}
    if draw(st.booleans()):
        kwargs["mask"] = draw(hnp.arrays(np.bool_, shape))
    if draw(st.booleans()):
        kwargs["nbins"] = draw(st.integers(2, 300))
    if draw(st.booleans()):
        if np.dtype(dtype).kind == "f":
            lo = draw(st.floats(-100, 100))
            kwargs["in_range"] = (lo, lo + draw(st.floats(0.5, 500)))
        else:
            info = np.iinfo(dtype)
            lo = draw(st.integers(int(info.min), int(info.max) - 1))
            kwargs["in_range"] = (lo, draw(st.integers(lo + 1, int(info.max))))
    if draw(st.booleans()):
        if np.dtype(dtype).kind == "f":
            kwargs["out_range"] = (-2.0, 3.0)
        else:
            info = np.iinfo(dtype)
            lo = draw(st.integers(int(info.min), int(info.max) - 1))
            kwargs["out_range"] = (lo, draw(st.integers(lo + 1, int(info.max))))
    return image, kwargs


@given(grey_case())
def test_compiled_equals_reference(case):
    image, kwargs = case
    expected = ref.equalize(image, **kwargs)
    out = histeq.equalize(image, **kwargs)
    assert out.dtype == image.dtype and out.shape == image.shape
    _assert_matches_reference(out, expected, image.dtype)


@pytest.mark.parametrize("dtype", INT_DTYPES + FLOAT_DTYPES)
def test_real_image_every_dtype(camera, dtype):
    if np.dtype(dtype).kind == "f":
        image = (camera / 255.0).astype(dtype)
    else:
        info = np.iinfo(dtype)
        image = (camera.astype(np.float64) / 255 * (info.max // 2) + info.min // 2).astype(dtype)
    out = histeq.equalize(image)
    _assert_matches_reference(out, ref.equalize(image), dtype)
    lo, hi = (0, 1) if np.dtype(dtype).kind == "f" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    assert out.min() == lo and out.max() == hi


@given(grey_case())
def test_monotone_and_in_range(case):
    image, kwargs = case
    kwargs.pop("out_range", None)
    out = histeq.equalize(image, **kwargs)
    flat_in, flat_out = image.ravel(), out.ravel()
    keep = ~np.isnan(flat_in) if image.dtype.kind == "f" else slice(None)
    order = np.argsort(flat_in[keep], kind="stable")
    assert np.all(np.diff(flat_out[keep][order].astype(np.float64)) >= 0), "mapping is not monotone"
    if image.dtype.kind == "f":
        assert np.array_equal(np.isnan(out), np.isnan(image))
        assert np.nanmin(out) >= 0 and np.nanmax(out) <= 1 if np.any(~np.isnan(out)) else True


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32])
def test_batch_equals_each_image_alone(dtype):
    rng = np.random.default_rng(0)
    batch = (rng.random((40, 1, 24, 20)) * rng.random((40, 1, 1, 1)) * 200).astype(dtype)
    out = histeq.equalize(batch, axes=(-2, -1))
    for i in range(batch.shape[0]):
        np.testing.assert_array_equal(out[i, 0], histeq.equalize(batch[i, 0]))


def test_batch_axes_in_any_position():
    rng = np.random.default_rng(1)
    stack = rng.integers(0, 90, (30, 7, 5), dtype=np.uint8)
    out = histeq.equalize(stack, axes=(0, 2))  # images are stack[:, j, :]
    for j in range(stack.shape[1]):
        np.testing.assert_array_equal(out[:, j, :], histeq.equalize(stack[:, j, :]))


def test_the_seed_batch_shape():
    batch = np.random.default_rng(2).integers(20, 120, (1800, 1, 96, 96), dtype=np.uint8)
    out = histeq.equalize(batch, axes=(-2, -1))
    for i in (0, 17, 1799):
        np.testing.assert_array_equal(out[i, 0], ref.equalize(batch[i, 0]))


@given(grey_case(), st.integers(1, 4))
def test_threads_do_not_change_results(case, threads):
    image, kwargs = case
    np.testing.assert_array_equal(
        histeq.equalize(image, threads=threads, **kwargs), histeq.equalize(image, threads=1, **kwargs)
    )


def test_large_image_threads_agree():
    image = np.random.default_rng(3).normal(size=(700, 900)).astype(np.float32)
    np.testing.assert_array_equal(histeq.equalize(image, threads=1), histeq.equalize(image, threads=3))


def test_set_num_threads():
    before = histeq.get_num_threads()
    try:
        histeq.set_num_threads(1)
        assert histeq.get_num_threads() == 1
    finally:
        histeq.set_num_threads(None)
    assert histeq.get_num_threads() == before


def test_mask_only_selects_the_histogram():
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (30, 30), dtype=np.uint8)
    mask = np.zeros(image.shape, bool)
    mask[5:20, 5:25] = True
    out = histeq.equalize(image, mask=mask)
    # The same mapping as equalizing the masked pixels alone, applied to every pixel.
    lut = {int(v): int(o) for v, o in zip(image[mask], histeq.equalize(image[mask]))}
    assert all(out[mask][i] == lut[int(v)] for i, v in enumerate(image[mask]))
    np.testing.assert_array_equal(out, ref.equalize(image, mask=mask))


def test_mask_broadcasts_over_a_batch():
    batch = np.random.default_rng(5).integers(0, 256, (6, 10, 12), dtype=np.uint8)
    mask = np.random.default_rng(6).random((10, 12)) > 0.5
    out = histeq.equalize(batch, axes=(1, 2), mask=mask)
    for i in range(6):
        np.testing.assert_array_equal(out[i], histeq.equalize(batch[i], mask=mask))


@pytest.mark.parametrize("dtype", INT_DTYPES + FLOAT_DTYPES)
def test_nothing_to_equalize_is_unchanged(dtype):
    value = 0.3 if np.dtype(dtype).kind == "f" else 7
    constant = np.full((5, 6), value, dtype=dtype)
    np.testing.assert_array_equal(histeq.equalize(constant), constant)
    image = np.arange(30).reshape(5, 6).astype(dtype)
    if np.dtype(dtype).kind == "f":
        image /= 30
    np.testing.assert_array_equal(histeq.equalize(image, mask=np.zeros((5, 6), bool)), image)


def test_nothing_to_equalize_rescales_to_out_range():
    image = np.full((3, 3), 255, dtype=np.uint8)
    assert histeq.equalize(image, out_range=(0, 100)).max() == 100


def test_nan_stays_nan_and_never_counts():
    image = np.array([np.nan, 0.0, 1.0, 2.0, np.nan, np.inf, -np.inf])
    out = histeq.equalize(image)
    assert np.isnan(out[[0, 4]]).all()
    assert out[5] == 1.0 and out[6] == 0.0
    np.testing.assert_array_equal(out[1:4], histeq.equalize(image[1:4]))
    assert np.isnan(histeq.equalize(np.full(4, np.nan))).all()


def test_single_pixel_and_1xn():
    assert histeq.equalize(np.array([[9]], dtype=np.uint8)).tolist() == [[9]]
    row = np.array([[3, 1, 2]], dtype=np.uint8)
    assert histeq.equalize(row).tolist() == [[255, 0, 128]]


def test_float16_keeps_its_dtype():
    image = np.linspace(0, 1, 50, dtype=np.float16).reshape(5, 10)
    out = histeq.equalize(image)
    assert out.dtype == np.float16 and out.min() == 0 and out.max() == 1


def test_out_range_for_integers():
    image = np.random.default_rng(7).integers(0, 4096, (50, 50), dtype=np.uint16)
    out = histeq.equalize(image, out_range=(0, 4095))
    assert out.min() == 0 and out.max() == 4095
    np.testing.assert_array_equal(out, ref.equalize(image, out_range=(0, 4095)))


# --- data safety ------------------------------------------------------------


def test_caller_array_is_never_modified_or_shared():
    image = np.random.default_rng(8).integers(0, 256, (20, 20), dtype=np.uint8)
    copy = image.copy()
    out = histeq.equalize(image)
    np.testing.assert_array_equal(image, copy)
    assert not np.shares_memory(out, image)


@given(grey_case(), st.sampled_from(["transpose", "stride", "readonly", "byteswap", "fortran"]))
def test_any_memory_layout(case, layout):
    image, kwargs = case
    expected = histeq.equalize(image, **kwargs)
    mask = kwargs.pop("mask", None)
    if layout == "transpose":
        view, expected = image.T, expected.T
        mask = None if mask is None else mask.T
    elif layout == "stride":
        big = np.repeat(image, 2, axis=-1)
        view = big[..., ::2]
    elif layout == "readonly":
        view = image.copy()
        view.flags.writeable = False
    elif layout == "byteswap":
        view = image.astype(image.dtype.newbyteorder(">" if image.dtype.byteorder in "<=" else "<"))
    else:
        view = np.asfortranarray(image)
    if mask is not None:
        kwargs["mask"] = mask
    before = view.copy()
    out = histeq.equalize(view, **kwargs)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(view, before)
    assert out.dtype.name == image.dtype.name


@given(
    hnp.arrays(st.sampled_from([np.uint8, np.uint16]), hnp.array_shapes(min_dims=1, max_dims=4, max_side=9)),
    st.sampled_from(["contiguous", "transpose", "stride", "readonly", "byteswap"]),
)
def test_the_lean_path_equals_the_reference_and_the_full_path(image, layout):
    # equalize(image) with every default takes the core's lean path when it can; threads= forces the full path.
    swapped = image.byteswap().view(image.dtype.newbyteorder())
    view = {
        "contiguous": image,
        "transpose": image.T,
        "stride": np.repeat(image, 2, axis=-1)[..., ::2],
        "readonly": image.copy(),
        "byteswap": swapped,
    }[layout]
    view.flags.writeable = layout != "readonly"
    out = histeq.equalize(view)
    np.testing.assert_array_equal(out, ref.equalize(view))
    np.testing.assert_array_equal(out, histeq.equalize(view, threads=histeq.get_num_threads()))
    assert out.dtype == image.dtype and out.flags.c_contiguous and not np.shares_memory(out, view)


def test_the_lean_path_declines_what_it_does_not_cover():
    from histeq._kernels import core

    image = np.arange(60, dtype=np.uint8).reshape(6, 10)
    unaligned = np.zeros(41, np.uint8)[1:].view(np.uint16)
    for other in (
        image.T,
        image[:, ::2],
        image[:0],
        image[0, 0, ...],
        image.astype(np.int8),
        image.astype(np.float32),
        unaligned,
    ):
        assert core.equalize_default(other, np.empty(other.shape, other.dtype), 1) is False
    assert core.equalize_default(image, np.empty(image.shape, np.uint16), 1) is False  # out of another dtype
    with pytest.raises(ValueError, match="shape"):
        core.equalize_default(image, np.empty((10, 6), np.uint8), 1)
    with pytest.raises(ValueError, match="threads"):
        core.equalize_default(image, np.empty_like(image), 0)


def test_lists_are_accepted():
    assert histeq.equalize([[0.0, 0.5], [0.25, 1.0]]).dtype == np.float64
    # A list of Python ints becomes NumPy's default integer, int64: computed as int32, given back as int64.
    out = histeq.equalize([[0, 10], [20, 30]])
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, histeq.equalize(np.array([[0, 10], [20, 30]], np.int32)))
    np.testing.assert_array_equal(histeq.equalize((1, 5, 3)), histeq.equalize(np.array([1, 5, 3], np.int32)))


@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, max_side=30)))
def test_uint8_compiled_matches_opencv_within_one_level(image):
    import cv2

    assume(image.shape[1] > 0)
    diff = histeq.equalize(image).astype(int) - cv2.equalizeHist(image)
    assert np.abs(diff).max() <= 1


@given(st.sampled_from([np.uint32, np.int32]), st.data())
def test_the_identity_rescale_of_32_bit_images_is_exact(dtype, data):
    # Products of two 32-bit spans pass 64 bits: the core's exact wide arithmetic (wide_arithmetic.hpp, which
    # MSVC builds use too, having no 128-bit integer) against the reference's Python integers.
    info = np.iinfo(dtype)
    level = st.integers(int(info.min), int(info.max))
    lo, hi = sorted(data.draw(st.lists(level, min_size=2, max_size=2, unique=True)))
    out_lo, out_hi = sorted(data.draw(st.lists(level, min_size=2, max_size=2, unique=True)))
    image = np.full((2, 3), data.draw(level), dtype=dtype)  # constant: nothing to equalize
    out = histeq.equalize(image, in_range=(lo, hi), out_range=(out_lo, out_hi))
    np.testing.assert_array_equal(out, ref.equalize(image, in_range=(lo, hi), out_range=(out_lo, out_hi)))
