"""Exact (strictly ordered) histogram specification: the pixel order and the assignment of levels by rank.

Used by ``equalize``, ``match`` and ``specify`` with ``exact=True``.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from histeq._kernels import core
from histeq._layout import BatchLayout

#: Neighbour shells after the pixel itself: with it, the K = 6 growing
#: neighbourhoods of Coltuc, Bolon & Chassery (2006) in 2-D.
SHELLS = 5


@functools.cache
def shells(ndim: int, count: int = SHELLS) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """The offsets of the first ``count`` shells: the discrete balls |d|^2 <= r^2, r^2 = 1, 2, 3, ..., minus the
    ball before, skipping radii that add no offset.  In 2-D: the 4 axial neighbours, the 4 diagonal ones, then
    the rings that grow the 3 x 3 square to the 5 x 5 one."""
    result = []
    radius2 = 0
    while len(result) < count:
        radius2 += 1
        reach = int(np.floor(np.sqrt(radius2)))
        shell = tuple(
            d for d in itertools.product(range(-reach, reach + 1), repeat=ndim) if sum(c * c for c in d) == radius2
        )
        if shell:
            result.append(shell)
    return tuple(result)


def order(flat: np.ndarray, layout: BatchLayout, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, ties) of every image of ``flat`` (B, P): pixel indices sorted by (value, neighbour shell sums,
    raster index), NaN last; ``ties[b]``: how many pixels have the same value and shell sums as the one before
    them in that order (ordered by raster index alone)."""
    # Axes of length 1 hold no neighbours (padding would only repeat the pixel): the order is that of the
    # image without them, and their cost nothing.
    spatial_shape = tuple(n for n in layout.spatial_shape if n > 1) or (layout.pixels,)
    ndim = len(spatial_shape)
    shell_offsets = shells(ndim)
    pad = max(max(abs(c) for d in shell for c in d) for shell in shell_offsets)
    images = flat.reshape((layout.batch,) + spatial_shape)
    padded = np.pad(images, [(0, 0)] + [(pad, pad)] * ndim, mode="symmetric")
    strides = np.array([int(np.prod(padded.shape[2 + a :])) for a in range(ndim)], dtype=np.int64)
    offsets = np.array([int(np.dot(d, strides)) for shell in shell_offsets for d in shell], dtype=np.int64)
    shell_start = np.concatenate([[0], np.cumsum([len(s) for s in shell_offsets])]).astype(np.int64)
    result = np.empty((layout.batch, layout.pixels), dtype=np.int64)
    ties = np.empty(layout.batch, dtype=np.int64)
    core.exact_order(
        np.ascontiguousarray(padded.reshape(layout.batch, -1)),
        result,
        ties,
        np.array(spatial_shape, dtype=np.int64),
        pad,
        offsets,
        shell_start,
        threads=threads,
    )
    return result, ties


def assign(
    flat: np.ndarray,
    pixel_order: np.ndarray,
    counted: np.ndarray | None,
    by_rank,
    dtype: np.dtype,
    uncounted=None,
    one_level: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(out, left): ``out`` (B, P) of ``dtype``, pixel ``pixel_order[b, r]`` getting ``by_rank(b, n)[k]``, k the
    number of counted pixels before it in the order (at most n - 1), n the image's count of counted pixels.  So
    the counted pixels take the n values in order and every other pixel the value of the next counted pixel (the
    last when none follows).  ``counted`` None: every pixel counts.

    An image with nothing to specify -- no counted pixel, or with ``one_level`` counted pixels that all share one
    value (equalize's rule: ties that only position could break are not split) -- becomes
    ``uncounted(its values)``, by default itself; ``left`` (B,) marks those images."""
    out = np.empty(flat.shape, dtype=dtype)
    left = np.zeros(flat.shape[0], dtype=bool)
    for b in range(flat.shape[0]):
        in_order = None if counted is None else counted[b][pixel_order[b]]
        n = flat.shape[1] if in_order is None else int(in_order.sum())
        if n == 0 or (one_level and _one_value(flat[b], pixel_order[b], in_order)):
            out[b] = flat[b] if uncounted is None else uncounted(flat[b])
            left[b] = True
        elif counted is None:  # every pixel counts: rank r gets value r
            out[b, pixel_order[b]] = by_rank(b, n)
        else:
            rank = np.cumsum(in_order) - in_order
            out[b, pixel_order[b]] = by_rank(b, n)[np.minimum(rank, n - 1)]
    return out, left


def _one_value(values: np.ndarray, order: np.ndarray, in_order: np.ndarray | None) -> bool:
    """Whether the counted ``values`` (some counted: ``in_order``, their flags in ``order``) are all one value:
    in value order, the first and the last counted ones are the extremes."""
    first, last = (0, -1) if in_order is None else (np.argmax(in_order), in_order.size - 1 - np.argmax(in_order[::-1]))
    return bool(values[order[first]] == values[order[last]])


def counts_from_weights(weights: np.ndarray, n: int) -> np.ndarray:
    """Integer counts summing to n, proportional to ``weights`` (largest remainders; ties to the lower level)."""
    share = weights / weights.sum() * n
    counts = np.floor(share).astype(np.int64)
    short = n - int(counts.sum())
    if short > 0:
        remainder = share - counts
        counts[np.argsort(-remainder, kind="stable")[:short]] += 1
    return counts
