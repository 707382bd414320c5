"""The GPU backend's kernels against the CPU core, bit for bit, on each device: CPU tensors under Triton's
interpreter (the kernels' own code, run by NumPy), and CUDA tensors where there is a GPU.

Every test takes the GPU backend (``histeq.backend("gpu")``: CPU tensors too) and compares with the CPU core's
result on NumPy arrays.  Triton decides at import whether it interprets: tests/conftest.py turns the
interpreter on where there is no GPU, before anything imports Triton.
"""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import histeq  # noqa: E402
from histeq.transforms import CLAHE, Equalize, RandomCLAHE  # noqa: E402

# The interpreter runs the kernels' arithmetic in NumPy, which warns where a GPU wraps or overflows silently
# (integer wraparound, float infinities the kernels then handle).
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning:triton.runtime.interpreter")
_DTYPES = (np.uint8, np.int8, np.uint16, np.int16)
_checked = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


_INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"  # tests/conftest.py: where there is no GPU


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    """The device of the tensors, on the GPU backend."""
    if request.param == "cpu" and not _INTERPRETED:
        pytest.skip("CPU tensors run the kernels under Triton's interpreter: TRITON_INTERPRET=1 from the start")
    if request.param == "cuda" and (_INTERPRETED or not torch.cuda.is_available()):
        pytest.skip("needs a CUDA GPU, and Triton without its interpreter")
    with histeq.backend("gpu"):
        yield request.param


def _tensor(device, array):
    return None if array is None else torch.from_numpy(np.ascontiguousarray(array)).to(device)


def _same(device, gpu_result, cpu_result):
    gpu_result = gpu_result if isinstance(gpu_result, tuple) else (gpu_result,)
    cpu_result = cpu_result if isinstance(cpu_result, tuple) else (cpu_result,)
    assert len(gpu_result) == len(cpu_result)
    for got, expected in zip(gpu_result, cpu_result):  # zip(strict=True) is Python >= 3.10
        assert isinstance(got, torch.Tensor) and got.device.type == device, type(got)
        np.testing.assert_array_equal(got.cpu().numpy(), expected, strict=True)  # NaN where NaN


