"""Contrast-limited adaptive histogram equalization (CLAHE), in any number of dimensions."""

from __future__ import annotations

import atexit
import dataclasses
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from histeq import _adapter
from histeq import _checks as _validate
from histeq import _chunks as _dask
from histeq._backends.cpu import color as _color
from histeq._backends.cpu import peers as _compat
from histeq._fitted import equalize as mapping
from histeq._kernels import (
    MAX_AXES,
    UINT8,
    UINT16,
    DtypeInfo,
    core,
    dtype_info,
    get_num_threads,
    require_tables,
    resolve_threads,
    table_budget,
)
from histeq._layout import BatchLayout
from histeq._request import Request
from histeq._spec import Spec, bin_range, finite_range, histogram_bins, make_spec
from histeq._tiles import axis_plans, checked_clip_limit, kernel_plan, output_bits, tile_counts, without_singletons
from histeq._types import Image

__all__ = ["clahe", "fit_clahe", "ClaheMapping"]


def clahe(
    image,
    *,
    tiles,
    clip_limit,
    nbins,
    mask,
    axes,
    channel_axis,
    color,
    channel_order,
    in_range,
    out_range,
    compat,
    threads,
):
    """The CPU backend's :func:`histeq.clahe` (its arguments checked by the request)."""
    call = _validate.call(image, mask, nbins, in_range, out_range, channel_axis, axes)
    arr, info, channel, spatial = call.arr, call.info, call.channel, call.spatial
    grid = tile_counts(tiles, tuple(arr.shape[a] for a in spatial))
    mode = _validate.choice(compat, "compat", ("opencv",))
    clip = checked_clip_limit(clip_limit, opencv=mode is not None)
    nthreads = resolve_threads(threads)
    route = _route(call, mode, color)
    # Every argument is checked; one place per route does the work.
    if route == "opencv":
        return _compat.clahe_opencv(arr, info, spatial, grid, clip, nthreads)
    grey = functools.partial(_clahe_grey, tiles=grid, clip=clip)
    if route != "grey":  # a colour mode
        return _color.equalize(
            arr, info, channel, spatial, call.mask, route, call.nbins, call.in_range, nthreads, grey, fused=False
        )
    mask_per_channel = _validate.channel_mask(call.mask, channel, arr.shape)
    return grey(
        arr, info, spatial, mask_per_channel, make_spec(info, call.nbins, call.in_range, call.out_range), nthreads
    )


def _route(call: _validate.Call, compat: str | None, color) -> str:
    """Where a checked call goes: ``"opencv"`` (compat), a colour mode (the intensity of colour images), or
    ``"grey"`` (grey images, and colour images channel by channel); the arguments a route does not take are
    refused here."""
    if compat is not None:
        _compat.check_opencv_clahe(call.channel, call.mask, call.nbins, call.in_range, call.out_range, color)
        return "opencv"
    color_mode = _color.resolve_mode(color, call.channel, call.arr.shape, call.info, default="lightness")
    if call.channel is None or color_mode == "per-channel":
        return "grey"
    if call.out_range is not None:
        raise ValueError(f"out_range applies to grey and per-channel CLAHE, not color={color_mode!r}")
    return color_mode


def one_image(arguments: Mapping[str, Any]) -> np.ndarray | None:
    """The commonest call, one 2-D 8- or 16-bit image with a tile count and a clip limit, in one step (a
    per-sample transform pays little more than the kernel): what the full path computes, or None where the
    full path would check or lay out more (it then takes the call)."""
    image = arguments["image"]
    tiles, clip_limit = arguments["tiles"], arguments["clip_limit"]
    if (
        image.ndim == 2
        and (image.dtype is UINT8 or image.dtype is UINT16)
        and type(tiles) is int
        and type(clip_limit) in (float, int)
        and arguments["nbins"] is None
        and arguments["mask"] is None
        and arguments["axes"] is None
        and arguments["channel_axis"] is None
        and arguments["color"] is None
        and arguments["in_range"] is None
        and arguments["out_range"] is None
        and arguments["compat"] is None
        and arguments["threads"] is None
        and arguments["channel_order"] == "rgb"
    ):
        return _one_grey_image(image, tiles, clip_limit)
    return None


def per_image(request: Request) -> np.ndarray:
    """CLAHE of a batch, image k of the leading axis with clip limit ``request.clip_limits[k]`` (the draws of a
    ``transforms.RandomCLAHE``)."""
    image = request.image
    out = np.empty_like(image)
    for k, clip_limit in enumerate(request.clip_limits or ()):
        out[k] = clahe(**{**request.arguments, "image": image[k], "clip_limit": clip_limit})
    return out


