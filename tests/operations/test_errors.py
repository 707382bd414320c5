"""Every bad input gets a clear TypeError or ValueError, never a crash."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import histeq
from histeq._kernels import core

IMAGE = np.arange(64, dtype=np.uint8).reshape(8, 8)
RGB = np.zeros((8, 8, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "image, error, match",
    [
        (np.ones((4, 4), bool), TypeError, "bool.*astype"),
        (np.ones((4, 4), complex), TypeError, "complex"),
        (np.array([[object()]]), TypeError, "numeric"),
        (np.array(["a", "b"]), TypeError, "numeric"),
        (np.array([0, 2**40]), ValueError, "int64 holds values in .0, 1099511627776.*computed as int32"),
        (np.array([0, 2**63], np.uint64), ValueError, "uint64 holds values.*computed as uint32"),
        (np.array([-1, 2**31]), ValueError, "must lie in .-2147483648, 2147483647."),
        (np.zeros((0, 5), np.uint8), ValueError, "empty"),
        (np.uint8(3), ValueError, "0-d"),
        ("not an image", TypeError, "numeric"),
    ],
)
def test_bad_images(image, error, match):
    for func in (histeq.equalize, histeq.histogram, histeq.cumulative_distribution):
        with pytest.raises(error, match=match):
            func(image)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(mask=np.ones((4, 4), bool)), ValueError, "mask of shape"),
        (dict(mask=np.ones((8, 8), np.uint8)), TypeError, "boolean"),
        (dict(axes=2), ValueError, "out of range"),
        (dict(axes=(0, 0)), ValueError, "repeated"),
        (dict(axes=()), ValueError, "at least one"),
        (dict(axes=1.5), TypeError, "axes"),
        (dict(axes="x"), TypeError, "int"),
        (dict(nbins=1), ValueError, "nbins"),
        (dict(nbins=2.5), TypeError, "nbins"),
        (dict(nbins=True), TypeError, "nbins"),
        (dict(nbins=1 << 30), ValueError, "nbins"),
        (dict(in_range=(5, 5)), ValueError, "lo < hi"),
        (dict(in_range=(9, 2)), ValueError, "lo < hi"),
        (dict(in_range=(0, 300)), ValueError, "outside"),
        (dict(in_range=(0.5, 10)), ValueError, "integers"),
        (dict(in_range=(0, np.inf)), ValueError, "finite"),
        (dict(in_range=5), TypeError, "pair"),
        (dict(out_range=(0, 256)), ValueError, "outside"),
        (dict(out_range=("a", 3)), TypeError, "numbers"),
        (dict(threads=0), ValueError, "threads"),
        (dict(threads="2"), TypeError, "threads"),
        (dict(compat="matlab"), ValueError, "unknown compat"),
        (dict(color="luma"), ValueError, "channel_axis"),
        (dict(channel_axis=5), ValueError, "channel_axis"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        histeq.equalize(IMAGE, **kwargs)


@pytest.mark.parametrize(
    "image, kwargs, error, match",
    [
        (RGB, dict(channel_axis=-1, color="hsl"), ValueError, "unknown color"),
        (np.zeros((8, 8, 2), np.uint8), dict(channel_axis=-1, color="luma"), ValueError, "3 \\(RGB\\) or 4"),
        (np.zeros((8, 8, 5), np.uint8), dict(channel_axis=-1), ValueError, "per-channel"),
        (RGB.astype(np.int16), dict(channel_axis=-1, color="value"), TypeError, "per-channel"),
        (RGB, dict(channel_axis=-1, axes=(1, 2)), ValueError, "channel axis"),
        (RGB, dict(channel_axis=-1, color="luma", out_range=(0, 10)), ValueError, "out_range"),
        (RGB, dict(channel_axis=-1, in_range=(0, 10)), ValueError, "in_range"),
        (np.zeros((3,), np.uint8), dict(channel_axis=0), ValueError, "no axis besides"),
    ],
)
def test_bad_colour_arguments(image, kwargs, error, match):
    with pytest.raises(error, match=match):
        histeq.equalize(image, **kwargs)


def test_other_channel_counts_work_per_channel():
    five = np.random.default_rng(0).integers(0, 256, (8, 8, 5), dtype=np.uint8)
    out = histeq.equalize(five, channel_axis=-1, color="per-channel")
    np.testing.assert_array_equal(out[..., 4], histeq.equalize(five[..., 4]))


def test_the_binding_refuses_implicit_conversion():
    out = np.empty((1, 4), np.uint8)
    spec = core.Spec(nbins=256, data_range=False, lo=0, hi=255, nominal_lo=0, nominal_hi=255, out_lo=0, out_hi=255)
    kwargs = dict(spec=spec, threads=1)
    with pytest.raises(TypeError):
        core.equalize(np.zeros((1, 4), np.int64), None, out, **kwargs)
    with pytest.raises(TypeError):  # non-contiguous
        core.equalize(np.zeros((1, 8), np.uint8)[:, ::2], None, out, **kwargs)
    with pytest.raises(TypeError):  # mismatched output dtype
        core.equalize(np.zeros((1, 4), np.uint8), None, np.empty((1, 4), np.uint16), **kwargs)
    with pytest.raises(ValueError, match="shape"):
        core.equalize(np.zeros((1, 5), np.uint8), None, out, **kwargs)
    with pytest.raises(ValueError, match="threads"):
        core.equalize(np.zeros((1, 4), np.uint8), None, out, **{**kwargs, "threads": 0})
    with pytest.raises(ValueError, match="output range"):  # once a division by zero (SIGFPE)
        core.Spec(nbins=256, data_range=False, lo=0, hi=255, nominal_lo=0, nominal_hi=255, out_lo=1, out_hi=0)
    with pytest.raises(ValueError, match="integral ranges inside the dtype"):  # the dtype's rules, per call
        core.equalize(np.zeros((1, 4), np.uint8), None, out, core.Spec(256, False, 0, 255, 0, 255, 0, 300), 1)
    with pytest.raises(TypeError):  # a spec is a core.Spec, not its fields
        core.equalize(np.zeros((1, 4), np.uint8), None, out, {"nbins": 256}, 1)
    with pytest.raises(ValueError, match="entry for every level"):
        core.apply_lut(np.zeros((1, 4), np.uint8), np.zeros((1, 10), np.uint8), out, lo=0, threads=1)


_wild = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 1.0, 255.0, -128.0, 65535.0, 1e300])


@given(
    dtype=st.sampled_from(["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]),
    nbins=st.integers(-5, 2000),
    ranges=st.tuples(_wild, _wild, _wild, _wild, _wild, _wild),
    threads=st.integers(-2, 3),
    data_range=st.booleans(),
    with_mask=st.booleans(),
)
def test_fuzz_the_binding(dtype, nbins, ranges, threads, data_range, with_mask):
    """Whatever the arguments, the kernels return or raise; they never crash or hang."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(2, 50)) * 100
    # Integers by way of int64, which wraps: a negative float cast to an unsigned type is undefined in C, and
    # NumPy warns of it on ARM.
    image = values.astype(dtype) if np.dtype(dtype).kind == "f" else values.astype(np.int64).astype(dtype)
    image[0, :3] = np.array([0, 1, -1]).astype(dtype)
    if image.dtype.kind == "f":
        image[1, :3] = [np.nan, np.inf, -np.inf]
    mask = rng.random(image.shape) > 0.3 if with_mask else None
    out = np.empty_like(image)
    counts = np.empty((2, max(nbins, 1)), np.int64)
    lo, hi, nominal_lo, nominal_hi, out_lo, out_hi = ranges

    def spec():
        return core.Spec(nbins, data_range, lo, hi, nominal_lo, nominal_hi, out_lo, out_hi)

    for call in (
        lambda: core.equalize(image, mask, out, spec(), threads=threads),
        lambda: core.histogram(image, mask, counts, np.empty((2, 3)), spec(), threads=threads),
    ):
        try:
            call()
        except (ValueError, TypeError):
            pass


