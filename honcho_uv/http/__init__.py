"""The HTTP control API (aiohttp lives here, in the client and in daemon.py only).

:class:`HttpHandler` serves a Manager; :mod:`honcho_uv.http.client` talks to one.
"""

from honcho_uv.http.app import HttpHandler
from honcho_uv.http.binds import Bind, parse_bind

__all__ = ["Bind", "HttpHandler", "parse_bind"]
