"""The GPU backend (histeq._backends.gpu): its refusals, and its kernels compiled for an H100 without a GPU (their
results against the CPU core: tests/gpu/test_gpu_kernels.py)."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import histeq

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

import _ptx  # noqa: E402


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_cuda_tensor_stays_on_the_gpu():
    batch = torch.randint(0, 256, (64, 1, 96, 96), dtype=torch.uint8, device="cuda")
    out = histeq.equalize(batch, axes=(-2, -1))  # through the door: a CUDA tensor stays on the GPU
    assert out.is_cuda
    np.testing.assert_array_equal(out.cpu().numpy(), histeq.equalize(batch.cpu().numpy(), axes=(-2, -1)))
    with pytest.raises(TypeError, match=r"histeq.match: got cuda tensors, but its GPU path so far covers"):
        histeq.match(batch, batch, axes=(-2, -1))


def _on_gpu(function, *args, **kwargs):
    with histeq.backend("gpu"):  # CPU tensors on the GPU backend: refused before any kernel runs
        return function(*args, **kwargs)


def test_calls_without_a_gpu_path_are_refused_before_any_copy():
    """Calls the GPU path does not have get the door's TypeError; bad arguments the CPU path's own errors."""
    image = torch.zeros((2, 8, 8), dtype=torch.uint8)
    for args, kwargs in [
        ((), {"nbins": 16}),
        ((), {"out_range": (0, 9)}),
        ((), {"mask": np.ones((8, 8), bool)}),
    ]:
        with pytest.raises(TypeError, match="histeq.equalize: got cpu tensors, but its GPU path so far covers"):
            _on_gpu(histeq.equalize, image, *args, **kwargs)
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
    with pytest.raises(TypeError, match="histeq.equalize: got cpu tensors"):  # at their defaults: taken...
        _on_gpu(histeq.equalize, image, **defaults | {"exact": True})  # ...but not exact=True
    for kwargs, error, words in [
        ({"axes": (1, 1)}, ValueError, "repeated axes"),
        ({"mask": image}, TypeError, "mask must be a boolean array"),
        ({"mask": torch.ones((3, 8), dtype=torch.bool)}, ValueError, "does not match"),
        ({"channel_axis": 0}, ValueError, "needs 3 .RGB. or 4 .RGBA. channels"),
        ({"color": "luma"}, ValueError, "needs channel_axis"),
    ]:
        with pytest.raises(error, match=words):
            _on_gpu(histeq.equalize, image, **kwargs)
    with pytest.raises(TypeError, match="color='lightness'"):
        _on_gpu(histeq.clahe, torch.zeros((3, 8, 8), dtype=torch.uint8), channel_axis=0)
    for dtype in (torch.int32, torch.bfloat16, torch.bool, torch.complex64):
        with pytest.raises(TypeError, match="histeq.equalize"):
            _on_gpu(histeq.equalize, image.to(dtype))
    with pytest.raises(TypeError, match="histeq.clahe: got 4 image axes longer than one pixel"):
        _on_gpu(histeq.clahe, torch.zeros((2, 3, 4, 5), dtype=torch.uint8), tiles=1)

    for function in (histeq.fit_clahe, histeq.fit_equalize):  # functions without a GPU path
        with pytest.raises(TypeError, match=re.escape(f"histeq.{function.__qualname__}: got cpu tensors")):
            _on_gpu(function, image)
    with pytest.raises(ValueError, match="cv2.CLAHE has none"):
        _on_gpu(histeq.clahe, image, compat="opencv", axes=(1, 2), mask=image > 0)
    with pytest.raises(TypeError, match="uint8 or uint16"):
        _on_gpu(histeq.clahe, image.to(torch.int8), compat="opencv", axes=(1, 2))


@pytest.fixture(scope="session")
def compiled():
    """{variant: (outcome, words)} of every kernel compiled for an H100; in a process without Triton's
    interpreter (tests/_ptx.py) where this one has it on."""
    if os.environ.get("TRITON_INTERPRET") != "1":
        return {_ptx.variant_id(variant): _ptx.compile_variant(variant) for variant in _ptx.variants()}
    env = dict(os.environ, TRITON_INTERPRET="0")
    done = subprocess.run(
        [sys.executable, os.path.join(os.path.dirname(os.path.dirname(__file__)), "_ptx.py")],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("variant", [_ptx.variant_id(variant) for variant in _ptx.variants()])
def test_the_kernels_compile_for_an_h100(compiled, variant):
    """Every kernel compiles to an sm_90 cubin, which needs no GPU; those launched without fused multiply-adds
    (the float64 steps the CPU core rounds one by one) have none, and divide float64 correctly rounded; and
    none spills registers to local memory (ptxas -v), which would cost a round trip to memory per value in
    the per-pixel loops."""
    outcome, words = compiled[variant]
    if outcome == "skip":
        pytest.skip(words)
    assert outcome == "ok", words
    used = json.loads(words)
    assert used["spill_stores"] == 0 and used["spill_loads"] == 0, f"{variant} spills: {used}"
