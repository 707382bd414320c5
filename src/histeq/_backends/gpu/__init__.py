"""The GPU backend: PyTorch tensors on their device, through Triton kernels that follow the CPU core's phases.

PyTorch and Triton are imported only when a tensor arrives (``backend``); ``coverage`` says, as data, which
calls have a GPU path.  histeq never copies device data to the host and back behind the caller's back: a call
on a CUDA tensor outside the coverage gets a TypeError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from histeq import _arrays
from histeq._request import Operation, Request


class GpuBackend:
    """PyTorch tensors: CUDA ones, and CPU ones under Triton's interpreter when this backend is chosen."""

    name = "gpu"

    def supports(self, request: Request) -> bool:
        return _arrays.is_tensor(request.image)

    def request(
        self, operation: Operation, arguments: Mapping[str, Any], clip_limits: tuple[float, ...] | None
    ) -> Request:
        """The request of a call on a tensor, or a TypeError where the GPU path does not cover it."""
        from histeq._backends.gpu import backend

        return backend.request(operation, arguments, clip_limits)

    def run(self, request: Request) -> Any:
        from histeq._backends.gpu import backend

        return backend.run(request)


BACKEND = GpuBackend()
