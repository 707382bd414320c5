"""CLAHE of one Dask image: its tile histograms summed over its chunks, each chunk interpolated with its
offset, equal to the in-memory result for any chunking."""

from __future__ import annotations

from typing import Any

from histeq._fitted import clahe as fitted
from histeq._fitted import equalize as mapping


def clahe_chunked(image: Any, info: Any, mask: Any, grid: Any, clip: Any, spec: Any, threads: Any) -> Any:
    """One Dask image: tile histograms summed over the chunks, one ClaheMapping (delayed), each chunk
    interpolated with its offset."""
    fitted.require_fitted_tables(info, image.shape, grid, spec.nbins, lazy=True)
    fixed, counted = fitted.fixed_bins(image, info, mask, spec, lazy=True)
    if not counted:  # as the in-memory kernel: the identity rescale of the whole image
        return mapping.rescale(info, spec).apply(image, threads=threads)
    mapping_of_tiles = fitted.fit_chunked(image, info, mask, grid, clip, fixed)  # delayed
    return image.map_blocks(fitted.interpolate_block, mapping_of_tiles, (0,) * image.ndim, threads, dtype=image.dtype)
