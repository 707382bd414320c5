"""Fit once, apply many: a global equalization learned from one image, applied to others or to patches."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from histeq import _adapter
from histeq import _checks as _validate
from histeq import _chunks as _dask
from histeq._kernels import DtypeInfo, core, dtype_info, require_tables, resolve_threads
from histeq._spec import bin_range, finite_range, histogram_bins, make_spec, rescale_ranges
from histeq._types import Image

__all__ = ["EqualizeMapping", "fit_equalize"]


@dataclass(frozen=True)
class EqualizeMapping:
    """A global mapping of values: an equalization (:func:`fit_equalize`), a
    matching (:func:`histeq.fit_match`) or a specification
    (:func:`histeq.fit_specify`), as the functions of those names compute it.

    ``kind``: ``"table"`` (integers: ``table[k]`` is the output of bin ``k``
    of ``nbins`` over the levels [lo, hi]), ``"levels"`` (floats: the output
    at each of the nbins + 1 edges of [lo, hi], linear in between),
    ``"pieces"`` (floats and 32-bit integers: a value at position t, in bins
    of [lo, hi], maps to ``values[1, p] + (t - values[0, p]) values[2, p]``
    for the last piece p starting at or below t; every bin edge starts a
    piece; integers computed in float64 and rounded halves up; files of
    the former kind ``"segments"``, one piece per bin, still load), ``"rescale"``
    (nothing to equalize: linear from [nominal_lo, nominal_hi] to [out_lo,
    out_hi]) or ``"identity"`` (nothing counted: values kept).  Save it with
    :meth:`save` (a ``.npz`` file, no pickle) and read it back with
    :meth:`load`.

    Examples
    --------
    Fit on a whole scene, save, and apply to a patch later:

    >>> import numpy as np, histeq, os, tempfile
    >>> scene = np.random.default_rng(1).integers(0, 4000, (256, 256), dtype=np.uint16)
    >>> path = os.path.join(tempfile.mkdtemp(), "scene.npz")
    >>> histeq.fit_equalize(scene).save(path)
    >>> patch = histeq.EqualizeMapping.load(path).apply(scene[64:128, :32])
    >>> np.array_equal(patch, histeq.equalize(scene)[64:128, :32])
    True
    """

    dtype: str
    kind: str
    lo: float
    hi: float
    nbins: int
    nominal_lo: float
    nominal_hi: float
    out_lo: float
    out_hi: float
    values: np.ndarray = field(repr=False)

    @_adapter.adapted
    def apply(self, image: Image, *, threads: int | None = None) -> Image:
        """Map ``image`` (same dtype as the fitted one, any shape; NumPy or Dask) through the mapping.

        Examples
        --------
        >>> import numpy as np, histeq
        >>> scene = np.array([[10, 10], [20, 40]], dtype=np.uint8)
        >>> mapping = histeq.fit_equalize(scene)
        >>> mapping.apply(np.array([40, 20, 10, 30], dtype=np.uint8))
        array([255, 128,   0, 128], dtype=uint8)
        """
        if _dask.is_dask(image):
            return image.map_blocks(apply_block, self, threads, dtype=np.dtype(self.dtype))
        arr, info = _validate.image(image)
        if info.dtype != np.dtype(self.dtype):
            raise TypeError(f"this mapping was fitted on {self.dtype} images, got {info.dtype}")
        return apply_block(arr, self, threads)

    def save(self, path) -> None:
        """Write the mapping to a ``.npz`` file (arrays and a JSON header; no pickle)."""
        from histeq.io import atomic_writer

        header = {name: getattr(self, name) for name in _FIELDS}
        with atomic_writer(Path(path)) as f:
            np.savez(f, header=np.array(json.dumps(header)), values=self.values)

    @classmethod
    def load(cls, path) -> EqualizeMapping:
        """Read a mapping written by :meth:`save`: every field checked against the arrays the file holds (a
        ValueError names what is wrong)."""
        from histeq._fitted import file as _mapping_file

        checked = _mapping_file.read(path, _FIELDS, ("values",))
        info = checked.dtype()
        kind = checked.choice("kind", _KINDS)
        nbins = checked.number("nbins", integer=True, low=0 if kind in ("rescale", "identity") else 1, high=1 << 24)
        checked.range("lo", "hi")
        for low, high in (("nominal_lo", "nominal_hi"), ("out_lo", "out_hi")):
            lo, hi = checked.range(low, high)
            if not info.is_float and not (info.lo <= lo and hi <= info.hi and lo == int(lo) and hi == int(hi)):
                checked.fail(f"{low}, {high}", f"must be integers inside the {info.dtype} range")
        values = checked.arrays["values"]
        if kind == "table":
            checked.array("values", (nbins,), "iu")
            if values.size and not (info.lo <= values.min() and values.max() <= info.hi):
                checked.fail("values", f"must lie inside the {info.dtype} range")
        elif kind == "levels":
            checked.array("values", (nbins + 1,), "f")
        elif kind == "segments":
            checked.array("values", (2, nbins + 1), "f")
        elif kind == "pieces":
            if values.ndim != 2 or values.shape[0] != 3:
                checked.fail("values", f"must have shape (3, pieces), got {values.shape}")
            checked.array("values", values.shape, "f")
            start = values[0]
            if not (np.all(np.diff(start) > 0) and np.isin(np.arange(nbins + 1), start).all()):
                checked.fail("values", "must start pieces in ascending order at every bin edge 0..nbins")
        return cls(values=values, **checked.header)


_FIELDS = ("dtype", "kind", "lo", "hi", "nbins", "nominal_lo", "nominal_hi", "out_lo", "out_hi")
_KINDS = ("table", "levels", "pieces", "segments", "rescale", "identity")


def fit_equalize(image, *, nbins, mask, in_range, out_range, threads):
    """The CPU backend's :func:`histeq.fit_equalize` (its arguments checked by the request)."""
    lazy = _dask.is_dask(image)
    arr, info, m = _dask.one_image(image, mask)
    spec = make_spec(
        info,
        _validate.nbins(nbins),
        _validate.value_range(in_range, info, "in_range"),
        _validate.value_range(out_range, info, "out_range"),
    )
    nthreads = resolve_threads(threads)
    require_tables(24 * spec.nbins, math.prod(arr.shape) * info.dtype.itemsize, f"histograms of {spec.nbins} bins")
    lo, hi = spec.lo, spec.hi
    if spec.data_range or info.is_float:  # floats: a constant image is rescaled, whatever the bins (as equalize)
        vmin, vmax, count = (_dask.finite_range if lazy else finite_range)(arr, m)
        if count == 0 or (info.is_float and vmin == vmax):
            return rescale(info, spec)
        if spec.data_range:
            lo, hi = bin_range(vmin, vmax, info)
    counts = (_dask.histogram_counts if lazy else counts_in_bins)(arr, m, info, spec.nbins, lo, hi, nthreads)
    return from_counts(info, spec, lo, hi, counts)


