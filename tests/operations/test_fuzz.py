"""The fuzz harness of every public function: any input, any arguments.

The oracle, for every call: a clear TypeError or ValueError (a message of its own, never the bindings'
"incompatible function arguments"), or a result of the right type, shape and dtype; the caller's arrays
untouched; no other exception, no warning (warnings are errors), no hang; and for the fit_* functions,
``fit_*(x).apply(x) == f(x)``.

    pytest tests/operations/test_fuzz.py                                    # CI: a few dozen examples per function
    HISTEQ_FUZZ_EXAMPLES=3000 pytest tests/operations/test_fuzz.py -s       # the thorough run, with its table
    tools/sanitize.sh                                            # the same against an ASan + UBSan build
"""

import collections
import os
import signal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import histeq

EXAMPLES = int(os.environ.get("HISTEQ_FUZZ_EXAMPLES", "40"))
SECONDS = 60  # a call that takes longer has hung
TALLY: dict = collections.defaultdict(collections.Counter)

DTYPES = [
    "uint8",
    "int8",
    "uint16",
    "int16",
    "uint32",
    "int32",
    "int64",
    "uint64",
    "float16",
    "float32",
    "float64",
    "bool",
    "complex64",
    "object",
]


@st.composite
def images(draw, sane=False, dtype=None):
    """Arrays of every dtype (supported or not), byte order, layout and degenerate shape, with NaN and inf;
    ``sane``: of a supported dtype and not empty; ``dtype``: of that dtype."""
    dtype = np.dtype(dtype or draw(st.sampled_from(DTYPES[:10] if sane else DTYPES)))
    shape = draw(
        hnp.array_shapes(min_dims=1 if sane else 0, max_dims=3 if sane else 4, min_side=1 if sane else 0, max_side=7)
    )
    if dtype.kind == "O":
        return np.empty(shape, dtype)
    if dtype.kind == "f":
        elements = st.floats(width=dtype.itemsize * 8, allow_nan=True, allow_infinity=True) | st.sampled_from(
            [0.0, 0.5, 1.0]
        )
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max)) | st.integers(0, 5)
        if draw(st.booleans()):  # a few levels near zero, as every width holds them
            elements = st.integers(max(int(info.min), -40), 40)
    elif dtype.kind == "c":
        elements = st.complex_numbers(max_magnitude=10, width=64)
    else:
        elements = st.booleans()
    array = draw(hnp.arrays(dtype, shape, elements=elements))
    layout = draw(st.sampled_from(["c", "swapped", "fortran", "strided", "read-only", "unaligned", "masked"]))
    if layout == "swapped" and array.dtype.itemsize > 1:
        array = array.astype(array.dtype.newbyteorder("S"))
    elif layout == "fortran":
        array = np.asfortranarray(array)
    elif layout == "strided" and array.ndim:
        array = np.repeat(array, 2, axis=-1)[..., ::2]
    elif layout == "read-only":
        array.flags.writeable = False
    elif layout == "unaligned" and array.size and array.dtype.itemsize > 1:
        buffer = np.zeros(array.nbytes + 1, np.uint8)
        view = np.frombuffer(buffer.data, array.dtype, array.size, 1).reshape(array.shape)
        view[...] = array
        array = view
    elif layout == "masked":  # numpy.ma: its mask joins mask=, and image results come back masked alike
        array = np.ma.masked_array(array, mask=draw(hnp.arrays(np.bool_, array.shape)))
    return array


def _maybe(draw, strategy):
    return draw(st.none() | strategy)