@st.composite
def _cases(draw, max_axes):
    """(images (batch, *spatial), mask or None, spatial axes): any 8/16-bit dtype, narrow or full value ranges
    (one level included), odd sizes, masks per image, shared by the batch, or counting nothing."""
    dtype = draw(st.sampled_from(_DTYPES))
    info = np.iinfo(dtype)
    ndim = draw(st.integers(1, max_axes))
    wide = np.dtype(dtype).itemsize == 2
    spatial = tuple(draw(st.lists(st.integers(1, 9 if ndim >= 3 else 40), min_size=ndim, max_size=ndim)))
    batch = draw(st.integers(1, 2 if wide else 3))
    low = draw(st.integers(int(info.min), int(info.max)))
    high = min(int(info.max), low + draw(st.sampled_from([0, 3, 40, 300, 70000])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    images = rng.integers(low, high + 1, (batch,) + spatial, dtype=dtype)
    kind = draw(st.sampled_from(["none", "per image", "shared", "nothing"]))
    mask = {
        "none": None,
        "per image": rng.random(images.shape) < rng.random(),
        "shared": rng.random(spatial) < 0.5,
        "nothing": np.zeros(spatial, bool),
    }[kind]
    return images, mask, tuple(range(1, ndim + 1))


@_checked
@given(_cases(max_axes=3), st.data())
def test_clahe(device, case, data):
    images, mask, axes = case
    spatial = images.shape[1:]
    budget = 3 if images.dtype.itemsize == 2 else 8  # tiles per axis: 16-bit tables are slow to interpret
    tiles = tuple(data.draw(st.integers(1, min(n, budget))) for n in spatial)
    clip = data.draw(st.one_of(st.none(), st.floats(1, 12), st.sampled_from([1.0, 2.0])))
    got = histeq.clahe(_tensor(device, images), tiles=tiles, clip_limit=clip, mask=_tensor(device, mask), axes=axes)
    _same(device, got, histeq.clahe(images, tiles=tiles, clip_limit=clip, mask=mask, axes=axes))


@_checked
@given(_cases(max_axes=4))
def test_equalize_and_histograms(device, case):
    images, mask, axes = case
    for function in (histeq.equalize, histeq.histogram, histeq.cumulative_distribution):
        _same(
            device,
            function(_tensor(device, images), mask=_tensor(device, mask), axes=axes),
            function(images, mask=mask, axes=axes),
        )


@st.composite
def _float_cases(draw):
    """Float images (batch, *spatial): spreads from tiny to huge, NaN and infinities, one value (the identity
    rescale), masks as in _cases."""
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
    spatial = tuple(draw(st.lists(st.integers(1, 30), min_size=1, max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    offset, spread = draw(st.sampled_from([(0.0, 1.0), (-3.0, 1000.0), (0.25, 1e-3), (5.0, 0.0), (0.0, 6e4)]))
    images = (offset + spread * rng.random((draw(st.integers(1, 3)),) + spatial)).astype(dtype)
    if draw(st.booleans()):  # values on and next to the bins' edges (k (hi - lo) / 4096 + lo), where rounding bites
        lo, hi = np.sort(rng.random(2) * draw(st.sampled_from([1e-3, 10.0, 1e4])) - 5).astype(dtype)
        edges = np.append(np.arange(4096) * ((float(hi) - float(lo)) / 4096) + float(lo), float(hi)).astype(dtype)
        near = np.concatenate([edges, np.nextafter(edges, dtype(-np.inf)), np.nextafter(edges, dtype(np.inf))])
        images = rng.choice(near[(near >= lo) & (near <= hi)], images.shape)
        images.flat[:2] = lo, hi
    for special in draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), max_size=3)):
        images.flat[rng.integers(images.size)] = special
    kind = draw(st.sampled_from(["none", "per image", "shared", "nothing"]))
    mask = {
        "none": None,
        "per image": rng.random(images.shape) < rng.random(),
        "shared": rng.random(spatial) < 0.5,
        "nothing": np.zeros(spatial, bool),
    }[kind]
    return images, mask, tuple(range(1, len(spatial) + 1))


@_checked
@given(_float_cases(), st.data())
def test_floats(device, case, data):
    images, mask, axes = case
    for function in (histeq.equalize, histeq.histogram, histeq.cumulative_distribution):
        _same(
            device,
            function(_tensor(device, images), mask=_tensor(device, mask), axes=axes),
            function(images, mask=mask, axes=axes),
        )
    tiles = tuple(data.draw(st.integers(1, min(n, 5))) for n in images.shape[1:])
    clip = data.draw(st.one_of(st.none(), st.floats(1, 12)))
    _same(
        device,
        histeq.clahe(_tensor(device, images), tiles=tiles, clip_limit=clip, mask=_tensor(device, mask), axes=axes),
        histeq.clahe(images, tiles=tiles, clip_limit=clip, mask=mask, axes=axes),
    )


@_checked
@given(st.integers(0, 2**32 - 1), st.sampled_from(["opencv", "pillow"]), st.booleans())
def test_peers(device, seed, compat, masked):
    """equalize(compat='opencv' / 'pillow') of uint8 batches: the peers' tables (float32 and halves to even;
    integer steps), narrow and wide level ranges, one level."""
    rng = np.random.default_rng(seed)
    low = int(rng.integers(0, 256))
    high = min(255, low + int(rng.choice([0, 2, 30, 255])))
    images = rng.integers(low, high + 1, (int(rng.integers(1, 4)), int(rng.integers(1, 60)), 33), dtype=np.uint8)
    mask = rng.random(images.shape) < 0.6 if masked and compat == "pillow" else None
    _same(
        device,
        histeq.equalize(_tensor(device, images), compat=compat, mask=_tensor(device, mask), axes=(1, 2)),
        histeq.equalize(images, compat=compat, mask=mask, axes=(1, 2)),
    )


@_checked
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from([np.uint8, np.uint16, np.float16, np.float32, np.float64]),
    st.sampled_from(["luma", "value", "per-channel"]),
    st.sampled_from(["first", "last"]),
    st.sampled_from([3, 4]),
    st.booleans(),
    st.booleans(),
)
def test_colour(device, seed, dtype, color, where, channels, masked, adaptive):
    """Colour images, the channel axis before or after the image axes: luma and HSV value equalized as grey
    images and RGB rebuilt around them (alpha kept), or each channel alone."""
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(1, 30)), int(rng.integers(2, 30))
    top = 1.0 if np.dtype(dtype).kind == "f" else np.iinfo(dtype).max
    images = (rng.random((2, height, width, channels)) ** rng.uniform(0.3, 3) * top).astype(dtype)
    images[0, 0, 0, :3] = 0  # a black pixel (value: no hue)
    axes, channel = ((1, 2), 3) if where == "last" else ((2, 3), 1)
    if where == "first":
        images = np.ascontiguousarray(np.moveaxis(images, -1, 1))
    mask = rng.random((2, height, width)) < 0.7 if masked else None
    function = histeq.clahe if adaptive else histeq.equalize
    options = {"tiles": (1, 2)} if adaptive else {}
    _same(
        device,
        function(
            _tensor(device, images), axes=axes, channel_axis=channel, color=color, mask=_tensor(device, mask), **options
        ),
        function(images, axes=axes, channel_axis=channel, color=color, mask=mask, **options),
    )


