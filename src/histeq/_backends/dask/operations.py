"""Each operation on a Dask array: one image reduced over its chunks, or blocks of whole images.

A block of whole images is an ndarray: it goes to the CPU backend as the same request with the block as its
image (:func:`_on_blocks`), so that a block's result is the in-memory call's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from histeq import _chunks as blocks
from histeq._backends import cpu
from histeq._backends.cpu import matching as cpu_matching
from histeq._backends.dask import clahe as dask_clahe
from histeq._backends.dask import histogram as dask_histogram
from histeq._backends.dask import mapping as dask_mapping
from histeq._request import Request
from histeq._spec import make_spec


def _on_blocks(request: Request) -> Callable[..., Any]:
    """``run(block, block_mask, **changes)``: the CPU backend's result of the request on one block."""

    def run(block: Any, block_mask: Any, **changes: Any) -> Any:
        return cpu.BACKEND.run(request.replaced(image=block, mask=block_mask, **changes))

    return run


def _by_images(request: Request, image: Any, mask: Any, spatial: tuple[int, ...], channel: int | None) -> Any:
    """Blocks of whole images, each the CPU backend's request with the block as its image."""
    run = _on_blocks(request)
    return blocks.by_image_blocks(
        image,
        mask,
        spatial,
        channel,
        lambda block, block_mask: run(block, block_mask, axes=spatial, channel_axis=channel),
    )


def equalize(request: Request) -> Any:
    """One global histogram for a whole grey array, otherwise blocks of whole images; exact equalization in
    memory, when it fits (one global order)."""
    a = request.arguments
    if a["exact"] is not False or a["return_ties"] is not False:
        return blocks.exact_in_memory(a["image"], a["mask"], "exact equalization", _on_blocks(request))
    image = a["image"]
    info, channel, spatial, mask = blocks.checked(image, a["mask"], a["channel_axis"], a["axes"])
    if channel is None and len(spatial) == image.ndim and a["color"] is None and request.compat is None:
        return dask_mapping.equalize(image, mask, request.nbins, request.in_range, request.out_range, a["threads"])
    return _by_images(request, image, mask, spatial, channel)


def clahe(request: Request) -> Any:
    """One grey image: the tile grid anchored to the whole array, tile histograms summed over the chunks, one
    set of tile mappings, each chunk interpolated with its offset -- equal to the in-memory result for any
    chunking.  Batches and colour: block by block over whole images."""
    a = request.arguments
    image = a["image"]
    info, channel, spatial, mask = blocks.checked(image, a["mask"], a["channel_axis"], a["axes"])
    if channel is None and len(spatial) == image.ndim and a["color"] is None and request.compat is None:
        spec = make_spec(info, request.nbins, request.in_range, request.out_range)
        return dask_clahe.clahe_chunked(image, info, mask, request.tiles, request.clip_limit, spec, a["threads"])
    return _by_images(request, image, mask, spatial, channel)


def match(request: Request) -> Any:
    a = request.arguments

    def grey_target(info: Any, bin_count: int, nthreads: int) -> Any:
        return cpu_matching.dask_reference_target(a["reference"], a["reference_mask"], info, bin_count, nthreads)

    return _matched(request, grey_target)


def specify(request: Request) -> Any:
    a = request.arguments

    def grey_target(info: Any, bin_count: int, nthreads: int) -> Any:
        weights = cpu_matching.target_weights(a["histogram"], a["alpha"])
        return cpu_matching.specify_target_of(weights, a["alpha"], info, request.out_range, "per-channel")

    return _matched(request, grey_target)


def _matched(request: Request, grey_target: Callable[..., Any]) -> Any:
    a = request.arguments
    return dask_mapping.matched(
        a["image"],
        a["mask"],
        a["nbins"],
        a["axes"],
        a["channel_axis"],
        a["color"],
        a["exact"],
        a["return_ties"],
        a["threads"],
        grey_target,
        _on_blocks(request),
    )


def _in_place(request: Request) -> Any:
    """The operations whose phases take Dask arrays as they take ndarrays (histograms, fitting)."""
    return cpu.OPERATIONS[request.operation](request)


OPERATIONS: Mapping[str, Callable[[Request], Any]] = {
    "equalize": equalize,
    "clahe": clahe,
    "match": match,
    "specify": specify,
    "histogram": lambda request: dask_histogram.histograms(**request.arguments),
    "cumulative_distribution": lambda request: dask_histogram.cumulative(**request.arguments),
    "fit_equalize": _in_place,
    "fit_clahe": _in_place,
    "fit_match": _in_place,
    "fit_specify": _in_place,
}