@st.composite
def sane_arguments(draw, image):
    """Arguments every method takes, as a user would pass them (mostly valid)."""
    kwargs = {}
    colour = image.ndim >= 2 and image.shape[-1] in (3, 4) and draw(st.booleans())
    if colour:
        kwargs["channel_axis"] = -1
    grey_shape = image.shape[:-1] if colour else image.shape
    if draw(st.booleans()):
        kwargs["mask"] = draw(hnp.arrays(np.bool_, grey_shape))
    if len(grey_shape) > 1 and draw(st.booleans()):
        kwargs["axes"] = tuple(range(len(grey_shape)))[-draw(st.integers(1, len(grey_shape))) :]
    info = np.iinfo(image.dtype) if image.dtype.kind in "iu" else None
    for name in ("in_range", "out_range"):
        if draw(st.integers(0, 3)) == 0:
            lo = draw(st.integers(int(info.min), int(info.max) - 1)) if info else draw(st.floats(-10, 9))
            hi = draw(st.integers(lo + 1, int(info.max))) if info else lo + draw(st.floats(0.01, 10))
            kwargs[name] = (lo, hi)
    if draw(st.integers(0, 3)) == 0:
        kwargs["nbins"] = draw(st.integers(2, 300))
    if draw(st.integers(0, 3)) == 0:
        kwargs["threads"] = draw(st.integers(1, 3))
    return kwargs


@st.composite
def common_arguments(draw, image):
    """Arguments every method takes, valid or not."""
    ndim = max(image.ndim, 1)
    kwargs = {}
    if draw(st.booleans()):
        kwargs["mask"] = draw(
            st.one_of(
                hnp.arrays(np.bool_, image.shape),
                st.just(np.ones((2, 3), bool)),
                st.just(np.ones(image.shape, np.uint8)),
                st.just(False),
            )
        )
    if draw(st.booleans()):
        kwargs["axes"] = draw(
            st.one_of(st.integers(-ndim - 1, ndim), st.lists(st.integers(-ndim, ndim - 1), max_size=3))
        )
    if draw(st.booleans()):
        kwargs["channel_axis"] = draw(st.integers(-ndim - 1, ndim))
    for name in ("in_range", "out_range"):
        if draw(st.integers(0, 3)) == 0:
            number = st.floats(-1e6, 1e6) | st.integers(-70000, 70000) | st.sampled_from([np.nan, np.inf, 5e-324])
            kwargs[name] = draw(st.tuples(number, number))
    if draw(st.integers(0, 3)) == 0:
        kwargs["nbins"] = draw(st.integers(-1, 300) | st.sampled_from([2**24, 2**24 + 1, 2.5]))
    if draw(st.integers(0, 5)) == 0:
        kwargs["threads"] = draw(st.integers(-1, 4) | st.sampled_from([2**31, 2**40]))
    return kwargs


NAMES = [
    "equalize",
    "clahe",
    "match",
    "specify",
    "histogram",
    "cumulative_distribution",
    "fit_equalize",
    "fit_clahe",
    "fit_match",
    "fit_specify",
]


