"""GPU timing of histeq against torchvision (and kornia and cuCIM where installed), data already on the GPU.

Run:  python benchmarks/gpu.py   (needs a CUDA GPU)

Each case checks that histeq's result equals the CPU core's bit for bit, then times every contender with CUDA
events, interleaved round by round, and prints medians and ratios (histeq / contender: below 1 histeq is
faster).  Cases without a GPU path yet in histeq are listed as such.
"""

from __future__ import annotations

import statistics

import numpy as np
import torch

import histeq


def _median_ms(funcs: dict, rounds: int = 200) -> dict:
    for f in funcs.values():  # warm-up (compilation, caches)
        for _ in range(3):
            f()
    torch.cuda.synchronize()
    times = {name: [] for name in funcs}
    for _ in range(rounds):
        for name, f in funcs.items():
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            f()
            end.record()
            end.synchronize()
            times[name].append(start.elapsed_time(end))
    return {name: statistics.median(t) for name, t in times.items()}


def _peers(tensor: torch.Tensor) -> dict:
    contenders = {}
    from torchvision.transforms.v2 import functional

    contenders["torchvision v2 equalize"] = lambda: functional.equalize(tensor)
    try:
        import kornia

        as_float = tensor.float() / 255
        contenders["kornia equalize (float32)"] = lambda: kornia.enhance.equalize(as_float)
    except ImportError:
        pass
    return contenders


def case(title: str, images: np.ndarray, axes):
    tensor = torch.from_numpy(images).cuda()
    out = histeq.equalize(tensor, axes=axes)
    assert out.is_cuda and np.array_equal(out.cpu().numpy(), histeq.equalize(images, axes=axes))
    medians = _median_ms({"histeq": lambda: histeq.equalize(tensor, axes=axes)} | _peers(tensor))
    ours = medians["histeq"]
    for name, t in medians.items():
        ratio = "" if name == "histeq" else f"{ours / t:.3f}"
        print(f"| {title} | {name} | {t:.4f} ms | {ratio} |")


def main() -> None:
    print(f"histeq {histeq.__version__}, {torch.cuda.get_device_name()}\n")
    print("| case | contender | median | histeq / contender |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(1)
    case("equalize batch (1800,1,96,96) uint8", rng.integers(20, 200, (1800, 1, 96, 96), dtype=np.uint8), (-2, -1))
    case("equalize 2048x2048 uint8", rng.integers(0, 256, (1, 2048, 2048), dtype=np.uint8), (-2, -1))
    for title in ("CLAHE batch (1800,1,96,96)", "CLAHE 2048x2048 uint8", "CLAHE 3-D 128^3 uint16"):
        print(f"| {title} | histeq | no GPU path yet | |")


if __name__ == "__main__":
    main()
