"""What the GPU path covers, as data: the one table from which ``backend`` decides which calls it takes, and from
which the refusal's words are written (``coverage_text``).  ``tests/package/test_docs.py`` holds the README's
list to it.

A call on a CUDA tensor takes the GPU path when its function is listed here, its image's dtype is one of the
function's, and every argument outside the function's keywords is at its ``NEUTRAL`` value; the
values of those keywords are then checked by the CPU path's rules, and the few values the kernels lack
(``limits``) refused with a TypeError of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

INTEGERS = ("uint8", "int8", "uint16", "int16")
FLOATS = ("float16", "float32", "float64")
#: The layout every GPU function takes; threads is a CPU setting, taken and ignored.
_LAYOUT = frozenset({"axes", "mask", "threads"})
#: The values of the arguments outside a function's GPU keywords at which they ask nothing of the kernels: a
#: call giving any other value is refused.  ``tests/package/test_dispatch.py`` checks that each is its signature's
#: default, so that a call at the defaults has its GPU path.
NEUTRAL = {
    "nbins": None,
    "in_range": None,
    "out_range": None,
    "channel_axis": None,
    "color": None,
    "channel_order": "rgb",
    "exact": False,
    "return_ties": False,
}
#: Spatial axes longer than one pixel the CLAHE kernels interpolate over.
MAX_AXES = 3


@dataclass(frozen=True)
class GpuFunction:
    """One public function's GPU path: the torch dtypes of its images, the keywords it takes at any value the
    CPU path takes (besides the image), and the values of those it does not have (words, for the refusal)."""

    name: str
    dtypes: tuple[str, ...]
    keywords: frozenset[str]
    limits: str = ""


FUNCTIONS = {
    entry.name: entry
    for entry in (
        GpuFunction(
            "equalize",
            INTEGERS + FLOATS,
            _LAYOUT | {"channel_axis", "color", "compat"},
            "color 'luma', 'value' or 'per-channel'; compat 'opencv' and 'pillow' of uint8",
        ),
        GpuFunction(
            "clahe",
            INTEGERS + FLOATS,
            _LAYOUT | {"tiles", "kernel_size", "spacing", "clip_limit", "channel_axis", "color", "compat"},
            f"at most {MAX_AXES} axes longer than one pixel; color 'luma', 'value' or 'per-channel'; "
            "compat 'opencv' of uint8 and uint16",
        ),
        GpuFunction("histogram", INTEGERS + FLOATS, _LAYOUT),
        GpuFunction("cumulative_distribution", INTEGERS + FLOATS, _LAYOUT),
        GpuFunction("match", INTEGERS, _LAYOUT | {"reference", "reference_mask"}, "grey images"),
        GpuFunction("specify", INTEGERS, _LAYOUT | {"histogram", "out_range", "alpha"}, "grey images"),
    )
}


def coverage_text() -> str:
    """The refusal's account of what the GPU path covers, from ``FUNCTIONS``."""
    parts = []
    for entry in FUNCTIONS.values():
        dtypes = "integers of 8 and 16 bits" if entry.dtypes == INTEGERS else "integers of 8 and 16 bits and floats"
        keywords = ", ".join(sorted(entry.keywords - {"threads"}))
        limits = f"; {entry.limits}" if entry.limits else ""
        parts.append(f"{entry.name} ({dtypes}; {keywords}{limits})")
    return (
        f"its GPU path so far covers {', '.join(parts)}, of images under 2**31 pixels, with every other "
        "argument at its default"
    )