@given(
    dtype=st.sampled_from(["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]),
    shape=st.lists(st.integers(-1, 4), min_size=0, max_size=3),
    pad=st.integers(-1, 3),
    offsets=st.lists(st.integers(-60, 60), max_size=6),
    shell_start=st.lists(st.integers(-1, 7), max_size=4),
    padded_pixels=st.integers(0, 400),
    threads=st.integers(-1, 3),
)
def test_fuzz_the_exact_order_binding(dtype, shape, pad, offsets, shell_start, padded_pixels, threads):
    """Any plan is either refused or stays inside the padded image: no crash."""
    padded = (np.arange(2 * padded_pixels) % 7).astype(dtype).reshape(2, padded_pixels)
    pixels = int(np.prod(shape)) if shape and min(shape) > 0 else 1
    try:
        core.exact_order(
            padded,
            np.empty((2, pixels), np.int64),
            np.empty(2, np.int64),
            np.array(shape, np.int64),
            pad,
            np.array(offsets, np.int64),
            np.array(shell_start, np.int64),
            threads=threads,
        )
    except (ValueError, TypeError):
        pass


@given(
    dtype=st.sampled_from(["float32", "float64"]),
    lo=_wild,
    hi=_wild,
    nbins=st.integers(-1, 40),
    level=_wild,
    threads=st.integers(-1, 3),
    starts=st.lists(st.floats(-2, 42) | st.just(np.nan), max_size=50),
    offset=st.integers(-2, 60),
)
def test_fuzz_the_map_pieces_binding(dtype, lo, hi, nbins, level, threads, starts, offset):
    """Any pieces are either refused or stay in bounds: no crash."""
    image = np.array([[0, 1, -1, np.nan, np.inf, -np.inf, 1e30, 3.5]], dtype=dtype)
    for start in (
        np.arange(max(nbins, 0) + 1.0),
        np.sort(np.array(starts, dtype=np.float64)),
        np.array(starts, dtype=np.float64),
    ):
        levels = np.full(start.size, level)
        for offsets in (np.array([0, start.size]), np.array([0, offset])):
            try:
                core.map_pieces(
                    image,
                    np.empty_like(image),
                    np.array([[lo, hi]]),
                    nbins=nbins,
                    offsets=offsets.astype(np.int64),
                    start=start,
                    level=levels,
                    slope=levels.copy(),
                    threads=threads,
                )
            except ValueError:
                pass


@given(
    dtype=st.sampled_from(["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]),
    tiles=st.lists(st.integers(-1, 4), min_size=0, max_size=3),
    lower=st.lists(st.integers(-2, 5), max_size=12),
    nbins=st.integers(-1, 300),
    ranges=st.tuples(_wild, _wild),
    table_rows=st.integers(0, 5),
    threads=st.integers(-1, 3),
    groups=st.integers(-1, 300),
)
def test_fuzz_the_chunked_clahe_bindings(dtype, tiles, lower, nbins, ranges, table_rows, threads, groups):
    """Any tile plan or table shape is either refused or stays in bounds: no crash."""
    image = (np.arange(12) % 5).astype(dtype).reshape(1, 12)
    lo, hi = ranges
    width = max(nbins, 0)
    table_dtype = np.float64 if image.dtype.kind == "f" else image.dtype
    lut = np.zeros((table_rows, width), dtype=table_dtype)
    level = np.zeros((table_rows, width + 1))
    identity = np.zeros(table_rows, np.uint8)
    hists = np.ones((table_rows, width), np.int64)

    def spec():
        return core.Spec(nbins, False, lo, hi, 0, 255, 0, 255)

    def plan():
        return core.TilePlan(
            np.array([3, 4], np.int64),
            np.array(tiles, np.int64),
            None,
            np.array(lower, np.int32),
            np.ones(len(lower)),
            np.ones(len(lower)),
            1.0,
        )

    for call in (
        lambda: core.clahe_float_maps(hists, identity, level, level.copy(), spec(), 2.0, groups),
        lambda: core.clahe_tables(hists, identity, lut, spec(), 2.0, groups),
        lambda: core.clahe_chunk(
            image,
            np.empty_like(image),
            plan(),
            spec(),
            identity,
            None if image.dtype.kind == "f" else lut.astype(image.dtype),
            level if image.dtype.kind == "f" else None,
            level.copy() if image.dtype.kind == "f" else None,
            threads=threads,
        ),
    ):
        try:
            call()
        except (ValueError, TypeError):
            pass


@given(
    dtype=st.sampled_from(["uint8", "uint16"]),
    sizes=st.tuples(st.integers(-1, 12), st.integers(-1, 12)),
    tiles=st.tuples(st.integers(-1, 13), st.integers(-1, 13)),
    tile=st.tuples(st.integers(-1, 14), st.integers(-1, 14)),
    limit=st.integers(-2, 100),
    threads=st.integers(-1, 3),
)
def test_fuzz_the_opencv_clahe_binding(dtype, sizes, tiles, tile, limit, threads):
    """Any plan is either refused or stays in bounds: no crash."""
    image = (np.arange(2 * 60) % 200).astype(dtype).reshape(2, 60)
    try:
        core.clahe_opencv(
            image,
            np.empty_like(image),
            height=sizes[0],
            width=sizes[1],
            tiles_y=tiles[0],
            tiles_x=tiles[1],
            tile_h=tile[0],
            tile_w=tile[1],
            limit=limit,
            threads=threads,
        )
    except ValueError:
        pass
