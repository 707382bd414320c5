"""CLAHE fitted on one image: its tile mappings, to apply to it or to patches of it, and their file format."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from histeq import _adapter
from histeq import _checks as _validate
from histeq import _chunks as _dask
from histeq._fitted import equalize as mapping
from histeq._kernels import MAX_AXES, core, dtype_info, require_tables, resolve_threads
from histeq._spec import Spec, bin_range, finite_range, histogram_bins, make_spec
from histeq._tiles import axis_plans, checked_clip_limit, output_bits, tile_counts
from histeq._types import Image

__all__ = ["ClaheMapping"]


def fixed_bins(image, info, mask, spec, lazy):
    """(spec with the bins fixed, whether any pixel is counted).  A data range becomes the counted finite range
    of the whole image, found first as the in-memory kernel does.  The kernel rescales an image with no counted
    pixel (floats, masks, data ranges); the count is taken in those cases only."""
    import dataclasses

    if not (spec.data_range or info.is_float or mask is not None):
        return spec, True
    vmin, vmax, count = (_dask.finite_range if lazy else finite_range)(image, mask)
    if not count or not spec.data_range:
        return spec if not spec.data_range else dataclasses.replace(
            spec, data_range=False, lo=info.lo, hi=info.hi
        ), bool(count)
    lo, hi = bin_range(vmin, vmax, info)
    return dataclasses.replace(spec, data_range=False, lo=lo, hi=hi), True


def _tile_histograms(block, block_mask, origin, shape, grid, info, spec):
    """{tile: counts} over the tiles that the chunk at ``origin`` overlaps (a pixel on a tile boundary counts in
    both tiles), from the whole image's tile bounds."""
    plans, _ = axis_plans(tuple(shape), tuple(grid), None)
    ranges = []
    for d, (plan, t) in enumerate(zip(plans, grid)):
        start, stop = plan[0][:t], plan[0][t:]
        ranges.append([k for k in range(t) if start[k] < origin[d] + block.shape[d] and stop[k] > origin[d]])
    found = {}
    for ks in itertools.product(*ranges):
        window = tuple(
            slice(
                max(int(plans[d][0][k]), origin[d]) - origin[d],
                min(int(plans[d][0][grid[d] + k]), origin[d] + block.shape[d]) - origin[d],
            )
            for d, k in enumerate(ks)
        )
        flat = np.ascontiguousarray(block[window], dtype=info.compute).reshape(1, -1)
        flat_mask = None if block_mask is None else np.ascontiguousarray(block_mask[window]).reshape(1, -1)
        counts = np.zeros((1, spec.nbins), dtype=np.int64)
        core.histogram(
            flat, flat_mask, counts, np.empty((1, 3)), histogram_bins(spec.nbins, spec.lo, spec.hi), threads=1
        )
        found[int(np.ravel_multi_index(ks, grid))] = counts[0]
    return found


def require_fitted_tables(info, shape, grid, nbins, lazy: bool = False) -> None:
    """Fitted tile mappings keep every tile's histogram and table over all the bins (no windows, unlike
    clahe's): refused when no sane call needs that much, and, for a Dask image, when they would not fit in
    memory beside the sums of the chunks' histograms in flight (a 16-bit volume of many tiles: 65536 bins
    each), which would otherwise end in the process being killed."""
    table_bytes = 16 * (nbins + 1) if info.is_float else np.dtype(info.compute).itemsize * nbins
    needed = math.prod(grid) * (8 * nbins + table_bytes)
    require_tables(
        2 * needed if lazy else needed,
        math.prod(shape) * info.dtype.itemsize,
        f"{'CLAHE of a Dask image, as' if lazy else 'fitted CLAHE'} mappings of {math.prod(grid)} tiles over "
        f"{nbins} bins,",
        _dask.available_memory() if lazy else 0,
    )


def _mapping_of_tiles(parts, info, shape, grid, clip, spec, rescale=False) -> ClaheMapping:
    """The ClaheMapping of the tiles' histograms, given as the chunks' {tile: counts}."""
    nbins = spec.nbins
    hists = np.zeros((math.prod(grid), nbins), dtype=np.int64)
    for part in parts:
        for tile, counts in part.items():
            hists[tile] += counts
    identity = np.zeros(len(hists), dtype=np.uint8)
    clip_limit = -1.0 if clip is None else clip
    if info.is_float:  # float64 levels and slopes
        table, slope = np.empty((len(hists), nbins + 1)), np.empty((len(hists), nbins + 1))
        core.clahe_float_maps(hists, identity, table, slope, spec.core, clip_limit, info.clip_groups)
    else:  # tables of the image's levels
        table, slope = np.empty((len(hists), nbins), dtype=info.compute), np.empty((0, 0))
        core.clahe_tables(hists, identity, table, spec.core, clip_limit, info.clip_groups)
    return ClaheMapping(
        str(info.dtype),
        tuple(int(n) for n in shape),
        tuple(int(t) for t in grid),
        int(nbins),
        float(spec.lo),
        float(spec.hi),
        float(spec.nominal_lo),
        float(spec.nominal_hi),
        float(spec.out_lo),
        float(spec.out_hi),
        identity,
        table,
        slope,
        rescale,
    )


