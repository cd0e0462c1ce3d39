"""The Dashboard: an application of the Manager serving the live web page on its own port.

``manager.start(applications=[Dashboard("127.0.0.1:8123", logs=logs)])``; its
:attr:`~Dashboard.url` (with the token) is what ``hu start --ui`` prints and ``hu ui`` asks
for over the owner's control socket.

Guarantees:

* the address is checked and bound at construction, before anything is spawned: a malformed
  address, a port in use, or a non-loopback host without ``allow_remote`` raise
  :class:`~honcho_uv.errors.ConfigError` naming the ``--ui`` flag, and nothing listens;
* the token is fresh from :func:`secrets.token_urlsafe` (192 bits) unless one is given, and is
  shown only through :attr:`Dashboard.url`;
* the sampling timer, the log following and every page belong to the dashboard:
  :meth:`Dashboard.stop` ends them all at once and stops listening, and
  :meth:`Dashboard.wait_closed` returns when every connection is closed;
* this package is imported only when a dashboard is asked for (``--ui``): ``hu start``
  without it never loads it (tests/unit/test_dashboard_imports.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from typing import Any

from aiohttp import web

from honcho_uv.console.logbuffer import LogBuffer
from honcho_uv.errors import ConfigError, StateError
from honcho_uv.http.app import error_middleware  # errors as the API's JSON, one copy
from honcho_uv.http.binds import Bind, Listener, bind_socket, parse_bind
from honcho_uv.http.dashboard.actions import DASH, DashContext, routes
from honcho_uv.http.dashboard.auth import Gate, gate_middleware
from honcho_uv.http.dashboard.state import Hub
from honcho_uv.http.wire import MAX_BODY_BYTES

__all__ = ["Dashboard", "parse_ui_address"]

log = logging.getLogger(__name__)
MAX_CONNECTIONS = 64


def parse_ui_address(text: str, flag: str = "--ui") -> Bind:
    """``PORT``, ``:PORT``, ``HOST:PORT`` or ``[V6]:PORT`` -> a TCP :class:`Bind` (host
    127.0.0.1 by default).

    Raises:
        ConfigError: anything else, naming *flag*.
    """
    try:
        bind = parse_bind(text)
    except ConfigError as exc:
        raise ConfigError(f"{flag} {text!r}: expected [HOST:]PORT, such as 8123 or 127.0.0.1:8123") from exc
    if bind.kind != "tcp":
        raise ConfigError(f"{flag} {text!r}: expected [HOST:]PORT (the dashboard listens on TCP)")
    return bind


class Dashboard:
    """Serve the dashboard of a Manager (see the module docstring).

    Args:
        address: ``[HOST:]PORT`` or a :class:`Bind`; port 0 picks a free one.
        logs: the ring buffer to show and follow (``hu start``'s); default: one of its own,
            started with the dashboard.
        allow_remote: permit a non-loopback host (the token is always required).
        token: the secret of the URL (default: a fresh random one).
        flag: the option named in errors (``--ui``).
    """

    def __init__(self, address: str | Bind, *, logs: LogBuffer | None = None, allow_remote: bool = False,
                 token: str | None = None, flag: str = "--ui"):
        bind = address if isinstance(address, Bind) else parse_ui_address(address, flag)
        if not bind.loopback and not allow_remote:
            raise ConfigError(f"{flag} {bind.host}:{bind.port}: refusing to serve the dashboard on a non-loopback "
                              f"address without --allow-remote")
        try:
            self._listener: Listener | None = bind_socket(bind)
        except ConfigError as exc:
            raise ConfigError(f"{flag}: {exc}") from None
        self.bind = bind
        host, self.port = self._listener.sock.getsockname()[:2]
        self.host = socket.gethostname() if host in ("0.0.0.0", "::") else host
        self.token = token or secrets.token_urlsafe(24)
        self.gate = Gate(self.token, port=self.port, allow_remote=allow_remote)
        self.logs = logs
        self._own_logs = logs is None
        self.hub: Hub | None = None
        self._context: DashContext | None = None
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._serving: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    def __repr__(self) -> str:  # never show the token
        return f"<Dashboard {self.address}>"

    @property
    def address(self) -> str:
        """``http://HOST:PORT/``, without the token."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def url(self) -> str:
        """The address with ``?token=...``: whoever has it can control the processes."""
        return f"{self.address}?token={self.token}"

    # -- application protocol ------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, manager: Any) -> None:
        if self._runner is not None or self._listener is None:
            raise StateError("the dashboard was already started")
        if self._own_logs:
            self.logs = LogBuffer()
            self.logs.start(loop, manager)
        self.hub = Hub(manager)
        self.hub.start(loop)
        self._context = DashContext(manager, self.hub, self.logs)
        app = web.Application(client_max_size=MAX_BODY_BYTES,
                              middlewares=[error_middleware, gate_middleware(self.gate)])
        app[DASH] = self._context
        app.add_routes(routes())
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        self._serving = loop.create_task(self._serve())

    async def _serve(self) -> None:
        assert self._runner is not None and self._listener is not None, "start() first"
        await self._runner.setup()
        server = self._runner.server
        assert server is not None, "set up above"
        if self._closing is None:
            self._server = await asyncio.get_running_loop().create_server(server, sock=self._listener.sock,
                                                                          backlog=MAX_CONNECTIONS)

    async def wait_started(self) -> None:
        """Wait until the dashboard accepts connections."""
        if self._serving is not None:
            await asyncio.shield(self._serving)

    def stop(self) -> None:
        """Stop sampling and following, close every page, stop listening (the rest in
        the background: :meth:`wait_closed`)."""
        if self._closing is not None:
            return
        if self._context is not None:
            self._context.closing = True
            for page in list(self._context.pages):
                page.close()
        if self.hub is not None:
            self.hub.stop()
        if self._own_logs and self.logs is not None:
            self.logs.stop()
        if self._server is not None:
            self._server.close()
        self._closing = asyncio.get_event_loop().create_task(self._close())

    async def _close(self) -> None:
        if self._serving is not None:
            try:
                await asyncio.shield(self._serving)
            except Exception:
                log.exception("the dashboard failed to start")
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def wait_closed(self) -> None:
        if self._closing is not None:
            await asyncio.shield(self._closing)

    def restart(self) -> None:
        """The listener and the pages are kept across a Manager restart."""

    def close_unstarted(self) -> None:
        """Release the port of a dashboard that was never started (the run failed first)."""
        if self._runner is None and self._listener is not None:
            self._listener.close()
            self._listener = None
