"""The seam between Python and the compiled core: the one dtype table.

Every public function looks its input's dtype up here.  The table says how the
dtype is binned, its nominal range, the dtype the kernels compute in, and
whether colour modes support it.  The compiled module refuses every dtype that
is not listed (it never converts implicitly), so a dtype that is missing here
cannot slip through.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

try:
    from histeq import _core
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    raise ImportError(
        "histeq's compiled core (histeq._core) could not be imported: "
        f"{exc}.\nhisteq must be built and installed, not imported from a source "
        "checkout.  From the project root run:\n\n    pip install .\n\n"
        "which needs a C++17 compiler (g++ or clang++) and CMake >= 3.18 "
        "(fetched from PyPI automatically)."
    ) from exc

from histeq._threads import get_num_threads, resolve_threads, set_num_threads  # noqa: E402 - re-exported for the kernels

__all__ = ["DtypeInfo", "dtype_info", "set_num_threads", "get_num_threads", "resolve_threads", "core"]

core = _core

#: Default number of bins for floating-point images (and colour lightness).
FLOAT_NBINS = 4096
#: Default number of bins for 32-bit integer images, spread over each image's range.
WIDE_INT_NBINS = 65536
#: Upper bound on nbins: a histogram per image must stay small (the compiled core's limit).
MAX_NBINS: int = core.MAX_NBINS
#: CLAHE interpolates each pixel between 2**axes tiles: at most this many axes longer than one pixel.
MAX_AXES: int = core.MAX_AXES
#: Integer CLAHE interpolates exactly while weights x levels fit in this many bits (the core's limit).
EXACT_BITS: int = core.EXACT_BITS
#: CLAHE's clip limit is measured on this many groups of bins (the levels of an 8-bit image).
CLIP_GROUPS = 256
#: Working memory a call may take for histograms and tables, besides its input and output: this many bytes,
#: or 16 times the input's when that is more.  No sane call needs more (e.g. 2**24 bins for 16 tiny images);
#: a ValueError says so before anything is allocated.
TABLE_BUDGET = 256 << 20


def table_budget(image_bytes: int) -> int:
    """The bytes of tables a call on an input of ``image_bytes`` may take."""
    return max(TABLE_BUDGET, 16 * int(image_bytes))


def require_tables(needed: float, image_bytes: int, what: str, free: int = 0) -> None:
    """A ValueError when ``what`` would need more table memory than a call on this input may take, or than
    half of ``free`` (bytes of free memory, where the tables are all held at once; 0: not known)."""
    budget = table_budget(image_bytes)
    if free:
        budget = min(budget, free // 2)
    if needed > budget:
        raise ValueError(
            f"{what} would need {needed / 2**20:,.0f} MiB of histograms and tables, over the "
            f"{budget / 2**20:,.0f} MiB a call on this input may take{' (half the free memory)' if free else ''};"
            " use fewer bins or tiles (larger regions)"
        )


@dataclass(frozen=True)
class DtypeInfo:
    """How one dtype is handled.

    kind: ``"levels"`` (integers of at most 16 bits, one bin per level by
    default), ``"wide"`` (32-bit integers, binned over each image's range by
    default) or ``"float"``.  ``lo``/``hi`` is the nominal range: the dtype's
    range for integers, [0, 1] for floats.
    """

    dtype: np.dtype
    kind: str
    lo: float
    hi: float
    compute: np.dtype
    color: bool

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    def cast(self, values: np.ndarray) -> np.ndarray:
        """``values`` (results) in this dtype: integers rounded halves up, and both clipped to what the dtype
        holds (a float16 image matched to a reference above 65504 gets 65504, not inf); an infinity that was
        passed through (an image left as it is) stays one."""
        if self.is_float:
            largest = float(np.finfo(self.dtype).max)
            clipped = np.where(np.isinf(values), values, np.clip(values, -largest, largest))
            return clipped.astype(self.dtype, copy=False)
        return np.clip(np.floor(values + 0.5), self.lo, self.hi).astype(self.dtype)

    @property
    def clip_groups(self) -> int:
        """CLAHE's clip rule: 0 measures the limit on all bins (OpenCV's rule; 8-bit images), else on this
        many groups of bins over the image's counted range, so that deeper data clip as 8-bit data do."""
        return 0 if self.dtype.itemsize == 1 else CLIP_GROUPS

    @property
    def mapped_as(self) -> DtypeInfo:
        """The entry whose values matching and piecewise-linear mappings work on: 32-bit integers (too many
        levels for tables) as float64, which holds each of them exactly, the results rounded back; every other
        dtype as itself."""
        return dtype_info(np.float64) if self.kind == "wide" else self

    @property
    def default_nbins(self) -> int:
        if self.kind == "levels":
            return int(self.hi - self.lo + 1)
        return FLOAT_NBINS if self.is_float else WIDE_INT_NBINS


def _int_info(t: type, kind: str, color: bool) -> DtypeInfo:
    ii = np.iinfo(t)
    return DtypeInfo(np.dtype(t), kind, float(ii.min), float(ii.max), np.dtype(t), color)


def _float_info(t: type, compute: type) -> DtypeInfo:
    return DtypeInfo(np.dtype(t), "float", 0.0, 1.0, np.dtype(compute), True)


def _entry(name: str) -> DtypeInfo:
    """The table entry of a dtype the core is bound for: integers of at most 16 bits have one bin per level,
    wider ones bins over each image's range."""
    dtype = np.dtype(name)
    if dtype.kind == "f":
        return _float_info(dtype.type, dtype.type)
    if dtype.itemsize <= 2:
        return _int_info(dtype.type, "levels", dtype.kind == "u")
    return _int_info(dtype.type, "wide", False)


#: The dtypes the core computes (its own list, ``core.DTYPES``), and float16, which it has no kernels for:
#: computed in float32.
_ENTRIES = [_entry(name) for name in core.DTYPES]
_TABLE: dict[np.dtype, DtypeInfo] = {
    info.dtype: info
    for info in sorted(
        [*_ENTRIES, _float_info(np.float16, np.float32)], key=lambda info: (info.is_float, info.dtype.itemsize)
    )
}

#: NumPy's own uint8 and uint16 descriptors: the one-image fast paths take arrays whose dtype *is* one of these
#: (a byte-swapped or otherwise unusual dtype is another object, and takes the general path).
UINT8, UINT16 = np.dtype(np.uint8), np.dtype(np.uint16)

#: The names of the dtypes the kernels compute.
DTYPE_NAMES = tuple(str(d) for d in _TABLE)
SUPPORTED = ", ".join(DTYPE_NAMES) + " (and int64, uint64 as int32, uint32)"


def dtype_info(dtype: np.dtype) -> DtypeInfo:
    """The table entry for ``dtype`` (any byte order), or a TypeError naming the supported set."""
    dtype = np.dtype(dtype)
    native = dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype
    info = _TABLE.get(native)
    if info is None:
        hint = ""
        if native.kind == "b":
            hint = "; convert a boolean image with image.astype(np.uint8)"
        elif native.kind == "c":
            hint = "; equalize np.abs(image) or the real part of a complex image"
        raise TypeError(f"unsupported image dtype {dtype}; supported dtypes: {SUPPORTED}{hint}")
    return info
