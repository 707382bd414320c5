"""Every array type in, the same type out (histeq._arrays): PyTorch tensors, xarray DataArrays (NumPy- and
Dask-backed), DLPack-only objects; GPU inputs refused clearly.  Values equal the NumPy path bit for bit."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import histeq

xr = pytest.importorskip("xarray")
try:  # the README's test extras leave PyTorch out (gigabytes); CI's test-full has it
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs PyTorch: pip install '.[test-full]'")

RNG = np.random.default_rng(7)
GREY = RNG.integers(20, 200, (2, 3, 24, 30), dtype=np.uint8)
REFERENCE = RNG.integers(0, 256, (24, 30), dtype=np.uint8)
WEIGHTS = [1.0, 3.0, 2.0]

# Every public function, with its NumPy call: (name, call(image), its arrays' results).
CALLS = {
    "equalize": lambda x: histeq.equalize(x, axes=(-2, -1)),
    "equalize exact": lambda x: histeq.equalize(x, axes=(-2, -1), exact=True, return_ties=True),
    "clahe": lambda x: histeq.clahe(x, axes=(-2, -1), tiles=3, clip_limit=2.0),
    "match": lambda x: histeq.match(x, REFERENCE, axes=(-2, -1)),
    "specify": lambda x: histeq.specify(x, WEIGHTS, axes=(-2, -1)),
    "histogram": lambda x: histeq.histogram(x, axes=(-2, -1)),
    "cumulative_distribution": lambda x: histeq.cumulative_distribution(x, axes=(-2, -1)),
    "fit_equalize.apply": lambda x: histeq.fit_equalize(GREY[0, 0]).apply(x),
    "fit_clahe.apply": lambda x: histeq.fit_clahe(GREY[0, 0], tiles=3).apply(x),  # on the image it was fitted on
    "fit_match.apply": lambda x: histeq.fit_match(GREY[0, 0], REFERENCE).apply(x),
    "fit_specify.apply": lambda x: histeq.fit_specify(GREY[0, 0], WEIGHTS).apply(x),
}


def _input(name):
    return GREY[0, 0] if name == "fit_clahe.apply" else GREY


def _parts(result):
    return result if isinstance(result, tuple) else (result,)


@needs_torch
@pytest.mark.parametrize("name", CALLS)
def test_a_tensor_in_gives_tensors_out_equal_to_numpy(name):
    expected = _parts(CALLS[name](_input(name)))
    got = _parts(CALLS[name](torch.from_numpy(_input(name))))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        if isinstance(e, np.ndarray):
            assert isinstance(g, torch.Tensor) and g.device.type == "cpu"
            assert g.dtype == torch.from_numpy(e).dtype
            np.testing.assert_array_equal(g.numpy(), e)
        else:
            assert g == e


@needs_torch
@pytest.mark.parametrize(
    "name", ["uint8", "int8", "int16", "uint16", "int32", "int64", "float16", "float32", "float64"]
)
def test_every_dtype_keeps_its_dtype(name):
    dtype = getattr(torch, name)
    values = torch.from_numpy(GREY.astype(np.int64)).to(dtype)
    if dtype.is_floating_point:
        values = values / 255
    for function in (histeq.equalize, histeq.clahe):
        out = function(values, axes=(-2, -1))
        assert out.dtype == dtype and out.shape == values.shape
        np.testing.assert_array_equal(out.numpy(), function(values.numpy(), axes=(-2, -1)))


@needs_torch
def test_bfloat16_is_computed_in_float32_and_returned_as_bfloat16():
    values = torch.from_numpy(GREY).to(torch.bfloat16) / 255
    for function in (histeq.equalize, histeq.clahe):
        out = function(values, axes=(-2, -1))
        assert out.dtype == torch.bfloat16
        expected = function(values.float().numpy(), axes=(-2, -1))
        np.testing.assert_array_equal(
            out.float().numpy(), torch.from_numpy(expected).to(torch.bfloat16).float().numpy()
        )


@needs_torch
def test_a_tensor_that_requires_grad_is_computed_detached():
    values = (torch.from_numpy(GREY).float() / 255).requires_grad_()
    out = histeq.equalize(values, axes=(-2, -1))
    assert not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), histeq.equalize(GREY.astype(np.float32) / 255, axes=(-2, -1)))


@needs_torch
def test_a_contiguous_cpu_tensor_crosses_without_a_copy():
    from histeq import _arrays

    tensor = torch.from_numpy(GREY.copy())
    door = _arrays.Door("equalize")
    array = door.enter(tensor, "image")
    assert np.shares_memory(array, tensor.numpy())
    out = np.zeros(GREY.shape, np.uint8)
    back = door.leave(out)
    back[0, 0, 0, 0] = 7  # the result is a view of the kernel's output, not a copy
    assert out[0, 0, 0, 0] == 7


@needs_torch
def test_a_tensor_subclass_comes_back_as_itself():
    tv_tensors = pytest.importorskip("torchvision.tv_tensors")
    image = tv_tensors.Image(torch.from_numpy(GREY[0]))
    for out in (histeq.equalize(image, axes=(-2, -1)), histeq.clahe(image, axes=(-2, -1), tiles=3)):
        assert type(out) is tv_tensors.Image


@needs_torch
def test_gpu_inputs_get_a_clear_error_and_no_copy():
    with pytest.raises(TypeError, match=r"histeq.equalize: got meta tensors.*CPU only"):
        histeq.equalize(torch.zeros(4, 4, device="meta"))

    class CudaArray:  # what CuPy arrays and Numba device arrays expose
        __cuda_array_interface__ = {"shape": (4, 4), "typestr": "|u1", "data": (0, False), "version": 3}

        def __dlpack__(self, **kwargs):
            raise AssertionError("a GPU array must not be read")

    with pytest.raises(TypeError, match=r"histeq.clahe: got .*GPU arrays"):
        histeq.clahe(CudaArray())

    class OnDevice:
        def __dlpack__(self, **kwargs):
            raise AssertionError("a device array must not be read")

        def __dlpack_device__(self):
            return (2, 0)  # kDLCUDA

    with pytest.raises(TypeError, match=r"histeq.EqualizeMapping.apply: got DLPack arrays on device type 2"):
        histeq.fit_equalize(GREY[0, 0]).apply(OnDevice())


class OnlyDLPack:
    """An array known only by the DLPack protocol."""

    def __init__(self, array):
        self.array = array

    def __dlpack__(self, **kwargs):
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()


@pytest.mark.parametrize("name", CALLS)
def test_a_dlpack_only_object_is_read_and_gives_numpy(name):
    expected = _parts(CALLS[name](_input(name)))
    got = _parts(CALLS[name](OnlyDLPack(_input(name))))
    for g, e in zip(got, expected):
        if isinstance(e, np.ndarray):
            assert type(g) is np.ndarray
            np.testing.assert_array_equal(g, e)


def _data_array(values, lazy=False):
    if lazy:
        import dask.array as da

        values = da.from_array(values, chunks=(1, 3, 12, 30))
    return xr.DataArray(
        values,
        dims=("time", "band", "y", "x"),
        name="scene",
        attrs={"units": "DN"},
        coords={"time": [10, 20], "band": ["r", "g", "b"], "y": np.arange(24) * 0.5},
    )


@pytest.mark.parametrize(
    "name", ["equalize", "clahe", "match", "specify", "fit_equalize.apply", "fit_match.apply", "fit_specify.apply"]
)
def test_a_data_array_in_gives_a_data_array_with_its_coordinates(name):
    scene = _data_array(GREY)
    out = CALLS[name](scene)
    assert isinstance(out, xr.DataArray)
    assert out.dims == scene.dims and out.name == "scene" and out.attrs == {"units": "DN"}
    for coordinate in scene.coords:
        np.testing.assert_array_equal(out[coordinate].values, scene[coordinate].values)
    np.testing.assert_array_equal(out.values, CALLS[name](GREY))


def test_a_data_array_takes_dimension_names():
    scene = _data_array(GREY)
    np.testing.assert_array_equal(histeq.equalize(scene, axes=("y", "x")).values, histeq.equalize(GREY, axes=(2, 3)))
    rgb = scene.transpose("time", "y", "x", "band")
    out = histeq.clahe(rgb, axes=("y", "x"), channel_axis="band", color="lightness", tiles=3)
    assert out.dims == ("time", "y", "x", "band")
    np.testing.assert_array_equal(
        out.values, histeq.clahe(rgb.values, axes=(1, 2), channel_axis=3, color="lightness", tiles=3)
    )
    with pytest.raises(ValueError, match="no dimension 'z'"):
        histeq.equalize(scene, axes=("z", "x"))


@needs_torch
def test_masks_and_references_of_other_types():
    mask = GREY[0, 0] > 90
    expected = histeq.equalize(GREY, axes=(2, 3), mask=mask)
    np.testing.assert_array_equal(
        histeq.equalize(torch.from_numpy(GREY), axes=(2, 3), mask=torch.from_numpy(mask)).numpy(), expected
    )
    scene = _data_array(GREY)
    transposed = xr.DataArray(mask.T, dims=("x", "y"))  # matched to the image's dimensions by name
    np.testing.assert_array_equal(histeq.equalize(scene, axes=("y", "x"), mask=transposed).values, expected)
    np.testing.assert_array_equal(
        histeq.match(GREY, torch.from_numpy(REFERENCE), axes=(2, 3)), histeq.match(GREY, REFERENCE, axes=(2, 3))
    )


def test_a_dask_backed_data_array_stays_lazy():
    import dask.array as da

    scene = _data_array(GREY, lazy=True)
    for out, expected in (
        (histeq.equalize(scene, axes=("y", "x")), histeq.equalize(GREY, axes=(2, 3))),
        (histeq.clahe(scene, axes=("y", "x"), tiles=3), histeq.clahe(GREY, axes=(2, 3), tiles=3)),
    ):
        assert isinstance(out, xr.DataArray) and isinstance(out.data, da.Array)
        np.testing.assert_array_equal(out.values, expected)


def test_histograms_of_a_data_array_are_plain_arrays():
    counts, edges = histeq.histogram(_data_array(GREY), axes=("y", "x"))
    expected_counts, expected_edges = histeq.histogram(GREY, axes=(2, 3))
    assert type(counts) is np.ndarray
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_array_equal(edges, expected_edges)


@needs_torch
@needs_torch
@settings(max_examples=25, deadline=None)
@given(
    dtype=st.sampled_from(["uint8", "uint16", "int16", "float32"]),
    batch=st.integers(1, 3),
    height=st.integers(2, 19),
    width=st.integers(2, 23),
    tiles=st.integers(1, 4),
    seed=st.integers(0, 9),
)
def test_tensors_equal_numpy_for_any_shape(dtype, batch, height, width, tiles, seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 1000, (batch, height, width)).astype(dtype)
    tiles = (min(tiles, height), min(tiles, width))
    for function, kwargs in ((histeq.equalize, {}), (histeq.clahe, {"tiles": tiles})):
        expected = function(image, axes=(1, 2), **kwargs)
        np.testing.assert_array_equal(function(torch.from_numpy(image), axes=(1, 2), **kwargs).numpy(), expected)


def test_importing_histeq_imports_no_array_library():
    code = (
        "import sys, histeq, histeq.io, histeq._chunks\n"
        "libraries = ('torch', 'xarray', 'cupy', 'albumentations', 'torchvision', 'monai')\n"
        "print(sorted(m for m in libraries if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


@needs_torch
def test_results_are_typed_by_what_they_are_not_by_their_shape():
    # A (2, 256) uint8 batch has (2, 256) histograms: counts, not an image, whatever the input's type.
    levels = np.tile(np.arange(256, dtype=np.uint8), (2, 1))
    hidden = np.zeros(levels.shape, bool)
    hidden[0, 0] = True
    counts, edges = histeq.histogram(np.ma.masked_array(levels, hidden), axes=1)
    assert type(counts) is np.ndarray and counts.sum(axis=1).tolist() == [255, 256]
    counts, _ = histeq.histogram(xr.DataArray(levels, dims=("y", "x")), axes=1)
    assert type(counts) is np.ndarray
    from torchvision import tv_tensors

    image = tv_tensors.Image(torch.from_numpy(levels[None]))
    counts, _ = histeq.histogram(image, axes=(1, 2))
    assert type(counts) is torch.Tensor and counts.shape == (1, 256)
    assert type(histeq.equalize(image, axes=(1, 2))) is tv_tensors.Image
    cdf, centres = histeq.cumulative_distribution(
        xr.DataArray(levels.astype(np.float32), dims=("y", "x")), axes=1, nbins=256
    )
    assert type(cdf) is np.ndarray and type(centres) is np.ndarray


def test_a_mask_with_a_dimension_the_image_lacks_is_refused():
    image = xr.DataArray(GREY[0, 0], dims=("y", "x"))
    with pytest.raises(ValueError, match="mask has the dimension 'q', which the image lacks"):
        histeq.equalize(image, mask=xr.DataArray(np.ones(GREY.shape[2:], bool), dims=("y", "q")))
    with pytest.raises(ValueError, match="reference has the dimension 'q'"):
        histeq.match(image, xr.DataArray(REFERENCE, dims=("y", "q")))
    # a reference of dimensions of its own is another image, taken as it is
    other = histeq.match(image, xr.DataArray(REFERENCE[:10], dims=("row", "col")))
    np.testing.assert_array_equal(other.values, histeq.match(GREY[0, 0], REFERENCE[:10]))
    # a mask named by the image's dimensions, in another order, is put in the image's
    mask = RNG.random(GREY.shape[2:]) > 0.5
    transposed = histeq.equalize(image, mask=xr.DataArray(mask.T, dims=("x", "y")))
    np.testing.assert_array_equal(transposed.values, histeq.equalize(GREY[0, 0], mask=mask))


@needs_torch
def test_sparse_quantized_and_unreadable_tensors_get_histeqs_own_error():
    import warnings

    dense = torch.rand(6, 6)
    with warnings.catch_warnings():  # PyTorch deprecates making quantized tensors; users still hold them
        warnings.simplefilter("ignore", UserWarning)
        quantized = torch.quantize_per_tensor(dense, 0.1, 0, torch.quint8)
    for tensor, hint in ((dense.to_sparse(), "to_dense"), (quantized, "dequantize")):
        with pytest.raises(TypeError, match=rf"histeq\.equalize: .*{hint}"):
            histeq.equalize(tensor)
        with pytest.raises(TypeError, match=rf"histeq\.match: .*{hint}"):
            histeq.match(dense, tensor)
    if hasattr(torch, "float8_e4m3fn"):
        with pytest.raises(TypeError, match=r"histeq\.clahe: cannot read a tensor of dtype torch.float8_e4m3fn"):
            histeq.clahe(torch.zeros(8, 8, dtype=torch.float8_e4m3fn))
