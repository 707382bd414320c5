"""One way through: every public call goes request -> dispatch -> backend, and its defaults live in its signature."""

import inspect

import numpy as np
import pytest
from skimage import data

import histeq
from histeq._backends.gpu.coverage import FUNCTIONS, NEUTRAL

_IMAGE = data.camera()[:96, :128]


def _backends(image):
    """The same image as each backend takes it: (name, array, to NumPy)."""
    import dask.array as da

    cases = [
        ("the CPU backend's fast case", image, np.asarray),
        ("the CPU backend", np.ma.masked_array(image), np.ma.getdata),  # through the adapter and the request
        ("the Dask backend", da.from_array(image, chunks=(40, 50)), lambda out: out.compute()),
    ]
    try:
        import torch
    except ImportError:
        return cases
    return cases + [("a CPU tensor", torch.from_numpy(image.copy()), lambda out: out.numpy())]


@pytest.mark.parametrize("case", range(4))
def test_a_default_changed_in_a_signature_changes_it_on_every_backend(monkeypatch, case):
    """clahe's tiles and clip limit changed in its signature alone: every backend computes the new defaults (the
    GPU backend too: tests/gpu/test_gpu_kernels.py, test_defaults_have_one_owner)."""
    backends = _backends(_IMAGE)
    if case >= len(backends):
        pytest.skip("PyTorch is not installed")
    name, image, to_numpy = backends[case]
    old = histeq.clahe(_IMAGE)
    monkeypatch.setitem(histeq.clahe.__kwdefaults__, "tiles", (3, 5))
    monkeypatch.setitem(histeq.clahe.__kwdefaults__, "clip_limit", 3.5)
    expected = histeq.clahe(_IMAGE, tiles=(3, 5), clip_limit=3.5)
    assert not np.array_equal(expected, old)  # the new defaults make a difference
    got = to_numpy(histeq.clahe(image))
    np.testing.assert_array_equal(got.astype(expected.dtype), expected, err_msg=name)


def test_every_public_function_is_its_signature_and_one_call():
    """No public function keeps a default or a branch outside its signature: its body is one call of the
    dispatcher, with every parameter by name."""
    for name in ("equalize", "clahe", "match", "specify", "histogram", "cumulative_distribution"):
        function = getattr(histeq, name)
        source = inspect.getsource(function)
        body = source.split('"""')[-1].strip()
        assert body == f'return _dispatch.call("{name}", locals())', (name, body)
    for name in ("fit_equalize", "fit_clahe", "fit_match", "fit_specify"):
        assert inspect.getsource(getattr(histeq, name)).split('"""')[-1].strip().startswith("return _dispatch.call(")


def test_the_gpu_coverage_neutral_values_are_the_signatures_defaults():
    """An argument outside a function's GPU keywords must be at its NEUTRAL value for the GPU path: that value is
    the signature's default, so that a call at the defaults has its GPU path."""
    for name, entry in FUNCTIONS.items():
        parameters = inspect.signature(getattr(histeq, name)).parameters
        for parameter in parameters.values():
            if parameter.default is inspect.Parameter.empty or parameter.name in entry.keywords:
                continue
            assert parameter.name in NEUTRAL, (name, parameter.name)
            assert NEUTRAL[parameter.name] == parameter.default, (name, parameter.name)


def test_a_backend_is_chosen_by_name():
    image = np.array([[50, 50], [51, 60]], dtype=np.uint8)
    for name in ("auto", "cpu", "dask", "gpu"):
        with histeq.backend(name):  # NumPy arrays: the CPU backend, whichever is preferred
            np.testing.assert_array_equal(histeq.equalize(image), [[0, 0], [128, 255]])
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        with histeq.backend("cuda"):
            pass