def test_layouts(device):
    """Image axes anywhere: moved last for the kernels and back; masks broadcast as the CPU path's."""
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (20, 3, 24), dtype=np.uint8)  # (H, N, W)
    for mask in (None, rng.random((20, 1, 24)) < 0.5, rng.random((20, 3, 24)) < 0.5):
        for function, options in (
            (histeq.equalize, {}),
            (histeq.clahe, {"tiles": (2, 3)}),
            (histeq.clahe, {"kernel_size": (5, 3), "spacing": (0.5, 0.25)}),  # regions of 10 x 12 pixels
            (histeq.histogram, {}),
        ):
            _same(
                device,
                function(_tensor(device, images), axes=(0, 2), mask=_tensor(device, mask), **options),
                function(images, axes=(0, 2), mask=mask, **options),
            )


@_checked
@given(st.integers(0, 2**32 - 1), st.sampled_from([np.uint8, np.uint16]), st.data())
def test_opencv_clahe(device, seed, dtype, data):
    """clahe(compat='opencv'): OpenCV's padding, clip, tables and float32 blend, against the CPU path and, for
    8-bit images, cv2 itself."""
    import cv2

    rng = np.random.default_rng(seed)
    height, width = data.draw(st.integers(2, 50)), data.draw(st.integers(2, 50))
    most = 2 if dtype == np.uint16 else 8  # 16-bit tables are slow to interpret
    tiles = (data.draw(st.integers(1, min(height, most))), data.draw(st.integers(1, min(width, most))))
    clip = data.draw(st.sampled_from([0.0, 1.0, 2.0, 3.7, 40.0]))
    top = int(np.iinfo(dtype).max)
    images = (rng.random((2 if dtype == np.uint8 else 1, height, width)) ** rng.uniform(0.3, 3) * top).astype(dtype)
    got = histeq.clahe(_tensor(device, images), compat="opencv", tiles=tiles, clip_limit=clip, axes=(1, 2))
    _same(device, got, histeq.clahe(images, compat="opencv", tiles=tiles, clip_limit=clip, axes=(1, 2)))
    if dtype == np.uint8:
        np.testing.assert_array_equal(got[-1].cpu().numpy(), cv2.createCLAHE(clip, tiles[::-1]).apply(images[-1]))


@_checked
@given(_cases(max_axes=3), st.data())
def test_matching(device, case, data):
    """match onto a reference (one for all, or one per image; 8/16-bit, on the device or in NumPy) and specify
    onto weights or a named distribution, as the CPU path's level tables."""
    images, mask, axes = case
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    ref_dtype = data.draw(st.sampled_from(_DTYPES))
    info = np.iinfo(ref_dtype)
    per_image = data.draw(st.booleans())
    shape = images.shape[:1] + (7, 5) if per_image else (data.draw(st.integers(1, 20)), 6)
    low = int(rng.integers(info.min, info.max))
    reference = rng.integers(low, min(int(info.max), low + 300) + 1, shape, dtype=ref_dtype)
    if per_image and len(axes) != 2:
        reference = reference.reshape(images.shape[:1] + (35,) + (1,) * (len(axes) - 1))
    for ref in (_tensor(device, reference), reference):
        _same(
            device,
            histeq.match(_tensor(device, images), ref, mask=_tensor(device, mask), axes=axes),
            histeq.match(images, reference, mask=mask, axes=axes),
        )
    weights = data.draw(
        st.one_of(
            st.sampled_from(["uniform", "rayleigh", "exponential"]),
            st.lists(st.floats(0, 10), min_size=1, max_size=300).filter(lambda w: max(w) > 0),
        )
    )
    try:
        expected = histeq.specify(images, weights, mask=mask, axes=axes)
    except ValueError:  # more levels than the output range holds: both refuse
        return
    _same(device, histeq.specify(_tensor(device, images), weights, mask=_tensor(device, mask), axes=axes), expected)