def interpolate_block(block, fitted, offset, threads, block_info=None):
    location = [(a + o, b + o) for (a, b), o in zip(block_info[0]["array-location"], offset)]
    return fitted._interpolate(block, location, threads)


@dataclasses.dataclass(frozen=True, eq=False)
class ClaheMapping:
    """The tile mappings of a CLAHE, fitted on one image, to apply to it or to patches of it (any position).

    Build it with :func:`fit_clahe`; save it with :meth:`save` (a ``.npz``
    file, no pickle) and read it back with :meth:`load`.

    Examples
    --------
    >>> import numpy as np, histeq
    >>> scene = np.random.default_rng(2).integers(0, 3000, (120, 160), dtype=np.uint16)
    >>> fitted = histeq.fit_clahe(scene, tiles=4)
    >>> patch = fitted.apply(scene[40:80, 100:150], offset=(40, 100))
    >>> np.array_equal(patch, histeq.clahe(scene, tiles=4)[40:80, 100:150])
    True
    """

    dtype: str
    shape: tuple
    tiles: tuple
    nbins: int
    lo: float
    hi: float
    nominal_lo: float
    nominal_hi: float
    out_lo: float
    out_hi: float
    identity: np.ndarray = dataclasses.field(repr=False)
    table: np.ndarray = dataclasses.field(repr=False)
    slope: np.ndarray = dataclasses.field(repr=False)
    rescale: bool = False  # no pixel was counted: the identity rescale, as clahe does

    @_adapter.adapted
    def apply(self, image: Image, *, offset: Sequence[int] | None = None, threads: int | None = None) -> Image:
        """The CLAHE result of ``image``, a patch of the fitted image (same dtype and number of axes; NumPy or
        Dask) whose first pixel sits at ``offset`` (default: the origin) in the fitted image."""
        ndim = len(self.shape)
        offset = tuple(int(o) for o in (offset if offset is not None else (0,) * ndim))
        if len(offset) != ndim or np.ndim(image) != ndim:
            raise ValueError(
                f"this mapping was fitted on a {ndim}-D image; got a {np.ndim(image)}-D patch and offset {offset}"
            )
        if any(o < 0 or o + n > m for o, n, m in zip(offset, np.shape(image), self.shape)):
            raise ValueError(
                f"a patch of shape {np.shape(image)} at {offset} lies outside the fitted image {self.shape}"
            )
        if dtype_info(image.dtype).dtype != np.dtype(self.dtype):  # any byte order
            raise TypeError(f"this mapping was fitted on {self.dtype} images, got {image.dtype}")
        if _dask.is_dask(image):
            return image.map_blocks(interpolate_block, self, offset, threads, dtype=image.dtype)
        arr, _ = _validate.image(image)
        return self._interpolate(arr, [(o, o + n) for o, n in zip(offset, arr.shape)], threads)

    def _interpolate(self, block, location, threads):
        info = dtype_info(np.dtype(self.dtype))
        if self.rescale:
            return mapping.apply_rescale(block, self, info, resolve_threads(threads))
        plans, denominator = axis_plans(self.shape, self.tiles, output_bits(info, self.out_lo, self.out_hi))
        flat = np.ascontiguousarray(block, dtype=info.compute).reshape(1, -1)
        out = np.empty_like(flat)
        lut, level, slope = (None, self.table, self.slope) if info.is_float else (self.table, None, None)
        chunk_plan = core.TilePlan(
            np.array(block.shape, dtype=np.int64),
            np.array(self.tiles, dtype=np.int64),
            None,
            *(np.concatenate([plan[part][a:b] for plan, (a, b) in zip(plans, location)]) for part in (1, 2, 3)),
            denominator,
        )
        spec = Spec(self.nbins, False, self.lo, self.hi, self.nominal_lo, self.nominal_hi, self.out_lo, self.out_hi)
        core.clahe_chunk(
            flat, out, chunk_plan, spec.core, self.identity, lut, level, slope, threads=resolve_threads(threads)
        )
        return out.reshape(block.shape).astype(info.dtype, copy=False)

    def save(self, path) -> None:
        """Write the mapping to a ``.npz`` file (arrays and a JSON header; no pickle)."""
        import json

        from histeq.io import atomic_writer

        header = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("identity", "table", "slope")
        }
        with atomic_writer(path) as f:
            np.savez(f, header=np.array(json.dumps(header)), identity=self.identity, table=self.table, slope=self.slope)

    @classmethod
    def load(cls, path) -> ClaheMapping:
        """Read a mapping written by :meth:`save`: every field checked against the arrays the file holds (a
        ValueError names what is wrong)."""
        from histeq._fitted import file as _mapping_file

        fields = tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("identity", "table", "slope"))
        checked = _mapping_file.read(path, fields, ("identity", "table", "slope"))
        info = checked.dtype()
        # An axis's interpolation plan takes about 40 bytes per pixel along it: 2**24 pixels is 640 MiB.
        shape = checked.ints("shape", 1, 1 << 24, MAX_AXES)
        tiles = checked.ints("tiles", 1, 1 << 24, MAX_AXES)
        if len(tiles) != len(shape) or any(t > n for t, n in zip(tiles, shape)):
            checked.fail("tiles", f"must hold one count per axis of {shape}, each at most its length")
        nbins = checked.number("nbins", integer=True, low=1, high=1 << 24)
        for low, high in (("lo", "hi"), ("nominal_lo", "nominal_hi"), ("out_lo", "out_hi")):
            checked.range(low, high)
        if not isinstance(checked.header["rescale"], bool):
            checked.fail("rescale", f"must be true or false, got {checked.header['rescale']!r}")
        ntiles = math.prod(tiles)  # the arrays must hold as many: their size bounds it
        identity = checked.array("identity", (ntiles,), "u")
        if identity.size and identity.max() > 1:
            checked.fail("identity", "must hold 0 or 1")
        if info.is_float and not checked.header["rescale"]:  # rescale: nothing was counted, no tables
            checked.array("table", (ntiles, nbins + 1), "f")
            checked.array("slope", (ntiles, nbins + 1), "f")
        elif not checked.header["rescale"]:
            table = checked.array("table", (ntiles, nbins), "iu")
            if table.dtype != info.compute:
                checked.fail("table", f"must be {info.compute}, got {table.dtype}")
        header = dict(checked.header, shape=shape, tiles=tiles)
        return cls(identity=identity, table=checked.arrays["table"], slope=checked.arrays["slope"], **header)


