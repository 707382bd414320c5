"""Global equalization, matching and specification of a Dask array: one histogram over every chunk, one mapping
(delayed), applied block by block."""

from __future__ import annotations

from typing import Any

from histeq import _checks as _validate
from histeq import _chunks as _dask
from histeq._backends.cpu.matching import check_flags, fit_target
from histeq._fitted.equalize import apply_block, from_counts, rescale
from histeq._kernels import FLOAT_NBINS, dtype_info, resolve_threads
from histeq._spec import bin_range, make_spec


def equalize(arr: Any, mask: Any, nbins: Any, in_range: Any, out_range: Any, threads: Any) -> Any:
    """Global equalization of a grey Dask array: one histogram over every chunk, one mapping (delayed),
    applied block by block."""
    import dask

    info = dtype_info(arr.dtype)
    spec = make_spec(info, nbins, in_range, out_range)
    nthreads = resolve_threads(threads)
    lo, hi = spec.lo, spec.hi
    if spec.data_range:  # the range first, as the in-memory kernel does
        vmin, vmax, count = _dask.finite_range(arr, mask)
        if count == 0 or (info.is_float and vmin == vmax):
            return rescale(info, spec).apply(arr, threads=threads)
        lo, hi = bin_range(vmin, vmax, info)
    counts = _dask.histogram_counts(arr, mask, info, spec.nbins, lo, hi, nthreads, lazy=True)
    fitted = dask.delayed(from_counts)(info, spec, lo, hi, counts)
    return arr.map_blocks(apply_block, fitted, threads, dtype=arr.dtype)


def _map(arr: Any, info: Any, mask: Any, target: Any, nbins: int, threads: int) -> Any:
    """A whole grey Dask array onto one target: histograms reduced over the chunks, one mapping (delayed),
    applied block by block; equal to the in-memory result for any chunking."""
    fitted = fit_target(arr, info, mask, target, nbins, threads, lazy=True)
    return arr.map_blocks(apply_block, fitted, threads, dtype=info.dtype)


def matched(
    image: Any,
    mask: Any,
    nbins: Any,
    axes: Any,
    channel_axis: Any,
    color: Any,
    exact: Any,
    return_ties: Any,
    threads: Any,
    grey_target: Any,
    blockwise: Any,
) -> Any:
    """match or specify on a Dask array: a whole grey array through one global mapping, otherwise blocks of
    whole images through ``blockwise(block, block_mask, **keywords)``."""
    check_flags(exact, return_ties)
    if exact:  # one global order: in memory, when it fits
        return _dask.exact_in_memory(
            image,
            mask,
            "exact specification",
            lambda x, m: blockwise(
                x,
                m,
                nbins=nbins,
                axes=axes,
                channel_axis=channel_axis,
                color=color,
                exact=True,
                return_ties=return_ties,
                threads=threads,
            ),
        )
    info, channel, spatial, mask = _dask.checked(image, mask, channel_axis, axes)
    bin_count = _validate.nbins(nbins)
    if bin_count is not None and info.kind == "levels":
        raise ValueError(f"nbins applies to float and 32-bit integer images; {info.dtype} uses one bin per level")
    nthreads = resolve_threads(threads)
    if channel is None and len(spatial) == image.ndim and color is None:
        bin_count = bin_count or FLOAT_NBINS
        return _map(image, info, mask, grey_target(info, bin_count, nthreads), bin_count, nthreads)

    def one_block(block, block_mask):
        return blockwise(
            block, block_mask, nbins=nbins, axes=spatial, channel_axis=channel, color=color, threads=threads
        )

    return _dask.by_image_blocks(image, mask, spatial, channel, one_block)
