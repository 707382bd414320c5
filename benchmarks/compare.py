"""Side-by-side timing of histeq and its peers, in one process.

Run:  python benchmarks/compare.py [--repeat N] [--markdown]

Each case times every contender on the same input, interleaved round by round
so machine noise hits all of them alike, and reports medians and the ratio
histeq time / peer time (below 1: histeq is faster).  It also checks that the
contenders agree where they should, so a fast wrong answer cannot win.
"""

from __future__ import annotations

import os

# NumPy's and SciPy's OpenBLAS keep worker threads that spin after any BLAS
# call (the setup's resizing makes some); on a small machine they steal cores
# from whichever multi-threaded contender runs next.  No timed call uses BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

import histeq  # noqa: E402


def _camera(size: int) -> np.ndarray:
    from skimage import data, transform

    image = transform.resize(data.camera(), (size, size), order=1, preserve_range=True)
    rng = np.random.default_rng(0)
    return np.clip(image + rng.normal(0, 2, image.shape), 0, 255)


def _astronaut(size: int) -> np.ndarray:
    from skimage import data, transform

    return transform.resize(data.astronaut(), (size, size), order=1, preserve_range=True).astype(np.uint8)


def _balanced_sequence(n: int) -> list[int]:
    """A cyclic order of n contenders' calls in which each one runs right after every other exactly once: an
    Eulerian circuit of the complete directed graph (Hierholzer), n (n - 1) calls, the last followed by the
    first.  Rotating one order is not enough (it keeps every contender behind the same predecessor), nor are
    balanced rounds laid end to end (the joins between rounds repeat some pairs)."""
    if n == 1:
        return [0]
    unused = {v: [w for w in range(n) if w != v] for v in range(n)}
    stack, circuit = [0], []
    while stack:
        v = stack[-1]
        if unused[v]:
            stack.append(unused[v].pop())
        else:
            circuit.append(stack.pop())
    return circuit[::-1][:-1]  # the circuit returns to 0: drop the repeated end