@st.composite
def calls(draw, name):
    """(name, image, keyword arguments) of a call of ``histeq.<name>``: half of them as a user would make it
    (mostly valid), half anything."""
    sane = draw(st.booleans())
    image = draw(images(sane))
    kwargs = draw(sane_arguments(image) if sane else common_arguments(image))
    base = name.removeprefix("fit_")
    if base in ("equalize", "clahe") and draw(st.integers(0, 3)) == 0:
        if not sane:
            kwargs["compat"] = draw(st.sampled_from(["opencv", "pillow", "skimage", "matlab"]))
        elif image.dtype in (np.uint8, np.uint16) and not {"mask", "in_range", "out_range", "nbins"} & set(kwargs):
            kwargs["compat"] = "opencv" if base == "clahe" else draw(st.sampled_from(["opencv", "pillow", "skimage"]))
    if base in ("equalize", "clahe", "match", "specify") and draw(st.integers(0, 3)) == 0:
        if not sane:
            kwargs["color"] = draw(st.sampled_from(["lightness", "luma", "value", "per-channel", "hsl"]))
        elif "channel_axis" in kwargs and "compat" not in kwargs:
            kwargs["color"] = draw(st.sampled_from(["lightness", "luma", "value", "per-channel"]))
    if base in ("equalize", "match", "specify") and draw(st.integers(0, 3)) == 0:
        kwargs["exact"] = True
    if base == "clahe" and sane:
        kwargs["tiles"] = draw(st.integers(1, min(image.shape)))
        kwargs["clip_limit"] = draw(st.none() | st.floats(1, 10))
    elif base == "clahe":
        kwargs["tiles"] = draw(st.integers(-1, 9) | st.lists(st.integers(0, 8), max_size=4))
        kwargs["clip_limit"] = draw(st.none() | st.floats(allow_nan=True, allow_infinity=True))
    if base == "match":
        same = sane and draw(st.booleans())  # of the image's dtype: its values compared as they are
        kwargs["reference"] = draw(images(sane, dtype=image.dtype.newbyteorder("=") if same else None))
    if base == "specify" and sane:
        kwargs["histogram"] = draw(
            st.sampled_from(["uniform", "rayleigh", "exponential"]) | st.lists(st.floats(0, 10), min_size=1, max_size=6)
        )
        kwargs["alpha"] = draw(st.floats(0.05, 5))
    elif base == "specify":
        kwargs["histogram"] = draw(
            st.sampled_from(["uniform", "rayleigh", "exponential", "cauchy"])
            | st.lists(st.floats(0, 1e308) | st.sampled_from([np.nan, -1.0]), max_size=6)
        )
        kwargs["alpha"] = draw(st.floats(1e-300, 1e300) | st.sampled_from([0.0, -1.0, np.nan]))
    allowed = {
        "fit_equalize": ("nbins", "mask", "in_range", "out_range", "threads"),
        "fit_clahe": ("tiles", "clip_limit", "nbins", "mask", "in_range", "out_range", "threads"),
        "fit_match": ("reference", "mask", "nbins", "threads"),
        "fit_specify": ("histogram", "mask", "nbins", "out_range", "alpha", "threads"),
        "histogram": ("nbins", "mask", "axes", "channel_axis", "in_range", "threads"),
        "cumulative_distribution": ("nbins", "mask", "axes", "channel_axis", "in_range", "threads"),
    }
    if name in allowed:
        kwargs = {k: v for k, v in kwargs.items() if k in allowed[name]}
    if "exact" in kwargs:
        for irrelevant in ("nbins", "in_range"):
            kwargs.pop(irrelevant, None)
    return name, image, kwargs


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _same(a, b):
    if isinstance(a, np.ma.MaskedArray):
        return _same(np.ma.getdata(a), np.ma.getdata(b)) and _same(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
    if isinstance(a, np.ndarray):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and (a.dtype.kind == "O" or np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        )
    return a is b or a == b


def _integer_levels(array, bound=2048):
    """Whether ``array`` holds integers (any width) inside [-bound, bound): values int16 holds, spanning fewer
    levels than matching's default bins, so that every width matches them level by level."""
    return (
        isinstance(array, np.ndarray)
        and array.dtype.kind in "iu"
        and array.size > 0
        and -bound <= int(array.min())
        and int(array.max()) < bound
    )


def _computed_as(dtype):
    """The dtype histeq computes an array of ``dtype`` in: native byte order, 64-bit integers as 32-bit ones."""
    dtype = dtype.newbyteorder("=")
    return {np.dtype(np.int64): np.dtype(np.int32), np.dtype(np.uint64): np.dtype(np.uint32)}.get(dtype, dtype)


def _check_integer_widths(image, kwargs, out):
    """match of integers: the same values at another width give the same result (as int16 here), the image and
    the reference of one dtype (of another, the reference is scaled between the dtypes' ranges)."""
    reference = kwargs["reference"]
    levels = _integer_levels(np.ma.getdata(image)) and _integer_levels(np.ma.getdata(reference))
    if (
        not levels
        or _computed_as(image.dtype) != _computed_as(reference.dtype)
        or "nbins" in kwargs
        or "compat" in kwargs
        or kwargs.get("color") not in (None, "per-channel")
    ):
        return
    narrow = dict(kwargs, reference=reference.astype(np.int16))
    expected = histeq.match(image.astype(np.int16), **narrow)
    expected = expected[0] if isinstance(expected, tuple) else expected
    np.testing.assert_array_equal(np.asarray(out).astype(np.int64), np.asarray(expected).astype(np.int64))


def _check_discrete_reference(image, kwargs, out):
    """match of floats onto a reference of a few values, far apart against its bins: outputs among those values
    (NaN stays NaN; an image with nothing counted is left as it is)."""
    reference = kwargs["reference"]
    # one image (a batch's images with nothing counted would be left as they are)
    if (
        np.ma.isMaskedArray(reference)
        or reference.dtype.kind != "f"
        or image.dtype.kind != "f"
        or kwargs.get("color") not in (None, "per-channel")
        or kwargs.get("channel_axis") is not None
        or kwargs.get("axes") is not None
    ):
        return
    values = np.unique(reference[np.isfinite(reference)].astype(np.float64))
    bins = kwargs.get("nbins", 4096)
    if not 2 <= values.size <= 4 or not np.all(np.diff(values) > 2 * (values[-1] - values[0]) / bins):
        return
    data = np.ma.getdata(out)
    counted = np.isfinite(np.ma.getdata(image)) & ~np.ma.getmaskarray(image)
    if "mask" in kwargs:
        counted &= np.broadcast_to(kwargs["mask"], image.shape)
    if not counted.any():
        return
    allowed = set(values.astype(image.dtype).tolist())
    assert set(data[~np.isnan(data)].tolist()) <= allowed, f"match left the reference's values {sorted(allowed)}"


def _check_result(name, image, kwargs, result):
    """The result's type, shape and dtype; fit_*(x).apply(x) == f(x)."""
    if name in ("histogram", "cumulative_distribution"):
        first, second = result
        # plain arrays, whatever the image's type and shape: a histogram is not an image
        assert type(first) is np.ndarray and type(second) is np.ndarray
        assert first.dtype == (np.int64 if name == "histogram" else np.float64) and second.dtype == np.float64
        if name == "histogram" and image.dtype.kind in "iu":  # integer data: no bin narrower than one level
            assert np.all(np.diff(second, axis=-1) >= 1 - 1e-9 * np.abs(second[..., 1:]).max(initial=1))
        return
    if name.startswith("fit_"):
        applied = result.apply(image)
        call_kwargs = {k: v for k, v in kwargs.items() if k != "threads"}
        expected = getattr(histeq, name.removeprefix("fit_"))(image, **call_kwargs)
        assert applied.shape == expected.shape and applied.dtype.newbyteorder("=") == expected.dtype.newbyteorder("=")
        np.testing.assert_array_equal(applied, expected)
        return
    out = result[0] if kwargs.get("exact") and isinstance(result, tuple) else result
    assert isinstance(out, np.ndarray) and out.shape == image.shape
    assert np.ma.isMaskedArray(out) == np.ma.isMaskedArray(image)
    if kwargs.get("compat") != "skimage":
        assert out.dtype.newbyteorder("=") == image.dtype.newbyteorder("=")
    if name == "match":
        _check_integer_widths(image, kwargs, out)
        _check_discrete_reference(image, kwargs, out)


class _Hung(Exception):
    pass


def _alarm(signum, frame):
    raise _Hung()


@pytest.mark.parametrize("function", NAMES)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_fuzz_public_functions(function, data):
    name, image, kwargs = data.draw(calls(function))
    before = {key: _copy(value) for key, value in [("image", image), *kwargs.items()]}
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS)
    try:
        result = getattr(histeq, name)(image, **kwargs)
    except (TypeError, ValueError) as exc:
        message = str(exc)
        assert message and "incompatible function arguments" not in message, f"{name}: unclear error {exc!r}"
        TALLY[name]["refused"] += 1
    except _Hung:
        pytest.fail(f"{name} hung on {image.dtype} {image.shape} {kwargs}")
    else:
        _check_result(name, image, kwargs, result)
        TALLY[name]["ran"] += 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    for key, value in [("image", image), *kwargs.items()]:
        assert _same(value, before[key]), f"{name} modified its {key}"


def teardown_module(module):
    """The harness's table (shown with -s)."""
    if not TALLY:
        return
    rows = [
        f"| {name} | {c['ran'] + c['refused']} | {c['ran']} | {c['refused']} | 0 |" for name, c in sorted(TALLY.items())
    ]
    print("\n\n| function | calls | results | clear errors | failures |\n|---|---|---|---|---|\n" + "\n".join(rows))