def test_one_image_and_transforms(device):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (33, 47), dtype=np.uint8)
    _same(device, histeq.clahe(_tensor(device, image), tiles=(3, 5)), histeq.clahe(image, tiles=(3, 5)))
    _same(device, histeq.equalize(_tensor(device, image)), histeq.equalize(image))
    defaults = {
        "nbins": None,
        "in_range": None,
        "out_range": None,
        "exact": False,
        "return_ties": False,
        "compat": None,
        "color": None,
        "channel_order": "rgb",
        "channel_axis": None,
        "mask": None,
    }
    _same(device, histeq.equalize(_tensor(device, image), **defaults), histeq.equalize(image))
    batch = rng.integers(0, 256, (4, 3, 24, 20), dtype=np.uint8)
    _same(
        device,
        CLAHE(tiles=4, clip_limit=3.0)(_tensor(device, batch)),
        histeq.clahe(batch, tiles=4, clip_limit=3.0, axes=(-2, -1)),
    )
    _same(device, Equalize()(_tensor(device, batch)), histeq.equalize(batch, axes=(-2, -1)))
    _same(
        device,
        CLAHE(tiles=3, color="luma")(_tensor(device, batch)),
        histeq.clahe(batch, tiles=3, axes=(-2, -1), channel_axis=-3, color="luma"),
    )
    on_device, on_host = (
        RandomCLAHE(tiles=(2, 3), p=0.8, generator=torch.Generator().manual_seed(3)) for _ in range(2)
    )
    from skimage import data  # smooth images, whose tables each clip limit changes

    faces = np.stack([data.camera()[k * 60 : k * 60 + 90 : 2, 100:190:2] for k in range(6)])[:, None]
    got = on_device(_tensor(device, faces))
    with histeq.backend("cpu"):  # the CPU path for the expected result, as on a GPU machine
        expected = on_host(torch.from_numpy(faces)).numpy()
    _same(device, got, expected)
    volume = rng.normal(2000, 300, (2, 12, 10, 11)).astype(np.uint16)
    _same(
        device,
        histeq.clahe(_tensor(device, volume), tiles=(2, 3, 2), axes=(1, 2, 3)),
        histeq.clahe(volume, tiles=(2, 3, 2), axes=(1, 2, 3)),
    )


def test_real_images(device):
    """scikit-image's camera, as 8 bits (unsigned and signed) and spread to 16 (each level 257 apart, plus
    noise), 2-D and stacked into a volume: tiles with many pixels per level, where clipping bites."""
    from skimage import data

    camera = data.camera()
    deep = (camera.astype(np.uint16) * 257 + np.random.default_rng(3).integers(0, 257, camera.shape)).astype(np.uint16)
    signed = (camera.astype(np.int16) - 128).astype(np.int8)
    # 8-bit tiles of up to 4096 pixels count in registers, larger ones in memory: both kinds here.
    for image, tiles, clip in (
        (camera[::2, ::2], 8, 2.0),
        (camera[::2, ::3], (5, 7), 3.7),
        (signed, (3, 4), 2.5),
        (deep[::2, ::2], 4, 2.0),
        (deep[:100, 100:300], (3, 5), 1.3),
    ):
        _same(
            device,
            histeq.clahe(_tensor(device, image), tiles=tiles, clip_limit=clip),
            histeq.clahe(image, tiles=tiles, clip_limit=clip),
        )
    _same(device, histeq.equalize(_tensor(device, signed)), histeq.equalize(signed))
    for compat in ("opencv", "pillow"):
        _same(device, histeq.equalize(_tensor(device, camera), compat=compat), histeq.equalize(camera, compat=compat))
    _same(
        device, histeq.match(_tensor(device, camera), _tensor(device, data.moon())), histeq.match(camera, data.moon())
    )
    _same(device, histeq.specify(_tensor(device, deep), "rayleigh"), histeq.specify(deep, "rayleigh"))
    for image in (camera[::2, ::2] / np.float32(255), camera[100:300:2, 50:450].astype(np.float64) * 3 - 1):
        _same(
            device,
            histeq.clahe(_tensor(device, image), tiles=(4, 6), clip_limit=2.0),
            histeq.clahe(image, tiles=(4, 6)),
        )
    volume = np.stack([deep[k * 8 : k * 8 + 32, 200:264] for k in range(12)])
    _same(device, histeq.clahe(_tensor(device, volume), tiles=(2, 3, 2)), histeq.clahe(volume, tiles=(2, 3, 2)))


