"""The Dask backend: Dask arrays, chunk by chunk, with results equal to the in-memory ones for any chunking.

Dask is imported only when a Dask array arrives (``pip install 'histeq[dask]'``).  One grey image is reduced
to one histogram (or one set of tile histograms) over its chunks and mapped chunk by chunk
(``operations``); batches and colour images go block by block over whole images, each block a request of the
CPU backend.
"""

from __future__ import annotations

from typing import Any

from histeq._arrays import is_dask
from histeq._backends.dask import operations
from histeq._request import Request


class DaskBackend:
    """Dask arrays, lazily."""

    name = "dask"

    def supports(self, request: Request) -> bool:
        return is_dask(request.image)

    def run(self, request: Request) -> Any:
        return operations.OPERATIONS[request.operation](request)


BACKEND = DaskBackend()
