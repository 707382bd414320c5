"""The GPU path (histeq._gpu, _gpu_equalize, _gpu_clahe): its Triton kernels run here on CPU tensors under Triton's
interpreter, bit for bit with the CPU core (tests/_gpu_checks.py); on a machine with a GPU the same checks run on
CUDA tensors."""

import os
import subprocess
import sys

import numpy as np
import pytest

import histeq

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

_CHECKS = os.path.join(os.path.dirname(__file__), "_gpu_checks.py")


def _run(device: str, examples: int, interpret: bool):
    env = dict(os.environ, **({"TRITON_INTERPRET": "1"} if interpret else {}))
    return subprocess.run([sys.executable, _CHECKS, device, str(examples)], capture_output=True, text=True,
                          timeout=900, env=env)


def test_the_kernels_equal_the_cpu_core_under_the_interpreter():
    """equalize, clahe, histogram, cumulative_distribution and the transforms through the door, the Triton
    kernels interpreted on CPU tensors, against the CPU core under hypothesis and on real images."""
    done = _run("cpu", 40, interpret=True)
    assert done.returncode == 0 and "checked" in done.stdout, done.stdout[-2000:] + done.stderr[-4000:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_kernels_equal_the_cpu_core_on_the_gpu():
    done = _run("cuda", 300, interpret=False)
    assert done.returncode == 0 and "checked" in done.stdout, done.stdout[-2000:] + done.stderr[-4000:]
    batch = torch.randint(0, 256, (64, 1, 96, 96), dtype=torch.uint8, device="cuda")
    out = histeq.equalize(batch, axes=(-2, -1))  # through the door: a CUDA tensor stays on the GPU
    assert out.is_cuda
    np.testing.assert_array_equal(out.cpu().numpy(), histeq.equalize(batch.cpu().numpy(), axes=(-2, -1)))
    with pytest.raises(TypeError, match=r"histeq.match: got cuda tensors, but its GPU path so far covers"):
        histeq.match(batch, batch, axes=(-2, -1))


def test_calls_without_a_gpu_path_are_refused_before_any_copy():
    from histeq import _gpu

    image = torch.zeros((2, 8, 8), dtype=torch.uint8)
    for args, kwargs in [((), {"axes": (0, 1)}), ((), {"nbins": 16}), ((image,), {}), ((), {"axes": (1, 1)}),
                         ((), {"mask": image}), ((), {"mask": torch.ones((3, 8), dtype=torch.bool)}),
                         ((), {"channel_axis": 0}), ((), {"out_range": (0, 9)})]:
        with pytest.raises(TypeError, match="histeq.equalize: got cpu tensors, but its GPU path so far covers"):
            _gpu.call("equalize", image, args, kwargs)
    for dtype in (torch.int32, torch.bfloat16, torch.bool, torch.complex64):
        with pytest.raises(TypeError, match="histeq.equalize"):
            _gpu.call("equalize", image.to(dtype), (), {})
    with pytest.raises(TypeError, match="histeq.clahe: got 4 image axes longer than one pixel"):
        _gpu.call("clahe", torch.zeros((2, 3, 4, 5), dtype=torch.uint8), (), {"tiles": 1})
    for function in ("match", "specify", "exact_order", "fit_clahe"):
        with pytest.raises(TypeError, match=f"histeq.{function}: got cpu tensors"):
            _gpu.call(function, image, (), {})
    with pytest.raises(TypeError, match="histeq.clahe"):
        _gpu.call("clahe", image, (), {"compat": "opencv"})