def test_batches_in_passes(device):
    """A batch whose tile buffers (CLAHE) or levels (float equalize) pass the device budget is taken a part at
    a time: the same results."""
    from histeq._backends.gpu import clahe as _gpu_clahe

    rng = np.random.default_rng(11)
    budget = _gpu_clahe.PASS_BYTES
    _gpu_clahe.PASS_BYTES = 1  # one image a pass
    try:
        for images in (
            rng.normal(3000, 300, (2, 20, 24)).astype(np.uint16),
            rng.random((3, 20, 24)).astype(np.float32),
        ):
            for mask in (rng.random(images.shape) < 0.5, rng.random(images.shape[1:]) < 0.5):
                for function, options in ((histeq.clahe, {"tiles": 3}), (histeq.equalize, {})):
                    _same(
                        device,
                        function(_tensor(device, images), mask=_tensor(device, mask), axes=(1, 2), **options),
                        function(images, mask=mask, axes=(1, 2), **options),
                    )
    finally:
        _gpu_clahe.PASS_BYTES = budget


def test_refusals(device):
    image = _tensor(device, np.zeros((2, 8, 8), np.uint8))
    for call, error, words in (
        (lambda: histeq.equalize(image, compat="opencv", mask=image > 0), ValueError, "mask"),
        (lambda: histeq.equalize(image.to(torch.int16), compat="pillow"), TypeError, "uint8"),
        (lambda: histeq.equalize(image, compat="gimp"), ValueError, "compat"),
    ):
        try:
            call()
        except error as exc:
            assert words in str(exc), exc
        else:
            raise AssertionError("a compat call the CPU path refuses was taken")
    for call in (lambda: histeq.clahe(image, tiles=9, axes=(1, 2)), lambda: histeq.clahe(image, tiles=(2, 2))):
        try:
            call()
        except ValueError as exc:
            assert "tiles" in str(exc), exc
        else:
            raise AssertionError("tiles beyond the axis length were taken")
    too_wide = _tensor(device, np.array([[1.7e308, -1.7e308, 0.5]]))
    try:
        histeq.equalize(too_wide)
    except ValueError as exc:
        assert "too wide for finite bins" in str(exc), exc
    else:
        raise AssertionError("a range too wide for finite bins was taken")
    try:
        histeq.clahe(image, clip_limit=0.5, axes=(1, 2))
    except ValueError as exc:
        assert "clip_limit" in str(exc), exc
    else:
        raise AssertionError("a clip limit below 1 was taken")


def test_defaults_have_one_owner(device):
    """A default changed in a public function's signature is the GPU path's default too: the signature is the
    only home of the defaults (clahe's tiles and clip limit, specify's alpha)."""
    from skimage import data

    image = data.camera()[:120, :150]
    clahe, specify = histeq.clahe, histeq.specify
    saved = clahe.__kwdefaults__.copy(), specify.__kwdefaults__.copy()
    clahe.__kwdefaults__.update(tiles=(3, 5), clip_limit=3.5)
    specify.__kwdefaults__.update(alpha=0.9)
    try:
        got = histeq.clahe(_tensor(device, image)), histeq.specify(_tensor(device, image), "rayleigh")
    finally:
        clahe.__kwdefaults__, specify.__kwdefaults__ = saved
    _same(device, got[0], histeq.clahe(image, tiles=(3, 5), clip_limit=3.5))
    _same(device, got[1], histeq.specify(image, "rayleigh", alpha=0.9))
    assert not np.array_equal(got[0].cpu().numpy(), histeq.clahe(image))  # the changed defaults made a difference
