"""The HTTP control API (layer L4; aiohttp is imported here and, through it, by the daemon).

:class:`HttpHandler` serves a Manager; :mod:`honcho_uv.http.client` talks to one.

Names are imported on first use (PEP 562): ``honcho_uv.http.binds`` can make listening
sockets without loading aiohttp, which ``hu start`` imports only when a client connects.
"""

from honcho_uv._lazy import lazy_exports as _lazy_exports

_LAZY = {
    "Bind": "honcho_uv.http.binds",
    "HttpHandler": "honcho_uv.http.app",
    "Listener": "honcho_uv.http.binds",
    "parse_bind": "honcho_uv.http.binds",
}

__all__ = ["Bind", "HttpHandler", "Listener", "parse_bind"]


__getattr__, __dir__ = _lazy_exports(globals(), _LAZY)