def _time(funcs: dict, repeat: int) -> dict:
    """Median seconds per contender.  Calls follow a balanced cyclic order, so that each contender follows
    every other equally often (what runs before a call -- a peer's spinning thread pool, freed memory, cold
    caches -- affects it)."""
    times = {name: [] for name in funcs}
    t0 = time.perf_counter()
    for f in funcs.values():  # warm-up
        f()
    # Fast cases get more rounds (about 2 s in all): the machine is noisy.
    rounds = max(repeat * len(funcs), min(300, int(2.0 / max(time.perf_counter() - t0, 1e-6))))
    names = list(funcs)
    sequence = _balanced_sequence(len(names))
    cycles = -(-rounds * len(names) // len(sequence))
    for k in sequence * cycles:
        t0 = time.perf_counter()
        funcs[names[k]]()
        times[names[k]].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def _array_types(title, call, array, repeat):
    """The same call on the array as NumPy, as a CPU tensor and as an xarray DataArray (where installed), head
    to head (no peer's run in between): what crossing histeq's door costs (_arrays: no copy in, none out)."""
    contenders = {"histeq": lambda: call(array)}
    try:
        import torch

        tensor = torch.from_numpy(array)
        assert np.array_equal(call(tensor).numpy(), call(array))
        contenders["histeq, CPU tensor in"] = lambda: call(tensor)
    except ImportError:
        pass
    try:
        import xarray

        scene = xarray.DataArray(array, dims=[f"d{k}" for k in range(array.ndim)], attrs={"units": "DN"})
        assert np.array_equal(call(scene).values, call(array))
        contenders["histeq, DataArray in"] = lambda: call(scene)
    except ImportError:
        pass
    return title, _time(contenders, repeat)


def _face_batch() -> np.ndarray:
    rng = np.random.default_rng(1)
    base = _camera(96)
    batch = np.stack([np.clip(base * rng.uniform(0.2, 0.8) + rng.uniform(0, 60), 0, 255) for _ in range(1800)])
    return batch[:, None].astype(np.uint8)


def case_types_equalize_2048(repeat):
    return _array_types(
        "array types: equalize uint8 2048x2048", histeq.equalize, _camera(2048).astype(np.uint8), repeat
    )


def case_types_equalize_batch(repeat):
    return _array_types(
        "array types: equalize batch (1800,1,96,96)", lambda x: histeq.equalize(x, axes=(-2, -1)), _face_batch(), repeat
    )


def case_types_clahe_2048(repeat):
    return _array_types(
        "array types: CLAHE uint8 2048x2048",
        lambda x: histeq.clahe(x, tiles=8, clip_limit=2.0),
        _camera(2048).astype(np.uint8),
        repeat,
    )


def case_types_clahe_batch(repeat):
    return _array_types(
        "array types: CLAHE batch (1800,1,96,96)",
        lambda x: histeq.clahe(x, axes=(-2, -1), tiles=8, clip_limit=2.0),
        _face_batch(),
        repeat,
    )


def case_uint8(repeat):
    import cv2
    from skimage import exposure

    img = _camera(2048).astype(np.uint8)
    assert np.array_equal(histeq.equalize(img, compat="opencv"), cv2.equalizeHist(img))
    return "uint8 2048x2048", _time(
        {
            "histeq": lambda: histeq.equalize(img),
            "cv2.equalizeHist": lambda: cv2.equalizeHist(img),
            "skimage.equalize_hist": lambda: exposure.equalize_hist(img),
        },
        repeat,
    )


def _numpy_loop(batch):
    out = np.empty(batch.shape, dtype=np.float64)
    for i in range(batch.shape[0]):
        image = batch[i, 0]
        hist, bins = np.histogram(image.ravel(), 256, density=True)
        cdf = hist.cumsum()
        cdf = 255 * cdf / cdf[-1]
        out[i, 0] = np.interp(image.ravel(), bins[:-1], cdf).reshape(image.shape)
    return out


def case_batch(repeat):
    import cv2

    batch = _face_batch()

    def cv2_loop():
        out = np.empty_like(batch)
        for i in range(batch.shape[0]):
            out[i, 0] = cv2.equalizeHist(batch[i, 0])
        return out

    assert np.array_equal(histeq.equalize(batch, axes=(-2, -1), compat="opencv"), cv2_loop())
    return "batch (1800,1,96,96) uint8", _time(
        {
            "histeq": lambda: histeq.equalize(batch, axes=(-2, -1)),
            "cv2 loop": cv2_loop,
            "numpy loop (histogram+interp)": lambda: _numpy_loop(batch),
        },
        repeat,
    )


def case_uint16(repeat):
    from skimage import exposure

    rng = np.random.default_rng(2)
    img = (_camera(2048) * 180 + rng.integers(0, 180, (2048, 2048))).astype(np.uint16)
    return "uint16 2048x2048", _time(
        {
            "histeq": lambda: histeq.equalize(img),
            "skimage.equalize_hist": lambda: exposure.equalize_hist(img),
        },
        repeat,
    )


def case_float32(repeat):
    from skimage import exposure

    img = (_camera(2048) / 255).astype(np.float32)
    return "float32 2048x2048", _time(
        {
            "histeq": lambda: histeq.equalize(img),
            "skimage.equalize_hist": lambda: exposure.equalize_hist(img),
        },
        repeat,
    )


def case_rgb_luma(repeat):
    import cv2

    img = _astronaut(2048)

    def opencv_ycrcb():
        ycrcb = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
        ycrcb[..., 0] = cv2.equalizeHist(ycrcb[..., 0])
        return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)

    diff = np.abs(histeq.equalize(img, channel_axis=-1, color="luma").astype(int) - opencv_ycrcb())
    assert np.percentile(diff, 99) <= 3, "luma result drifted from OpenCV's YCrCb recipe"
    return "RGB 2048x2048 uint8, luma", _time(
        {
            "histeq": lambda: histeq.equalize(img, channel_axis=-1, color="luma"),
            "OpenCV YCrCb recipe": opencv_ycrcb,
        },
        repeat,
    )


