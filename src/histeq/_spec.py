"""Binning and output ranges of one call, derived from the dtype table and the arguments."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ._kernels import DtypeInfo, core


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
        return core.Spec(self.nbins, self.data_range, self.lo, self.hi, self.nominal_lo, self.nominal_hi,
                         self.out_lo, self.out_hi)


def rescale_ranges(nominal_lo: float, nominal_hi: float, out_lo: float, out_hi: float) -> core.Spec:
    """The ``core.Spec`` of the identity rescale, which reads the nominal and output ranges only."""
    return core.Spec(1, True, 0.0, 1.0, nominal_lo, nominal_hi, out_lo, out_hi)


def histogram_bins(nbins: int, lo: float, hi: float, data_range: bool = False) -> core.Spec:
    """The ``core.Spec`` of a histogram kernel's call, which reads the bins only."""
    return core.Spec(nbins, data_range, lo, hi, 0.0, 1.0, 0.0, 1.0)


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