def fit(
    image: Any,
    *,
    tiles: tuple[int, ...],
    clip_limit: float | None,
    nbins: int | None,
    mask: Any,
    in_range: Any,
    out_range: Any,
    threads: int | None,
    kernel_size: object = None,
    spacing: object = None,
) -> ClaheMapping:
    """:func:`histeq.fit_clahe` of an ndarray or a Dask array (chunk by chunk), its arguments checked by the request
    (``tiles``: the request's counts, which ``kernel_size`` and ``spacing`` gave where they were given)."""
    lazy = _dask.is_dask(image)
    arr, info, m = _dask.one_image(image, mask)
    grid = tile_counts(tiles, tuple(arr.shape))
    if arr.ndim > MAX_AXES:  # fitted mappings keep every axis
        raise ValueError(f"fit_clahe takes at most {MAX_AXES} axes, got {arr.ndim}")
    clip = checked_clip_limit(clip_limit)
    spec = make_spec(
        info,
        _validate.nbins(nbins),
        _validate.value_range(in_range, info, "in_range"),
        _validate.value_range(out_range, info, "out_range"),
    )
    require_fitted_tables(info, arr.shape, grid, spec.nbins, lazy)
    spec, counted = fixed_bins(arr, info, m, spec, lazy)
    if not counted:
        return _mapping_of_tiles([], info, arr.shape, grid, clip, spec, rescale=True)
    if lazy:
        import dask

        return dask.compute(fit_chunked(arr, info, m, grid, clip, spec))[0]
    part = _tile_histograms(arr, m, (0,) * arr.ndim, arr.shape, grid, info, spec)
    return _mapping_of_tiles([part], info, arr.shape, grid, clip, spec)


def fit_chunked(image, info, mask, grid, clip, spec):
    import dask
    import dask.array as da

    chunk_mask = None if mask is None else da.broadcast_to(da.asarray(mask), image.shape).rechunk(image.chunks)
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]) for c in image.chunks]
    blocks = image.to_delayed()
    masks = None if chunk_mask is None else chunk_mask.to_delayed()
    parts = [
        dask.delayed(_tile_histograms)(
            blocks[index],
            None if masks is None else masks[index],
            tuple(int(starts[d][i]) for d, i in enumerate(index)),
            image.shape,
            grid,
            info,
            spec,
        )
        for index in np.ndindex(*blocks.shape)
    ]
    while len(parts) > _FAN_IN:  # a tree of sums: the chunks' histograms need not all be held at once
        parts = [dask.delayed(_summed)(parts[k : k + _FAN_IN]) for k in range(0, len(parts), _FAN_IN)]
    return dask.delayed(_mapping_of_tiles)(parts, info, image.shape, grid, clip, spec)


#: How many chunks' tile histograms one step of the reduction sums.
_FAN_IN = 8


def _summed(parts: list[dict]) -> dict:
    """The chunks' {tile: counts} summed tile by tile."""
    total: dict = {}
    for part in parts:
        for tile, counts in part.items():
            if tile in total:
                total[tile] += counts
            else:
                total[tile] = counts.copy()
    return total
