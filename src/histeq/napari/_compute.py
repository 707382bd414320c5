"""One histeq call of a widget, computed off the interface's thread with progress and cancellation; no Qt here
(napari brings Dask).

A small layer is computed in one call.  A large one (over :data:`CHUNKED_BYTES`, or a Dask-backed layer) goes
through histeq's Dask path, chunk by chunk along its first axis, whose result equals the in-memory one for any
chunking: that makes the computation observable (the share of chunks done) and stoppable between chunks
(a cancelled job stops at the next chunk it would start).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Generator
from typing import Any

import dask.array as da
import numpy as np
from dask.callbacks import Callback

import histeq
from histeq._arrays import is_dask

#: Layers larger than this are computed chunk by chunk (progress, cancellation); smaller ones in one call.
CHUNKED_BYTES = 64 * 2**20
#: About how many chunks a large layer is cut into along its first axis.
_CHUNKS = 16
#: Seconds between progress reports.
_REPORT_EVERY = 0.1


class Cancelled(Exception):
    """The job was cancelled before it finished."""


class Job:
    """``histeq.<function>(image, **keywords)``, run by :meth:`steps`, stopped by closing that generator.

    Parameters
    ----------
    function : {"equalize", "clahe", "match"}
        The histeq function.
    image : ndarray or dask.array.Array
        The layer's data.
    keywords : dict
        The call's keywords.
    chunked_bytes : int, optional
        The size above which the job goes chunk by chunk; default :data:`CHUNKED_BYTES`.
    """

    def __init__(self, function: str, image: Any, keywords: dict[str, Any], chunked_bytes: int = CHUNKED_BYTES):
        self.function = getattr(histeq, function)
        self.image, self.keywords, self.chunked_bytes = image, keywords, chunked_bytes
        self._cancelled = threading.Event()

    def steps(self) -> Generator[float, None, np.ndarray]:
        """Compute the result, yielding the share done (0 to 1) as it goes; the generator's return value is the
        result.  Closing the generator (napari's ``worker.quit()``) cancels the job."""
        image = self.image
        if not is_dask(image) and np.asarray(image).nbytes <= self.chunked_bytes:
            yield 0.0
            return self.function(np.asarray(image), **self.keywords)
        if not is_dask(image):
            image = da.from_array(image, chunks=(max(1, image.shape[0] // _CHUNKS),) + image.shape[1:])
        lazy = self.function(image, **self.keywords)
        watch = _Watch(self._cancelled)
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="histeq-napari") as pool:
            future = pool.submit(_computed, lazy, watch)
            try:
                while not future.done():
                    yield watch.share()
                    concurrent.futures.wait([future], timeout=_REPORT_EVERY)
            finally:
                if not future.done():  # closed while running: stop at the next chunk
                    self._cancelled.set()
        return future.result()


def _computed(lazy: Any, watch: _Watch) -> np.ndarray:
    with watch:
        return np.asarray(lazy.compute())


class _Watch(Callback):  # type: ignore[misc]
    """Counts a computation's finished tasks; stops it before its next task once cancelled."""

    def __init__(self, cancelled: threading.Event):
        super().__init__()
        self.cancelled, self.total, self.done = cancelled, 1, 0

    def _start(self, dsk: Any) -> None:
        self.total = max(1, len(dsk))

    def _pretask(self, key: Any, dsk: Any, state: Any) -> None:
        if self.cancelled.is_set():
            raise Cancelled("cancelled")

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        self.done += 1

    def share(self) -> float:
        return min(1.0, self.done / self.total)
