"""The GPU path (histeq._gpu, histeq._gpu_equalize): its Triton kernels run here on CPU tensors under Triton's
interpreter, bit for bit with the CPU core; on a machine with a GPU the same checks run on CUDA tensors."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import histeq

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

_CHECKS = """
import numpy as np, torch, histeq
from histeq import _gpu

device = "{device}"
rng = np.random.default_rng(5)
for case in range({examples}):  # batches, odd sizes (one pixel, one row), narrow and full ranges, one level
    batch, height, width = rng.integers(1, 5), rng.integers(1, 71), rng.integers(1, 91)
    low = rng.integers(0, 256)
    high = min(255, low + rng.integers(0, 256)) if case % 5 else low
    images = rng.integers(low, high + 1, (batch, 1, height, width), dtype=np.uint8)
    tensor = torch.from_numpy(images).to(device)
    out = _gpu.call("equalize", tensor, (), {{"axes": (-2, -1)}})
    assert out.device == tensor.device and out.dtype == torch.uint8
    np.testing.assert_array_equal(out.cpu().numpy(), histeq.equalize(images, axes=(-2, -1)))
    whole = _gpu.call("equalize", tensor[0, 0], (), {{}})
    np.testing.assert_array_equal(whole.cpu().numpy(), histeq.equalize(images[0, 0]))
    # masks: one per image, or one shared by every image; an all-False mask counts nothing (the identity)
    for mask in (rng.random(images.shape) < rng.random(), rng.random((height, width)) < 0.5,
                 np.zeros((height, width), bool)):
        out = _gpu.call("equalize", tensor, (), {{"axes": (-2, -1), "mask": torch.from_numpy(mask).to(device)}})
        np.testing.assert_array_equal(out.cpu().numpy(), histeq.equalize(images, axes=(-2, -1), mask=mask))
print("checked")
"""


def _run(device: str, examples: int, interpret: bool):
    env = dict(os.environ, **({"TRITON_INTERPRET": "1"} if interpret else {}))
    code = textwrap.dedent(_CHECKS.format(device=device, examples=examples))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)


def test_the_kernels_equal_the_cpu_core_under_the_interpreter():
    done = _run("cpu", 12, interpret=True)
    assert done.returncode == 0 and "checked" in done.stdout, done.stdout[-2000:] + done.stderr[-4000:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_kernels_equal_the_cpu_core_on_the_gpu():
    done = _run("cuda", 200, interpret=False)
    assert done.returncode == 0 and "checked" in done.stdout, done.stdout[-2000:] + done.stderr[-4000:]
    batch = torch.randint(0, 256, (64, 1, 96, 96), dtype=torch.uint8, device="cuda")
    out = histeq.equalize(batch, axes=(-2, -1))  # through the door: a CUDA tensor stays on the GPU
    assert out.is_cuda
    np.testing.assert_array_equal(out.cpu().numpy(), histeq.equalize(batch.cpu().numpy(), axes=(-2, -1)))
    with pytest.raises(TypeError, match=r"histeq.clahe: got cuda tensors, but its GPU path so far covers"):
        histeq.clahe(batch, axes=(-2, -1))


def test_calls_without_a_gpu_path_are_refused_before_any_copy():
    from histeq import _gpu

    image = torch.zeros((2, 8, 8), dtype=torch.uint8)
    for args, kwargs in [((), {"axes": (0, 1)}), ((), {"nbins": 16}), ((image,), {}), ((), {"axes": (1, 1)}),
                         ((), {"mask": image}), ((), {"mask": torch.ones((3, 8), dtype=torch.bool)})]:
        with pytest.raises(TypeError, match="histeq.equalize: got cpu tensors, but its GPU path so far covers"):
            _gpu.call("equalize", image, args, kwargs)
    with pytest.raises(TypeError, match="histeq.clahe"):
        _gpu.call("clahe", image, (), {})
    with pytest.raises(TypeError, match="histeq.equalize"):
        _gpu.call("equalize", image.to(torch.int16), (), {})