def _one_grey_image(image: np.ndarray, tiles: int, clip_limit: float) -> np.ndarray | None:
    rows, cols = image.shape
    if not (
        1 < rows
        and 1 < cols
        and 1 <= tiles <= min(rows, cols)
        and 1 <= clip_limit < math.inf
        and image.flags.c_contiguous
        and image.flags.aligned
    ):
        return None
    info, value_bits, spec = _default_spec(image.dtype)
    out = np.empty_like(image)
    core.clahe(
        image.reshape(1, -1),
        None,
        out.reshape(1, -1),
        kernel_plan(image.shape, (tiles, tiles), value_bits),
        spec,
        clip_limit=float(clip_limit),
        clip_groups=info.clip_groups,
        table_budget=float(table_budget(image.nbytes)),
        threads=get_num_threads(),
    )
    return out


@atexit.register
def _release_kept_plans() -> None:
    """The kept specs are bound objects: released before the interpreter tears the extension down,
    which would otherwise report them as leaked."""
    _default_spec.cache_clear()


@functools.cache
def _default_spec(dtype: np.dtype) -> tuple[DtypeInfo, int, core.Spec]:
    """(dtype entry, bits of the output range, the kernel's spec) of a dtype's defaults."""
    info = dtype_info(dtype)
    spec = make_spec(info, None, None, None)
    return info, output_bits(info, spec.out_lo, spec.out_hi), spec.core


def _clahe_grey(
    arr: np.ndarray,
    info: DtypeInfo,
    spatial: tuple[int, ...],
    mask: np.ndarray | None,
    spec: Spec,
    threads: int,
    tiles: tuple[int, ...],
    clip: float | None,
) -> np.ndarray:
    layout = BatchLayout(arr.shape, spatial)
    flat = layout.flatten(arr, info.compute)
    flat_mask = None if mask is None else layout.flatten(mask)
    # An axis of length 1 is one tile whose neighbour has weight 0: dropped, it changes nothing.
    shape, tiles = without_singletons(layout.spatial_shape, tiles)
    plan = kernel_plan(shape, tiles, output_bits(info, spec.out_lo, spec.out_hi))
    out = np.empty_like(flat)
    core.clahe(
        flat,
        flat_mask,
        out,
        plan,
        spec.core,
        clip_limit=-1.0 if clip is None else clip,
        clip_groups=info.clip_groups,
        table_budget=float(table_budget(arr.nbytes)),
        threads=threads,
    )
    return layout.restore(out).astype(info.dtype, copy=False)


def clahe_chunked(image, info, mask, grid, clip, spec, threads):
    """One Dask image: tile histograms summed over the chunks, one ClaheMapping (delayed), each chunk
    interpolated with its offset."""
    _require_fitted_tables(info, image.shape, grid, spec.nbins)
    fixed, counted = _fixed_bins(image, info, mask, spec, lazy=True)
    if not counted:  # as the in-memory kernel: the identity rescale of the whole image
        return mapping.rescale(info, spec).apply(image, threads=threads)
    fitted = _clahe_chunked_fit(image, info, mask, grid, clip, fixed)
    return image.map_blocks(_interpolate_block, fitted, (0,) * image.ndim, threads, dtype=image.dtype)


def _fixed_bins(image, info, mask, spec, lazy):
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


def _require_fitted_tables(info, shape, grid, nbins) -> None:
    """Fitted tile mappings keep every tile's histogram and table over all the bins (no windows, unlike
    clahe's): refused when no sane call needs that much."""
    table_bytes = 16 * (nbins + 1) if info.is_float else np.dtype(info.compute).itemsize * nbins
    require_tables(
        math.prod(grid) * (8 * nbins + table_bytes),
        math.prod(shape) * info.dtype.itemsize,
        f"fitted CLAHE mappings of {math.prod(grid)} tiles over {nbins} bins",
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


def _interpolate_block(block, fitted, offset, threads, block_info=None):
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
            return image.map_blocks(_interpolate_block, self, offset, threads, dtype=image.dtype)
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


def fit_clahe(image, *, tiles, clip_limit, nbins, mask, in_range, out_range, threads):
    """The CPU backend's :func:`histeq.fit_clahe` (its arguments checked by the request)."""
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
    _require_fitted_tables(info, arr.shape, grid, spec.nbins)
    spec, counted = _fixed_bins(arr, info, m, spec, lazy)
    if not counted:
        return _mapping_of_tiles([], info, arr.shape, grid, clip, spec, rescale=True)
    if lazy:
        import dask

        return dask.compute(_clahe_chunked_fit(arr, info, m, grid, clip, spec))[0]
    part = _tile_histograms(arr, m, (0,) * arr.ndim, arr.shape, grid, info, spec)
    return _mapping_of_tiles([part], info, arr.shape, grid, clip, spec)


def _clahe_chunked_fit(image, info, mask, grid, clip, spec):
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
    return dask.delayed(_mapping_of_tiles)(parts, info, image.shape, grid, clip, spec)
