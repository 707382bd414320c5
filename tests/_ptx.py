"""Every GPU kernel compiled for an H100 (sm_90) without a GPU, as the GPU backend launches it, with the
assembler's account of its registers and spills.

Triton decides at import whether it interprets kernels (``TRITON_INTERPRET``, which the suite turns on where
there is no GPU, so that the kernels run on CPU tensors): compiling needs it off, so where it is on,
``python tests/_ptx.py`` compiles the variants in a process of its own and prints the outcome of each as one
JSON line; ``python tests/_ptx.py --table`` prints the registers and spills of each as a Markdown table.
"""

import importlib
import json
import re
import subprocess
import sys
import tempfile

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


def variants():
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
        ("_backends.gpu.clahe_opencv", "_tables_kernel", "*u16", {"LEVELS": 65536, "CHUNK": 2048}, exact),
        ("_backends.gpu.clahe_opencv", "_blend_kernel", "*u8", {"BLOCK": 1024, "LEVELS": 256}, {"fusion": False}),
        *[
            (
                "_backends.gpu.match",
                "_tables_kernel",
                "*u16",
                {"LEVELS": 65536, "CHUNK": 1024, "STEP": step, "STEPS": 18, "SLACK": 1e-12},
                exact,
            )
            for step in (False, True)
        ],
        (
            "_backends.gpu.clahe_float",
            "_interpolate_kernel",
            "*fp64",
            {"BLOCK": 256, "NBINS": 4096, "NARROW": False} | corners,
            {"fusion": False, "weights": "*fp64"},
        ),
    ]


def compile_variant(variant) -> tuple[str, str]:
    """("ok", ""), ("skip", why) where Triton cannot compile for CUDA here, or ("fail", what went wrong): the
    kernel compiles to an sm_90 cubin, which needs no GPU; one launched without fused multiply-adds (the float64
    steps the CPU core rounds one by one) has none, and divides float64 correctly rounded."""
    import triton
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
            return "skip", f"Triton cannot compile for CUDA here: {exc}"
        return "fail", repr(exc)
    ptx = compiled.asm["ptx"]
    if not compiled.asm["cubin"]:
        return "fail", "no cubin"
    if not fusion and ("fma.rn.f64" in ptx or "fma.rn.f32" in ptx):
        return "fail", "a fused multiply-add in a kernel launched without them"
    if not fusion and re.search(r"div\.(approx|full)\.f64|rcp\.approx[a-z.]*\.f64", ptx):
        return "fail", "an approximate float64 division"
    return "ok", json.dumps(_resources(ptx))


#: The assembler's report of a kernel: "Used 40 registers, ..." and "0 bytes spill stores, 0 bytes spill loads".
_USED = re.compile(r"Used (\d+) registers")
_SPILLS = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")


def _resources(ptx: str) -> dict:
    """Registers per thread and bytes spilled to local memory, from ``ptxas -v`` (which needs no GPU) on the
    kernel's PTX for the H100, as Triton assembles it."""
    from triton.backends.nvidia.compiler import get_ptxas

    target = re.search(r"^\.target\s+(\S+)", ptx, re.MULTILINE).group(1)
    with tempfile.NamedTemporaryFile("w", suffix=".ptx") as source:
        source.write(ptx)
        source.flush()
        report = subprocess.run(
            [get_ptxas(90).path, f"-arch={target}", "-v", source.name, "-o", "/dev/null"],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
    stores, loads = (int(n) for n in _SPILLS.search(report).groups())
    return {"registers": int(_USED.search(report).group(1)), "spill_stores": stores, "spill_loads": loads}


def variant_id(variant) -> str:
    """The module, kernel, image dtype and settings: one name per variant."""
    settings = ",".join(f"{key}={value}" for key, value in variant[3].items())
    return f"{variant[0].rsplit('.', 1)[-1]}.{variant[1]}-{variant[2][1:]}-{settings}"


def _table(outcomes: dict) -> str:
    rows = ["| kernel (image dtype) | registers / thread | spill stores / loads (bytes) |", "|---|---|---|"]
    for name, (status, detail) in outcomes.items():
        if status != "ok":
            rows.append(f"| {name} | {status} | {detail} |")
            continue
        used = json.loads(detail)
        rows.append(f"| {name} | {used['registers']} | {used['spill_stores']} / {used['spill_loads']} |")
    return "\n".join(rows)


if __name__ == "__main__":  # every variant, compiled by Triton without its interpreter: one JSON line, or a table
    outcomes = {variant_id(variant): compile_variant(variant) for variant in variants()}
    print(_table(outcomes) if "--table" in sys.argv else json.dumps(outcomes))
