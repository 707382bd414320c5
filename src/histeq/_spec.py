"""Binning and output ranges of one call, derived from the dtype table and the arguments."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from histeq._kernels import DtypeInfo, core


@dataclass(frozen=True)
class Spec:
    """One call's bins and ranges, as the kernels take them (``core``).

    Integer dtypes of at most 16 bits get one bin per level of ``in_range``
    (default: the dtype's range); 32-bit integers and floats are binned over
    ``in_range`` or, without it, over each image's own range (``data_range``).
    """

    nbins: int
    data_range: bool
    lo: float
    hi: float
    nominal_lo: float
    nominal_hi: float
    out_lo: float
    out_hi: float

    def __getstate__(self) -> dict:
        """The fields only: the bound ``core`` spec is made again where the spec is unpickled (Dask workers)."""
        return {name: value for name, value in self.__dict__.items() if name != "core"}

    @functools.cached_property
    def core(self) -> core.Spec:
        """The kernels' checked ``core.Spec``, made once per spec (a ValueError where a range is not finite)."""
        return core.Spec(
            self.nbins, self.data_range, self.lo, self.hi, self.nominal_lo, self.nominal_hi, self.out_lo, self.out_hi
        )


def rescale_ranges(nominal_lo: float, nominal_hi: float, out_lo: float, out_hi: float) -> core.Spec:
    """The ``core.Spec`` of the identity rescale, which reads the nominal and output ranges only."""
    return core.Spec(1, True, 0.0, 1.0, nominal_lo, nominal_hi, out_lo, out_hi)


def histogram_bins(nbins: int, lo: float, hi: float, data_range: bool = False) -> core.Spec:
    """The ``core.Spec`` of a histogram kernel's call, which reads the bins only."""
    return core.Spec(nbins, data_range, lo, hi, 0.0, 1.0, 0.0, 1.0)


def whole_level_bins(info: DtypeInfo, nbins: int, levels: float) -> int:
    """The number of bins of a histogram of ``levels`` integer levels asked for ``nbins``: integer data never
    get a bin narrower than one level, so at most one bin per level (floats: ``nbins``)."""
    return nbins if info.is_float else max(1, min(nbins, int(levels)))


def level_window(lo: float, hi: float, nbins: int, info: DtypeInfo) -> tuple[float, float]:
    """The range ``nbins`` integer bins span to cover [lo, hi] in whole levels: [lo, hi] itself when it holds
    at least ``nbins`` levels, else ``nbins`` levels from ``lo`` (ending at the dtype's top, when that comes
    first), one bin each."""
    if hi - lo + 1 >= nbins:
        return lo, hi
    top = min(lo + nbins - 1, max(hi, np.iinfo(info.compute).max))
    return top - nbins + 1, top


def counted_ranges(flat: np.ndarray, flat_mask: np.ndarray | None, threads: int) -> np.ndarray:
    """(B, 3): the lowest and highest counted value and the count of every image of integers ``flat`` (B, P);
    (0, 0, 0) for an image with no counted pixel."""
    ranges = np.empty((flat.shape[0], 3), dtype=np.float64)
    # One bin: the kernel's range is all that is wanted.
    core.histogram(
        flat,
        flat_mask,
        np.empty((flat.shape[0], 1), dtype=np.int64),
        ranges,
        histogram_bins(1, 0.0, 0.0, True),
        threads=threads,
    )
    return ranges


def counted_histograms(
    flat: np.ndarray, flat_mask: np.ndarray | None, info: DtypeInfo, spec: Spec, threads: int, fit_levels: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Counts (B, bins) and bin ranges (B, 3: lo, hi, counted) of the images of ``flat`` (B, P) under ``spec``.

    Integer data are counted in whole levels: with ``fit_levels`` there are at most as many bins as levels in
    the range (for ranges of their own, in the widest image's counted range), and an image whose range holds
    fewer levels than there are bins gets one bin per level (see level_window): its ``ranges`` row holds the
    range its bins span.  Floats: ``spec`` as it is."""
    batch = flat.shape[0]
    ranges = np.empty((batch, 3), dtype=np.float64)
    if info.is_float:
        counts = np.empty((batch, spec.nbins), dtype=np.int64)
        core.histogram(flat, flat_mask, counts, ranges, spec.core, threads=threads)
        return counts, ranges
    if not spec.data_range:
        nbins = whole_level_bins(info, spec.nbins, spec.hi - spec.lo + 1) if fit_levels else spec.nbins
        lo, hi = level_window(spec.lo, spec.hi, nbins, info)
        counts = np.empty((batch, nbins), dtype=np.int64)
        core.histogram(flat, flat_mask, counts, ranges, histogram_bins(nbins, lo, hi), threads=threads)
        return counts, ranges
    ranges = counted_ranges(flat, flat_mask, threads)
    levels = ranges[:, 1] - ranges[:, 0] + 1
    nbins = whole_level_bins(info, spec.nbins, levels.max()) if fit_levels else spec.nbins
    counts = np.empty((batch, nbins), dtype=np.int64)
    if np.all(levels >= nbins):
        core.histogram(flat, flat_mask, counts, ranges, histogram_bins(nbins, 0.0, 0.0, True), threads=threads)
        return counts, ranges
    for b in range(batch):
        lo, hi = level_window(ranges[b, 0], ranges[b, 1], nbins, info)
        core.histogram(
            flat[b : b + 1],
            None if flat_mask is None else flat_mask[b : b + 1],
            counts[b : b + 1],
            ranges[b : b + 1],
            histogram_bins(nbins, lo, hi),
            threads=threads,
        )
    return counts, ranges


def bin_centres(edges):
    """The centres of the bins of ``edges`` (..., nbins + 1), NumPy or PyTorch: the sum of the halves of two
    neighbouring edges, which is (a + b) / 2 to the last bit wherever that does not overflow (halving is exact)
    and never overflows (a sum or difference of edges near the float64 limit would)."""
    return edges[..., :-1] / 2 + edges[..., 1:] / 2


def make_spec(
    info: DtypeInfo,
    nbins: int | None,
    in_range: tuple[float, float] | None,
    out_range: tuple[float, float] | None,
) -> Spec:
    lo, hi = in_range if in_range is not None else (info.lo, info.hi)
    if info.kind == "levels":
        count = nbins if nbins is not None else int(hi - lo + 1)
        data_range = False
    else:
        count = nbins if nbins is not None else info.default_nbins
        data_range = in_range is None
    out_lo, out_hi = out_range if out_range is not None else (info.lo, info.hi)
    return Spec(count, data_range, lo, hi, lo, hi, out_lo, out_hi)


def bin_range(vmin: float, vmax: float, info: DtypeInfo) -> tuple[float, float]:
    """The bins of an image's own range, as the kernels choose them (floats: widened when constant)."""
    lo, hi = float(vmin), float(vmax)
    if info.is_float:
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        if lo == hi:
            with np.errstate(over="ignore"):  # next to the largest float lies infinity: refused below
                lo, hi = float(np.nextafter(lo, -np.inf)), float(np.nextafter(hi, np.inf))
        if not np.isfinite(hi - lo):
            raise ValueError(f"the image's values span [{vmin}, {vmax}], too wide for finite bins")
    return lo, hi


def finite_range(arr: np.ndarray, mask) -> tuple[float, float, int]:
    """(min, max, count) of the counted finite values of ``arr`` ((0, 0, 0) when there are none)."""
    values = arr if mask is None else arr[np.broadcast_to(mask, arr.shape)]
    if arr.dtype.kind == "f":
        values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 0.0, 0
    return float(values.min()), float(values.max()), int(values.size)
