"""The one way through: a public function's arguments, adapted, checked into a request and run by a backend.

Every public function is its signature, its docstring and one call, ``_dispatch.call(name, locals())``:

1. The CPU backend's fast cases (:data:`histeq._backends.cpu.FAST`): the commonest calls on one ndarray, in
   one step, so that a per-sample transform pays little more than the kernel.
2. The backends in order, GPU, Dask, CPU: the first whose ``supports`` accepts the request runs it.  The GPU
   backend takes tensors as they are (histeq never copies device data to the host behind the caller's back);
   the others take what the array adapter (``_adapter``) gives: NumPy or Dask arrays, converted back on the
   way out.

:func:`backend` prefers one backend for the calls in its block (tests and benchmarks: the GPU kernels on CPU
tensors under Triton's interpreter).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from histeq import _adapter, _arrays, _request
from histeq._backends import Backend, cpu, dask, gpu
from histeq._request import Operation

BackendName = Literal["auto", "gpu", "dask", "cpu"]

#: The backends, in the order they are asked.
BACKENDS: dict[str, Backend] = {"gpu": gpu.BACKEND, "dask": dask.BACKEND, "cpu": cpu.BACKEND}

#: The backends asked once the adapter has given NumPy or Dask arrays (the GPU backend was asked before it).
_AFTER_THE_ADAPTER = (dask.BACKEND, cpu.BACKEND)

_chosen: contextvars.ContextVar[str] = contextvars.ContextVar("histeq_backend", default="auto")


@contextlib.contextmanager
def backend(name: BackendName = "auto") -> Iterator[None]:
    """Prefer one backend for the calls inside the ``with`` block.

    By default (``"auto"``) each call goes to the first backend that supports it: the GPU backend for CUDA
    tensors, the Dask backend for Dask arrays, the CPU backend for everything else.  Naming a backend sends it
    every call it supports; the others go where they would go without it.

    Parameters
    ----------
    name : {'auto', 'gpu', 'dask', 'cpu'}
        ``'gpu'``: every PyTorch tensor, CPU tensors too (which is how the GPU kernels are tested without a GPU,
        under Triton's interpreter, ``TRITON_INTERPRET=1``).  ``'cpu'``: tensors and arrays on the CPU; a GPU
        tensor is refused with a TypeError, as histeq never copies device data to the host behind the caller's
        back.  ``'dask'``: Dask arrays, as by default.

    Examples
    --------
    >>> import numpy as np, histeq
    >>> image = np.array([[50, 50], [51, 60]], dtype=np.uint8)
    >>> with histeq.backend("cpu"):
    ...     histeq.equalize(image)
    array([[  0,   0],
           [128, 255]], dtype=uint8)
    """
    if name not in ("auto", *BACKENDS):
        raise ValueError(f"unknown backend {name!r}; expected one of 'auto', {', '.join(map(repr, BACKENDS))}")
    token = _chosen.set(name)
    try:
        yield
    finally:
        _chosen.reset(token)


def call(operation: Operation, arguments: dict[str, Any], clip_limits: tuple[float, ...] | None = None) -> Any:
    """The result of the public function ``operation`` called with ``arguments`` (every parameter by name).
    ``clip_limits``: per image of the leading axis, CLAHE's clip limits (a batched RandomCLAHE)."""
    image = arguments["image"]
    if type(image) is np.ndarray and clip_limits is None:
        fast = cpu.FAST.get(operation)
        if fast is not None:
            result = fast(arguments)
            if result is not None:
                return result
    chosen = _chosen.get()
    if (chosen == "gpu" and _arrays.is_tensor(image)) or (chosen == "auto" and _arrays.on_gpu(image)):
        return gpu.BACKEND.run(gpu.BACKEND.request(operation, arguments, clip_limits))
    arguments, crossing = _adapter.enter(operation, arguments)
    try:
        request = _request.make(operation, arguments, clip_limits)
        preferred = BACKENDS.get(chosen)
        if preferred is None or not preferred.supports(request):
            preferred = next(backend for backend in _AFTER_THE_ADAPTER if backend.supports(request))
        result = preferred.run(request)
    except (TypeError, ValueError) as exc:
        told = _adapter.explained(exc, arguments, crossing)
        if told is exc:
            raise
        raise told from exc
    return result if crossing is None else crossing.leave(result, operation in _request.IMAGE_RESULTS)