def case_rgb_lightness(repeat):
    from skimage import color, exposure

    img = _astronaut(2048)

    def skimage_lab():
        lab = color.rgb2lab(img)
        lab[..., 0] = exposure.equalize_hist(lab[..., 0]) * 100
        return color.lab2rgb(lab)

    return "RGB 2048x2048 uint8, lightness", _time(
        {
            "histeq": lambda: histeq.equalize(img, channel_axis=-1, color="lightness"),
            "skimage rgb2lab recipe": skimage_lab,
        },
        max(3, repeat // 3),
    )


def peak_memory():
    """Peak NumPy allocations during one call, in multiples of the input's size."""
    rows = []
    for dtype in (np.uint8, np.uint16):
        img = np.random.default_rng(3).integers(0, np.iinfo(dtype).max, (2048, 2048), dtype=dtype)
        tracemalloc.start()
        histeq.equalize(img)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append((np.dtype(dtype).name, peak / img.nbytes))
    return rows


def case_clahe_uint8(repeat):
    import cv2
    from skimage import exposure

    img = _camera(2048).astype(np.uint8)
    clahe = cv2.createCLAHE(2.0, (8, 8))
    assert np.array_equal(histeq.clahe(img, tiles=8, clip_limit=2.0, compat="opencv"), clahe.apply(img))
    return "CLAHE uint8 2048x2048, 8x8, clip 2", _time(
        {
            "histeq": lambda: histeq.clahe(img, tiles=8, clip_limit=2.0),
            "cv2 CLAHE": lambda: clahe.apply(img),
            "skimage.equalize_adapthist": lambda: exposure.equalize_adapthist(img, kernel_size=256, clip_limit=2 / 256),
        },
        max(3, repeat // 3),
    )


def case_clahe_uint16(repeat):
    rng = np.random.default_rng(2)
    img = (_camera(2048) * 180 + rng.integers(0, 180, (2048, 2048))).astype(np.uint16)
    return _against_cv2_clahe("CLAHE uint16 2048x2048, 8x8, clip 2", img, repeat, clip_limit=2.0)


def _against_cv2_clahe(title, image, repeat, **kwargs):
    """histeq.clahe(image, tiles=8, **kwargs) against cv2.createCLAHE(2, (8, 8)).apply."""
    import cv2

    clahe = cv2.createCLAHE(2.0, (8, 8))
    return title, _time(
        {
            "histeq": lambda: histeq.clahe(image, tiles=8, **kwargs),
            "cv2 CLAHE": lambda: clahe.apply(image),
        },
        repeat,
    )


def _cv2_clahe_loop(batch):
    """cv2.createCLAHE(2, (8, 8)).apply over each image of a (N, 1, H, W) batch, as a contender."""
    import cv2

    clahe = cv2.createCLAHE(2.0, (8, 8))

    def cv2_loop():
        out = np.empty_like(batch)
        for i in range(batch.shape[0]):
            out[i, 0] = clahe.apply(batch[i, 0])
        return out

    return cv2_loop


def case_clahe_batch(repeat):
    batch = np.random.default_rng(1).integers(20, 200, (1800, 1, 96, 96), dtype=np.uint8)
    cv2_loop = _cv2_clahe_loop(batch)
    contenders = {
        "histeq": lambda: histeq.clahe(batch, axes=(-2, -1), tiles=8, clip_limit=2.0),
        "cv2 CLAHE loop": cv2_loop,
    }
    try:  # optional: kornia (PyTorch) equalizes a float batch in one call
        import kornia
        import torch

        torch.set_num_threads(histeq.get_num_threads())
        tensor = torch.from_numpy(batch).float() / 255
        contenders["kornia equalize_clahe (float32, CPU)"] = lambda: kornia.enhance.equalize_clahe(
            tensor, clip_limit=2.0, grid_size=(8, 8)
        )
    except ImportError:
        pass
    return "CLAHE batch (1800,1,96,96) uint8, 8x8", _time(contenders, repeat)


def case_clahe_volume(repeat):
    from skimage import exposure

    rng = np.random.default_rng(5)
    z, y, x = np.mgrid[0:128, 0:128, 0:128] / 128
    volume = (20000 + 8000 * np.sin(6 * x) * np.cos(4 * y) + 3000 * z + rng.normal(0, 300, x.shape)).astype(np.uint16)
    return "CLAHE 3-D uint16 128^3, 8x8x8", _time(
        {
            "histeq": lambda: histeq.clahe(volume, tiles=8, clip_limit=2.0),
            "skimage.equalize_adapthist": lambda: exposure.equalize_adapthist(
                volume, kernel_size=16, clip_limit=2 / 256
            ),
        },
        1,
    )


def case_clahe_volume_full_range(repeat):
    from skimage import exposure

    rng = np.random.default_rng(6)
    z, y, x = np.mgrid[0:128, 0:128, 0:128] / 128
    field = 0.5 + 0.3 * np.sin(6 * x) * np.cos(4 * y) + 0.15 * z + rng.normal(0, 0.02, x.shape)
    volume = np.clip(field / field.max() * 65535, 0, 65535).astype(np.uint16)  # over the whole 16-bit range
    return "CLAHE 3-D uint16 128^3 over all 65536 levels, 8x8x8", _time(
        {
            "histeq": lambda: histeq.clahe(volume, tiles=8, clip_limit=2.0),
            "skimage.equalize_adapthist": lambda: exposure.equalize_adapthist(
                volume, kernel_size=16, clip_limit=2 / 256
            ),
        },
        1,
    )


def case_match_float32(repeat):
    from skimage import data, exposure, transform

    rng = np.random.default_rng(6)
    img = (_camera(2048) / 255).astype(np.float32)
    moon = transform.resize(data.moon(), (2048, 2048), order=1)
    reference = (moon + rng.normal(0, 0.01, moon.shape)).astype(np.float32)
    return "match float32 2048x2048 to float32 2048x2048", _time(
        {
            "histeq": lambda: histeq.match(img, reference),
            "skimage.match_histograms": lambda: exposure.match_histograms(img, reference),
        },
        1,
    )


def case_match_rgb(repeat):
    from skimage import data, exposure

    img = _astronaut(2048)
    reference = data.coffee()
    ours = histeq.match(img, reference, channel_axis=-1)
    theirs = np.stack([exposure.match_histograms(img[..., c], reference[..., c]) for c in range(3)], axis=-1)
    assert np.array_equal(ours, np.floor(theirs + 0.5).astype(np.uint8))
    return "match RGB uint8 2048x2048, per channel", _time(
        {
            "histeq": lambda: histeq.match(img, reference, channel_axis=-1),
            "skimage.match_histograms": lambda: exposure.match_histograms(img, reference, channel_axis=-1),
        },
        repeat,
    )


def case_exact(repeat):
    from skimage import exposure

    img = _camera(1024).astype(np.uint8)
    counts = np.bincount(histeq.equalize(img, exact=True).ravel(), minlength=256)
    assert counts.min() == counts.max() == img.size // 256
    return "exact equalize uint8 1024x1024", _time(
        {
            "histeq": lambda: histeq.equalize(img, exact=True),
            "skimage.equalize_hist (approximate)": lambda: exposure.equalize_hist(img),
        },
        repeat,
    )


def case_exact_uint16(repeat):
    from skimage import exposure

    img = (_camera(1024) * 250).astype(np.uint16)
    return "exact equalize uint16 1024x1024", _time(
        {
            "histeq": lambda: histeq.equalize(img, exact=True),
            "skimage.equalize_hist (approximate)": lambda: exposure.equalize_hist(img),
        },
        repeat,
    )


def case_exact_volume(repeat):
    from skimage import exposure

    rng = np.random.default_rng(7)
    z, y, x = np.mgrid[0:128, 0:128, 0:128] / 128
    volume = (20000 + 8000 * np.sin(6 * x) * np.cos(4 * y) + 3000 * z + rng.normal(0, 300, x.shape)).astype(np.uint16)
    return "exact equalize 3-D uint16 128^3", _time(
        {
            "histeq": lambda: histeq.equalize(volume, exact=True),
            "skimage.equalize_hist (approximate)": lambda: exposure.equalize_hist(volume),
        },
        repeat,
    )


def _per_call_equalize(side, seed, repeat):
    import cv2

    image = np.random.default_rng(seed).integers(20, 200, (side, side), dtype=np.uint8)
    return f"equalize one {side}x{side} uint8, per call", _time(
        {
            "histeq": lambda: histeq.equalize(image),
            "cv2.equalizeHist": lambda: cv2.equalizeHist(image),
        },
        repeat,
    )


def case_per_call_equalize_96(repeat):
    return _per_call_equalize(96, 8, repeat)


def case_per_call_equalize_4(repeat):
    return _per_call_equalize(4, 9, repeat)


def case_per_sample_transform_96(repeat):
    """histeq.transforms.Equalize on one (1, 96, 96) uint8 tensor, as a DataLoader worker calls it per sample,
    against torchvision's v2 equalize on the same tensor."""
    import torch
    from torchvision.transforms.v2 import functional

    from histeq.transforms import Equalize

    tensor = torch.from_numpy(np.random.default_rng(11).integers(20, 200, (1, 96, 96), dtype=np.uint8))
    transform = Equalize()
    return "equalize one (1,96,96) uint8 tensor, per sample", _time(
        {
            "histeq": lambda: transform(tensor),
            "torchvision v2 equalize": lambda: functional.equalize(tensor),
            "histeq on its ndarray": lambda: histeq.equalize(tensor.numpy()[0]),
        },
        repeat,
    )


def case_per_call_clahe_96(repeat):
    image = np.random.default_rng(10).integers(20, 200, (96, 96), dtype=np.uint8)
    return _against_cv2_clahe("CLAHE one 96x96 uint8, 8x8, per call", image, repeat, clip_limit=2.0)


def case_pipeline_albumentations_96(repeat):
    """histeq.albumentations.CLAHE inside A.Compose on one 96x96 uint8 sample, against albumentations' own CLAHE
    in the same pipeline and histeq's bare function on the same sample."""
    import albumentations as A

    from histeq import albumentations as ha

    sample = np.random.default_rng(12).integers(20, 200, (96, 96), dtype=np.uint8)
    ours = A.Compose([ha.CLAHE(clip_limit=2.0, tiles=8, p=1.0)])
    theirs = A.Compose([A.CLAHE(clip_limit=(2.0, 2.0), tile_grid_size=(8, 8), p=1.0)])
    return "CLAHE one 96x96 uint8 in A.Compose", _time(
        {
            "histeq": lambda: ours(image=sample),
            "albumentations CLAHE": lambda: theirs(image=sample),
            "histeq's bare clahe": lambda: histeq.clahe(sample, tiles=8, clip_limit=2.0),
        },
        repeat,
    )


def case_pipeline_albumentations_equalize_96(repeat):
    import albumentations as A

    from histeq import albumentations as ha

    sample = np.random.default_rng(13).integers(20, 200, (96, 96), dtype=np.uint8)
    ours, theirs = A.Compose([ha.Equalize(p=1.0)]), A.Compose([A.Equalize(p=1.0)])
    return "equalize one 96x96 uint8 in A.Compose", _time(
        {
            "histeq": lambda: ours(image=sample),
            "albumentations Equalize": lambda: theirs(image=sample),
            "histeq's bare equalize": lambda: histeq.equalize(sample),
        },
        repeat,
    )


def case_pipeline_albumentations_uint16(repeat):
    """A 512x512 uint16 image, which albumentations' own CLAHE refuses: the pipeline's cost over the bare call."""
    import albumentations as A

    from histeq import albumentations as ha

    image = np.random.default_rng(14).integers(0, 65536, (512, 512), dtype=np.uint16)
    ours = A.Compose([ha.CLAHE(clip_limit=2.0, tiles=8, p=1.0)])
    return "CLAHE one 512x512 uint16 in A.Compose", _time(
        {"histeq": lambda: ours(image=image), "histeq's bare clahe": lambda: histeq.clahe(image, tiles=8)},
        repeat,
    )


def case_pipeline_torchvision_96(repeat):
    """histeq.transforms.Equalize inside v2.Compose on a (1, 96, 96) tv_tensors.Image, against torchvision's
    RandomEqualize(p=1) and histeq's bare call on the same tensor."""
    import torch
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    from histeq.transforms import Equalize

    image = tv_tensors.Image(torch.from_numpy(np.random.default_rng(15).integers(20, 200, (1, 96, 96), np.uint8)))
    ours, theirs = v2.Compose([Equalize()]), v2.Compose([v2.RandomEqualize(p=1.0)])
    return "equalize one (1,96,96) uint8 in v2.Compose", _time(
        {
            "histeq": lambda: ours(image),
            "torchvision RandomEqualize": lambda: theirs(image),
            "histeq's bare equalize": lambda: histeq.equalize(image, axes=(-2, -1)),
        },
        repeat,
    )


def case_pipeline_kornia_96(repeat):
    """A per-sample random CLAHE on one (1, 96, 96) sample: histeq's RandomCLAHE on the uint8 tensor against
    kornia's RandomClahe on the float32 one (kornia computes in float32 on [0, 1], 256 bins)."""
    import kornia
    import torch

    from histeq.transforms import RandomCLAHE

    sample = torch.from_numpy(np.random.default_rng(17).integers(20, 200, (1, 96, 96), np.uint8))
    scaled = sample.float()[None] / 255
    ours = RandomCLAHE(clip_limit=(1.0, 4.0), tiles=(8, 8))
    theirs = kornia.augmentation.RandomClahe(clip_limit=(1.0, 4.0), grid_size=(8, 8), p=1.0)
    return "random CLAHE one (1,96,96) sample", _time(
        {
            "histeq": lambda: ours(sample),
            "kornia RandomClahe": lambda: theirs(scaled),
            "histeq's bare clahe": lambda: histeq.clahe(sample, axes=(-2, -1), tiles=8, clip_limit=2.0),
        },
        repeat,
    )


def case_pipeline_monai_96(repeat):
    """histeq.monai.CLAHEd inside MONAI's Compose on a (1, 96, 96) uint8 MetaTensor, against histeq's bare call on
    the same tensor (MONAI has no CLAHE)."""
    import torch
    from monai.data import MetaTensor
    from monai.transforms import Compose

    from histeq import monai as hm

    image = MetaTensor(torch.from_numpy(np.random.default_rng(16).integers(20, 200, (1, 96, 96), np.uint8)))
    ours = Compose([hm.CLAHEd(keys="image", tiles=8)])
    return "CLAHE one (1,96,96) uint8 in monai Compose", _time(
        {
            "histeq": lambda: ours({"image": image}),
            "histeq's bare clahe": lambda: histeq.clahe(image.as_tensor(), axes=(-2, -1), tiles=8),
        },
        repeat,
    )


def case_compat_clahe(repeat):
    import cv2

    img = _camera(2048).astype(np.uint8)
    assert np.array_equal(histeq.clahe(img, tiles=8, compat="opencv"), cv2.createCLAHE(2.0, (8, 8)).apply(img))
    return _against_cv2_clahe("CLAHE compat='opencv' uint8 2048x2048", img, repeat, compat="opencv")


def case_compat_clahe_uint16(repeat):
    img = (_camera(2048) * 180).astype(np.uint16)
    return _against_cv2_clahe("CLAHE compat='opencv' uint16 2048x2048", img, repeat, compat="opencv")


def case_compat_clahe_batch(repeat):
    batch = np.random.default_rng(1).integers(20, 200, (1800, 1, 96, 96), dtype=np.uint8)
    cv2_loop = _cv2_clahe_loop(batch)
    return "CLAHE compat='opencv' batch (1800,1,96,96) uint8", _time(
        {
            "histeq": lambda: histeq.clahe(batch, axes=(-2, -1), tiles=8, compat="opencv"),
            "cv2 CLAHE loop": cv2_loop,
        },
        max(3, repeat // 3),
    )


def case_compat_pillow_rgb(repeat):
    from PIL import Image, ImageOps

    rgb = _astronaut(2048)
    picture = Image.fromarray(rgb)
    assert np.array_equal(
        histeq.equalize(rgb, channel_axis=-1, compat="pillow"), np.asarray(ImageOps.equalize(picture))
    )
    return "equalize compat='pillow' RGB 2048x2048", _time(
        {
            "histeq": lambda: histeq.equalize(rgb, channel_axis=-1, compat="pillow"),
            "PIL.ImageOps.equalize": lambda: ImageOps.equalize(picture),
        },
        repeat,
    )


def _thread_counts():
    cores = histeq.get_num_threads()
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return counts + [cores] + ([16] if cores < 16 else [])  # 16 on a small machine: oversubscribed


def case_threads_equalize(repeat):
    img = _camera(2048).astype(np.uint8)
    return "equalize uint8 2048x2048 by threads", _time(
        {"histeq": lambda: histeq.equalize(img)}
        | {f"histeq threads={t}": (lambda t=t: histeq.equalize(img, threads=t)) for t in _thread_counts()},
        repeat,
    )


def case_threads_clahe(repeat):
    rng = np.random.default_rng(2)
    img = (_camera(2048) * 180 + rng.integers(0, 180, (2048, 2048))).astype(np.uint16)
    return "CLAHE uint16 2048x2048 by threads", _time(
        {"histeq": lambda: histeq.clahe(img, tiles=8, clip_limit=2.0)}
        | {
            f"histeq threads={t}": (lambda t=t: histeq.clahe(img, tiles=8, clip_limit=2.0, threads=t))
            for t in _thread_counts()
        },
        max(3, repeat // 3),
    )


CASES = [
    case_uint8,
    case_batch,
    case_uint16,
    case_float32,
    case_rgb_luma,
    case_rgb_lightness,
    case_clahe_uint8,
    case_clahe_uint16,
    case_clahe_batch,
    case_clahe_volume,
    case_clahe_volume_full_range,
    case_match_float32,
    case_match_rgb,
    case_exact,
    case_exact_uint16,
    case_exact_volume,
    case_per_call_equalize_96,
    case_per_call_equalize_4,
    case_types_equalize_2048,
    case_types_equalize_batch,
    case_types_clahe_2048,
    case_types_clahe_batch,
    case_per_sample_transform_96,
    case_per_call_clahe_96,
    case_pipeline_albumentations_96,
    case_pipeline_albumentations_equalize_96,
    case_pipeline_albumentations_uint16,
    case_pipeline_torchvision_96,
    case_pipeline_kornia_96,
    case_pipeline_monai_96,
    case_compat_clahe,
    case_compat_clahe_uint16,
    case_compat_clahe_batch,
    case_compat_pillow_rgb,
    case_threads_equalize,
    case_threads_clahe,
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="least rounds per contender order")
    parser.add_argument("--case", action="append", help="run only cases whose function name contains this")
    args = parser.parse_args(argv)
    print(f"histeq {histeq.__version__}, {histeq.get_num_threads()} threads\n")
    print("| case | contender | median | histeq / contender |")
    print("|---|---|---|---|")
    for case in CASES:
        if args.case and not any(c in case.__name__ for c in args.case):
            continue
        try:
            title, medians = case(args.repeat)
        except ImportError as exc:  # a peer (or histeq's adapter for it) that this environment lacks
            print(f"| {case.__name__} | skipped: {exc} | | |")
            continue
        ours = medians["histeq"]
        for name, t in medians.items():
            faster = f" ({t / ours:.1f}x faster)" if t > ours else ""
            ratio = "" if name == "histeq" else f"{ours / t:.3f}{faster}"
            shown = f"{t * 1e6:.1f} us" if t < 1e-3 else f"{t * 1e3:.2f} ms"
            print(f"| {title} | {name} | {shown} | {ratio} |")
    if not args.case:
        print("\n| input | peak NumPy memory during equalize / input size |")
        print("|---|---|")
        for name, ratio in peak_memory():
            print(f"| {name} 2048x2048 | {ratio:.2f} |")


if __name__ == "__main__":
    main()
