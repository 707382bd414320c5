"""GPU timing of histeq against torchvision (and kornia and cuCIM where installed), data already on the GPU.

Run:  python benchmarks/gpu.py   (needs a CUDA GPU)

Each case checks that histeq's result equals the CPU core's bit for bit, then times every contender with CUDA
events, interleaved round by round, and prints medians and ratios (histeq / contender: below 1 histeq is
faster).  The peers quantize to 256 levels (kornia in float32), so their results differ from histeq's; kornia
and cuCIM are timed where installed.

Roofline, worked out without a GPU (the kernels as written, the H100 SXM's 3.35 TB/s of HBM3; a PCIe H100 has
2.0 TB/s).  Bytes are those that must cross DRAM at least once; launches count Triton kernels and PyTorch's
fills.  Host time is the part no GPU speeds up: histeq's dispatch of a tensor call (~30-50 us on this
project's CPUs, from ``compare.py``'s per-call rows) and about 10-20 us per Triton launch from Python (Triton's
own figure, not measured here); the GPU side adds ~3-5 us per launch.

Per target case (path; launches; DRAM bytes; the bandwidth floor; verdict):

- equalize (1800, 1, 96, 96) u8, target 0.1 ms: `_whole_image_kernel`, one program per image (histogram,
  table, map; the image's second read from L2); 1 launch and 2 allocations; 16.6 MB in + 16.6 MB out + 0.5 MB
  of tables = 34 MB; 10 us.  Reachable if the host side stays under ~70 us and each program's 256-level table
  is short: the one launch is the design.
- equalize 2048^2 u8, target 0.2 ms: histogram (1024 programs), table (1), apply (1024); 4 launches (one zero
  fill); 4.2 MB read twice + 4.2 MB written = 12.6 MB; 4 us.  Reachable: launch- and host-bound (~60-100 us).
- CLAHE (1800, 1, 96, 96) u8, 8x8, target 1 ms: fused tile tables (115 200 programs: histogram, clip and table
  of one 12 x 12 tile), interpolation (16 200 programs); 2 launches; 16.6 MB read twice + 16.6 MB out + 29.5 MB
  of tables written and read = 109 MB; 33 us.  Reachable: the clip loops of ~115 k short programs are the work.
- CLAHE 2048^2 u8, 8x8, target 0.5 ms: tile histograms (1024 programs), tables (64), interpolation (4096);
  5 launches (two fills); 12.7 MB; 4 us.  Reachable: the 64 table programs of 256 levels are the serial part.
- CLAHE 3-D 128^3 u16, 8x8x8, target 2 ms: tile histograms (512 programs), wide tables (512 programs over
  65 536 levels, 4096 at a time), interpolation (2048 programs, 8 corners each); 5 launches; 134 MB of counts
  zeroed + 134 MB read + 67 MB of tables written + ~20 MB of pixels and gathers = 355 MB; 106 us.  Reachable
  by bandwidth (a twentieth of the target); the 512 table programs walk 65 536 levels several times (clip
  passes) in 4 waves over 132 SMs, which only a GPU can time.

No target is out of reach of the kernels as written by bytes or launches; the two cases to watch are the
small-image ones, where host overhead (dispatch and launches, ~50-100 us) is of the target's order.

Registers and spills: ``python tests/_ptx.py --table`` compiles every kernel variant for sm_90 (no GPU needed)
and prints ptxas's registers per thread and spill bytes; ``tests/gpu/test_gpu.py`` fails on any spill.  The
float CLAHE's interpolation (255 registers, 540 bytes spilled at 1024 pixels a program) now takes 256 (128
registers, none spilled), OpenCV's 16-bit tables 2048 levels a step (168, none; 4096 spilled 180 bytes) and
matching's tables 1024 (94, none; 4096 spilled 476/680 bytes).
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
