"""The live web dashboard of ``hu start --ui`` and ``hu daemon --ui`` (docs/dashboard.rst).

``server`` (the :class:`Dashboard` application and its listener), ``auth`` (token, cookie,
Host and Origin checks, security headers), ``state`` (the table, history and events, sampled
once for every page), ``session`` (one page's websocket and its bounded queues), ``actions``
(routes and POST actions), and ``static/`` (the page: plain HTML, CSS and ES modules, no
build step and no request outside its own origin).

Importing this package loads aiohttp: only ``--ui`` does.
"""

from honcho_uv.http.dashboard.server import Dashboard, parse_ui_address

__all__ = ["Dashboard", "parse_ui_address"]
