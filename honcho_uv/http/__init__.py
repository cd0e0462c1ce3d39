"""The HTTP control API (aiohttp lives here, in the client and in daemon.py only).

:class:`HttpHandler` serves a Manager; :mod:`honcho_uv.http.client` talks to one.

Names are imported on first use (PEP 562): ``honcho_uv.http.binds`` can make listening
sockets without loading aiohttp, which ``hu start`` imports only when a client connects.
"""

import importlib
from typing import Any as _Any

_LAZY = {
    "Bind": "honcho_uv.http.binds",
    "HttpHandler": "honcho_uv.http.app",
    "Listener": "honcho_uv.http.binds",
    "parse_bind": "honcho_uv.http.binds",
}

__all__ = ["Bind", "HttpHandler", "Listener", "parse_bind"]


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'honcho_uv.http' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
