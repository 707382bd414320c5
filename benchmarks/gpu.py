"""GPU timing of histeq against torchvision (and kornia and cuCIM where installed), data already on the GPU.

Run:  python benchmarks/gpu.py   (needs a CUDA GPU)

Each case checks that histeq's result equals the CPU core's bit for bit, then times every contender with CUDA
events, interleaved round by round, and prints medians and ratios (histeq / contender: below 1 histeq is
faster).  The peers quantize to 256 levels (kornia in float32), so their results differ from histeq's; kornia
and cuCIM are timed where installed.
"""

from __future__ import annotations

import statistics

import numpy as np
import torch

import histeq


def _median_ms(funcs: dict, seconds: float = 3.0) -> dict:
    """Median milliseconds per call of each function, interleaved round by round: as many rounds (5 to 200) as
    fit in about ``seconds`` (cuCIM's loops over a batch take a second a call)."""
    for f in funcs.values():  # warm-up (compilation, caches)
        for _ in range(3):
            f()
    torch.cuda.synchronize()
    times = {name: [] for name in funcs}
    rounds = 1
    while len(next(iter(times.values()))) < rounds:
        for name, f in funcs.items():
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            f()
            end.record()
            end.synchronize()
            times[name].append(start.elapsed_time(end))
        if rounds == 1:
            rounds = max(5, min(200, int(seconds * 1000 / sum(t[0] for t in times.values()))))
    return {name: statistics.median(t) for name, t in times.items()}


def _kornia():
    try:
        import kornia

        return kornia
    except ImportError:
        return None


def _cucim_exposure():
    try:
        from cucim.skimage import exposure

        return exposure
    except ImportError:
        return None


def _equalize_peers(tensor: torch.Tensor) -> dict:
    from torchvision.transforms.v2 import functional

    contenders = {"torchvision v2 equalize": lambda: functional.equalize(tensor)}
    kornia, exposure = _kornia(), _cucim_exposure()
    if kornia is not None:
        as_float = tensor.float() / 255
        contenders["kornia equalize (float32)"] = lambda: kornia.enhance.equalize(as_float)
    if exposure is not None:
        import cupy

        images = list(cupy.from_dlpack(tensor.reshape(-1, *tensor.shape[-2:])))
        contenders["cuCIM equalize_hist, a loop"] = lambda: [exposure.equalize_hist(im) for im in images]
    return contenders


def _clahe_peers(tensor: torch.Tensor) -> dict:
    contenders = {}
    kornia, exposure = _kornia(), _cucim_exposure()
    if kornia is not None and tensor.ndim == 4:
        as_float = tensor.float() / float(torch.iinfo(tensor.dtype).max)
        contenders["kornia equalize_clahe (float32)"] = lambda: kornia.enhance.equalize_clahe(
            as_float, clip_limit=2.0, grid_size=(8, 8)
        )
    if exposure is not None:
        import cupy

        images = (
            [cupy.from_dlpack(tensor)]
            if tensor.ndim == 3
            else list(cupy.from_dlpack(tensor.reshape(-1, *tensor.shape[-2:])))
        )
        # scikit-image's clip_limit is normalized: 2 / 256 is histeq's (and OpenCV's) 2.
        contenders["cuCIM equalize_adapthist"] = lambda: [
            exposure.equalize_adapthist(im, kernel_size=[n // 8 for n in im.shape], clip_limit=2 / 256) for im in images
        ]
    return contenders


def case(title: str, images: np.ndarray, function, kwargs: dict, peers):
    """One row per contender: histeq on the GPU, histeq's CPU path with the copies there and back, the peers."""
    tensor = torch.from_numpy(images).cuda()
    out = function(tensor, **kwargs)
    assert out.is_cuda and np.array_equal(out.cpu().numpy(), function(images, **kwargs)), "not bit-exact"

    def on_the_cpu():
        return torch.from_numpy(function(tensor.cpu().numpy(), **kwargs)).cuda()

    medians = _median_ms(
        {"histeq": lambda: function(tensor, **kwargs), "histeq's CPU path, copies included": on_the_cpu} | peers(tensor)
    )
    ours = medians["histeq"]
    for name, t in medians.items():
        ratio = "" if name == "histeq" else f"{ours / t:.3f}"
        print(f"| {title} | {name} | {t:.4f} ms | {ratio} |")


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py needs a CUDA GPU")
    print(f"histeq {histeq.__version__}, {torch.cuda.get_device_name()}, {torch.get_num_threads()} CPU threads\n")
    print("| case | contender | median | histeq / contender |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(1)
    batch = rng.integers(20, 200, (1800, 1, 96, 96), dtype=np.uint8)
    square = rng.integers(0, 256, (1, 1, 2048, 2048), dtype=np.uint8)
    volume = (rng.normal(3000, 500, (128, 128, 128)).clip(0, 65535)).astype(np.uint16)
    case("equalize batch (1800,1,96,96) uint8", batch, histeq.equalize, {"axes": (-2, -1)}, _equalize_peers)
    case("equalize 2048x2048 uint8", square, histeq.equalize, {"axes": (-2, -1)}, _equalize_peers)
    clahe = {"axes": (-2, -1), "tiles": 8, "clip_limit": 2.0}
    case("CLAHE batch (1800,1,96,96) uint8, 8x8, clip 2", batch, histeq.clahe, clahe, _clahe_peers)
    case("CLAHE 2048x2048 uint8, 8x8, clip 2", square, histeq.clahe, clahe, _clahe_peers)
    case("CLAHE 3-D 128^3 uint16, 8x8x8, clip 2", volume, histeq.clahe, {"tiles": 8, "clip_limit": 2.0}, _clahe_peers)


if __name__ == "__main__":
    main()
