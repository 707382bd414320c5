"""Binning and output ranges of one call, derived from the dtype table and the arguments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._kernels import DtypeInfo


@dataclass(frozen=True)
class Spec:
    """Keyword arguments of the equalize/histogram kernels.

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

    def histogram_kwargs(self) -> dict:
        return dict(nbins=self.nbins, data_range=self.data_range, lo=self.lo, hi=self.hi)

    def equalize_kwargs(self) -> dict:
        return dict(self.__dict__)

    def table_kwargs(self) -> dict:
        """The fixed bins and ranges of kernels given tables (no data range)."""
        return {k: v for k, v in self.__dict__.items() if k != "data_range"}


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
