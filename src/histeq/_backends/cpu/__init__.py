"""The CPU backend: NumPy arrays through the compiled core.

:data:`BACKEND` runs any request whose image is an ndarray (the array adapter has turned tensors, DataArrays,
masked arrays and sequences into one); :data:`FAST` holds the commonest calls in one step, which
``_dispatch.call`` tries first, before any request is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from histeq._backends.cpu import clahe, equalize, histogram, matching
from histeq._fitted import clahe as fitted_clahe
from histeq._fitted import equalize as fitted_equalize
from histeq._request import Request


def _by_name(operation: Callable[..., Any]) -> Callable[[Request], Any]:
    """An implementation that takes the request's arguments by name (its own checks read them)."""
    return lambda request: operation(**request.arguments)


#: Each operation's CPU implementation.
OPERATIONS: Mapping[str, Callable[[Request], Any]] = {
    "equalize": equalize.run,
    "clahe": clahe.run,
    "match": _by_name(matching.match),
    "specify": _by_name(matching.specify),
    "histogram": histogram.histograms,
    "cumulative_distribution": histogram.cumulative,
    "fit_equalize": _by_name(fitted_equalize.fit_equalize),
    "fit_clahe": lambda request: fitted_clahe.fit(**{**request.arguments, "tiles": request.tiles}),
    "fit_match": _by_name(matching.fit_match),
    "fit_specify": _by_name(matching.fit_specify),
}

#: The operations' fast cases: the result of a call's arguments (its image an ndarray), or None where the
#: call needs the whole way (the request, the checks, the layouts).
FAST: Mapping[str, Callable[[Mapping[str, Any]], Any]] = {
    "equalize": equalize.one_image,
    "clahe": clahe.one_image,
}


class CpuBackend:
    """NumPy arrays (and ndarray subclasses) through the compiled core."""

    name = "cpu"

    def supports(self, request: Request) -> bool:
        return isinstance(request.image, np.ndarray)

    def run(self, request: Request) -> Any:
        if request.clip_limits is not None:
            return clahe.per_image(request)
        return OPERATIONS[request.operation](request)


BACKEND = CpuBackend()
