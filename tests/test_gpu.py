"""The GPU backend (histeq._backends.gpu): its Triton kernels run here on CPU tensors under Triton's
interpreter, bit for bit with the CPU core (tests/_gpu_checks.py); on a machine with a GPU the same checks run on
CUDA tensors."""

import os
import re
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
    return subprocess.run(
        [sys.executable, _CHECKS, device, str(examples)], capture_output=True, text=True, timeout=900, env=env
    )


def test_the_kernels_equal_the_cpu_core_under_the_interpreter():
    """equalize, clahe, histogram, cumulative_distribution and the transforms through the door, the Triton
    kernels interpreted on CPU tensors, against the CPU core under hypothesis and on real images."""
    done = _run("cpu", 30, interpret=True)
    assert done.returncode == 0 and "checked" in done.stdout, done.stdout[-2000:] + done.stderr[-4000:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_kernels_equal_the_cpu_core_on_the_gpu():
    done = _run("cuda", 60, interpret=False)  # every new size compiles kernel variants: minutes, not seconds
    assert done.returncode == 0 and "checked" in done.stdout, done.stdout[-2000:] + done.stderr[-4000:]
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


#: Pointer arguments by name (the image's, ``tables`` and ``out``, take the image's dtype; ``weights_*`` the
#: plan's), scalars otherwise 32-bit integers.
_POINTERS = {
    "clips": "*fp64",
    "fractions": "*fp64",
    "values": "*fp64",
    "starts": "*i64",
    "sizes": "*i64",
    "target_of": "*i64",
    "low_y": "*i64",
    "high_y": "*i64",
    "low_x": "*i64",
    "high_x": "*i64",
    "weight_y": "*fp32",
    "weight_x": "*fp32",
    "counted": "*u8",
    "counts": "*i32",
    "ranges": "*i32",
    "bounds_z": "*i32",
    "bounds_y": "*i32",
    "bounds_x": "*i32",
    "lower_z": "*i32",
    "lower_y": "*i32",
    "lower_x": "*i32",
    "groups": "*fp64",
    "partial": "*fp64",
    "params": "*fp64",
    "levels": "*fp64",
    "slopes": "*fp64",
    "identity": "*i8",
}
_SCALARS = {"denominator": "i64", "span": "fp32", "scale": "fp32"}


def _variants():
    """(module, kernel, image dtype, weights, fused multiply-adds allowed, constexprs) of every kernel as the
    dispatch launches it, at the largest settings."""
    exact = {"fusion": False}
    corners = {"CORNERS_Z": 2, "CORNERS_Y": 2, "CORNERS_X": 2}
    return [
        ("_backends.gpu.equalize", "_histogram_kernel", "*u8", {"BLOCK": 4096, "LEVELS": 256, "MASKED": True}),
        *[
            ("_backends.gpu.equalize", "_table_kernel", "*u8", {"LEVELS": 256, "RULE": rule}, exact)
            for rule in (0, 1, 2)
        ],
        ("_backends.gpu.equalize", "_apply_kernel", "*u8", {"BLOCK": 4096, "LEVELS": 256}),
        *[
            (
                "_backends.gpu.equalize",
                "_whole_image_kernel",
                "*u8",
                {"BLOCK": 4096, "LEVELS": 256, "MASKED": True, "RULE": rule},
                exact,
            )
            for rule in (0, 1, 2)
        ],
        ("_backends.gpu.clahe", "_tile_histogram_kernel", "*u16", {"BLOCK": 4096, "LEVELS": 65536, "MASKED": True}),
        ("_backends.gpu.clahe", "_tile_histogram_kernel", "*i8", {"BLOCK": 4096, "LEVELS": 256, "MASKED": False}),
        (
            "_backends.gpu.clahe",
            "_byte_tile_tables_kernel",
            "*u8",
            {"BLOCK": 4096, "MASKED": True, "CLIPPED": True},
            exact,
        ),
        ("_backends.gpu.clahe", "_byte_tables_kernel", "*i8", {"CLIPPED": True}, exact),
        (
            "_backends.gpu.clahe",
            "_wide_tables_kernel",
            "*u16",
            {"LEVELS": 65536, "CHUNK": 4096, "GROUPS": 256, "CLIPPED": True},
            {"fusion": False, "warps": 8},
        ),
        ("_backends.gpu.clahe", "_interpolate_kernel", "*u8", {"BLOCK": 1024, "LEVELS": 256, "WIDE": False} | corners),
        (
            "_backends.gpu.clahe",
            "_interpolate_kernel",
            "*i16",
            {"BLOCK": 1024, "LEVELS": 65536, "WIDE": True} | corners,
        ),
        ("_backends.gpu.floats", "_stats_kernel", "*fp16", {"BLOCK": 1024, "MASKED": True}),
        ("_backends.gpu.floats", "_setup_kernel", "*fp32", {"CHUNK": 1024, "NBINS": 4096}, exact),
        ("_backends.gpu.floats", "_histogram_kernel", "*fp64", {"BLOCK": 1024, "NBINS": 4096, "MASKED": True}, exact),
        ("_backends.gpu.floats", "_levels_kernel", "*fp32", {"NBINS": 4096}, {"fusion": False, "warps": 8}),
        ("_backends.gpu.floats", "_map_kernel", "*fp16", {"BLOCK": 1024, "NBINS": 4096, "NARROW": True}, exact),
        (
            "_backends.gpu.clahe_float",
            "_tile_histogram_kernel",
            "*fp32",
            {"BLOCK": 4096, "NBINS": 4096, "MASKED": True},
            exact,
        ),
        (
            "_backends.gpu.clahe_float",
            "_maps_kernel",
            "*fp32",
            {"NBINS": 4096, "GROUPS": 256, "CLIPPED": True},
            {"fusion": False, "warps": 8},
        ),
        ("_backends.gpu.clahe_opencv", "_histogram_kernel", "*u16", {"BLOCK": 4096, "LEVELS": 65536}),
        ("_backends.gpu.clahe_opencv", "_tables_kernel", "*u8", {"LEVELS": 256, "CHUNK": 256}, exact),
        ("_backends.gpu.clahe_opencv", "_tables_kernel", "*u16", {"LEVELS": 65536, "CHUNK": 4096}, exact),
        ("_backends.gpu.clahe_opencv", "_blend_kernel", "*u8", {"BLOCK": 1024, "LEVELS": 256}, {"fusion": False}),
        *[
            (
                "_backends.gpu.match",
                "_tables_kernel",
                "*u16",
                {"LEVELS": 65536, "CHUNK": 4096, "STEP": step, "STEPS": 18, "SLACK": 1e-12},
                exact,
            )
            for step in (False, True)
        ],
        (
            "_backends.gpu.clahe_float",
            "_interpolate_kernel",
            "*fp64",
            {"BLOCK": 1024, "NBINS": 4096, "NARROW": False} | corners,
            {"fusion": False, "weights": "*fp64"},
        ),
    ]


@pytest.mark.parametrize("variant", _variants(), ids=lambda v: f"{v[0]}.{v[1]}-{v[2][1:]}")
def test_the_kernels_compile_for_an_h100(variant):
    """Every kernel compiles to an sm_90 cubin, which needs no GPU; those launched without fused multiply-adds
    (the float64 steps the CPU core rounds one by one) have none, and divide float64 correctly rounded."""
    import importlib
    import re

    triton = pytest.importorskip("triton")
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    module, name, image, constexprs, *options = variant
    options = options[0] if options else {}
    kernel = getattr(importlib.import_module(f"histeq.{module}"), name)
    signature = {}
    for arg in kernel.arg_names:
        if arg in constexprs:
            signature[arg] = "constexpr"
        elif arg in ("image", "tables", "out"):
            signature[arg] = image
        elif arg.startswith("weights_"):
            signature[arg] = options.get("weights", "*i64")
        elif arg == "out_lo" and image.startswith("*fp"):
            signature[arg] = "fp32"
        else:
            signature[arg] = _POINTERS.get(arg, _SCALARS.get(arg, "i32"))
    fusion = options.get("fusion", True)
    try:
        compiled = triton.compile(
            ASTSource(fn=kernel, signature=signature, constexprs=constexprs),
            target=GPUTarget("cuda", 90, 32),
            options={"enable_fp_fusion": fusion, "num_warps": options.get("warps", 4)},
        )
    except (ImportError, FileNotFoundError, RuntimeError) as exc:  # no NVIDIA backend or ptxas here
        if "ptxas" in str(exc) or isinstance(exc, (ImportError, FileNotFoundError)):
            pytest.skip(f"Triton cannot compile for CUDA here: {exc}")
        raise
    ptx = compiled.asm["ptx"]
    assert compiled.asm["cubin"]
    if not fusion:
        assert "fma.rn.f64" not in ptx and "fma.rn.f32" not in ptx
        assert not re.search(r"div\.(approx|full)\.f64|rcp\.approx[a-z.]*\.f64", ptx)
