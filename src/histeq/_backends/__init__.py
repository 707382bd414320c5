"""The backends: each says whether it supports a request and runs it (``_dispatch`` asks them in order)."""

from __future__ import annotations

from typing import Any, Protocol

from histeq._request import Request


class Backend(Protocol):
    """What the dispatcher asks of a backend."""

    name: str

    def supports(self, request: Request) -> bool: ...

    def run(self, request: Request) -> Any: ...