def from_counts(info: DtypeInfo, spec, lo: float, hi: float, counts: np.ndarray) -> EqualizeMapping:
    """The mapping of a histogram ``counts`` over [lo, hi]: equalize's rule (see its Notes)."""
    common = dict(
        dtype=str(info.dtype),
        lo=float(lo),
        hi=float(hi),
        nbins=int(spec.nbins),
        nominal_lo=float(spec.nominal_lo),
        nominal_hi=float(spec.nominal_hi),
        out_lo=float(spec.out_lo),
        out_hi=float(spec.out_hi),
    )
    total = int(counts.sum())
    if info.is_float:
        if total == 0:
            return rescale(info, spec)
        below = np.concatenate([[0.0], np.cumsum(counts).astype(np.float64)])
        levels = spec.out_lo + (spec.out_hi - spec.out_lo) * (below / float(total))
        return EqualizeMapping(kind="levels", values=levels, **common)
    occupied = np.flatnonzero(counts)
    if occupied.size == 0 or total == int(counts[occupied[0]]):
        return rescale(info, spec)
    c_min = int(counts[occupied[0]])
    cum = np.cumsum(counts).astype(object)
    span, denominator = int(spec.out_hi - spec.out_lo), total - c_min
    # round(span (c - c_min) / (N - c_min)), halves up, in exact integers
    table = [
        int(spec.out_lo) + (2 * span * (c - c_min) + denominator) // (2 * denominator)
        if k >= occupied[0]
        else int(spec.out_lo)
        for k, c in enumerate(cum)
    ]
    return EqualizeMapping(kind="table", values=np.array(table, dtype=np.int64), **common)


def rescale(info, spec) -> EqualizeMapping:
    """The identity rule of equalize (nothing to equalize): linear from the nominal range to the output range."""
    return EqualizeMapping(
        dtype=str(info.dtype),
        kind="rescale",
        lo=float(spec.lo),
        hi=float(spec.hi),
        nbins=int(spec.nbins),
        nominal_lo=float(spec.nominal_lo),
        nominal_hi=float(spec.nominal_hi),
        out_lo=float(spec.out_lo),
        out_hi=float(spec.out_hi),
        values=np.zeros(0),
    )


def counts_in_bins(arr, mask, info, nbins, lo, hi, threads):
    """The histogram of the counted pixels of ``arr`` (one image) over ``nbins`` fixed bins of [lo, hi]."""
    flat = np.ascontiguousarray(arr, dtype=info.compute).reshape(1, -1)
    flat_mask = None if mask is None else np.ascontiguousarray(np.broadcast_to(mask, arr.shape)).reshape(1, -1)
    counts = np.empty((1, nbins), dtype=np.int64)
    core.histogram(flat, flat_mask, counts, np.empty((1, 3)), histogram_bins(nbins, lo, hi), threads=threads)
    return counts[0]


def _bins_of(values: np.ndarray, lo: float, hi: float, nbins: int) -> np.ndarray:
    """Integer bin of each value: level v's centre in [lo - 1/2 + k w, lo - 1/2 + (k + 1) w), w = levels / nbins."""
    v = np.clip(values.astype(np.int64), int(lo), int(hi)) - int(lo)
    return (2 * v + 1) * nbins // (2 * (int(hi) - int(lo) + 1))


def apply_block(block: np.ndarray, mapping: EqualizeMapping, threads) -> np.ndarray:
    info = dtype_info(block.dtype)
    threads = resolve_threads(threads)
    if block.size == 0:
        return block.copy()
    if mapping.kind == "rescale":
        return apply_rescale(block, mapping, info, threads)
    if mapping.kind == "identity":
        return block.copy()
    if mapping.kind in ("pieces", "segments", "levels"):
        work_info = info.mapped_as
        flat = np.ascontiguousarray(block, dtype=work_info.compute).reshape(1, -1)
        out = map_pieces(flat, np.array([[mapping.lo, mapping.hi]]), mapping.nbins, [_pieces_of(mapping)], threads)
        return info.cast(out.reshape(block.shape))
    if info.kind == "levels":  # one table entry per level of the dtype, then the kernel's lookup
        levels = np.arange(info.lo, info.hi + 1, dtype=np.int64)
        table = mapping.values[_bins_of(levels, mapping.lo, mapping.hi, mapping.nbins)].astype(info.dtype)
        flat = np.ascontiguousarray(block).reshape(1, -1)
        out = np.empty_like(flat)
        core.apply_lut(flat, table[None, :], out, lo=int(info.lo), threads=threads)
        return out.reshape(block.shape)
    # 32-bit integers: too many levels for a full table; bins computed here
    return mapping.values[_bins_of(block, mapping.lo, mapping.hi, mapping.nbins)].astype(info.dtype)


def _pieces_of(mapping: EqualizeMapping) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, level, slope) of a mapping of kind "pieces", "segments" or "levels"."""
    if mapping.kind == "pieces":
        return mapping.values[0], mapping.values[1], mapping.values[2]
    edges = np.arange(mapping.nbins + 1, dtype=np.float64)
    if mapping.kind == "segments":  # one piece per bin: (levels, slopes)
        return edges, mapping.values[0], mapping.values[1]
    return edges, mapping.values, np.append(np.diff(mapping.values), 0.0)


def map_pieces(flat: np.ndarray, ranges: np.ndarray, nbins: int, pieces: list, threads: int) -> np.ndarray:
    """Every image b of a float (B, P) array through its piecewise-linear map ``pieces[b]`` = (start, level,
    slope), its bins over ``ranges[b]``: a value at position t (in bins) maps to level[p] + (t - start[p])
    slope[p], p the last piece starting at or below t."""
    lengths = [len(start) for start, _, _ in pieces]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    start, level, slope = (
        np.ascontiguousarray(np.concatenate([p[i] for p in pieces]), dtype=np.float64) for i in range(3)
    )
    out = np.empty_like(flat)
    core.map_pieces(
        flat,
        out,
        np.ascontiguousarray(ranges, dtype=np.float64),
        nbins=int(nbins),
        offsets=offsets,
        start=start,
        level=level,
        slope=slope,
        threads=threads,
    )
    return out


def apply_rescale(block, mapping, info, threads=1):
    """The identity rule of equalize, linear from the nominal range to the output range (``mapping``'s), by the
    core's implementation of it, as the in-memory kernels apply it."""
    flat = np.ascontiguousarray(block, dtype=info.compute).reshape(1, -1)
    out = np.empty_like(flat)
    core.rescale(
        flat, out, rescale_ranges(mapping.nominal_lo, mapping.nominal_hi, mapping.out_lo, mapping.out_hi), threads
    )
    return out.reshape(np.shape(block)).astype(info.dtype, copy=False)
