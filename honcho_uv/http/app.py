"""The HttpHandler application: the aiohttp app, its route table and middlewares, its listeners.

``manager.start(applications=[HttpHandler(binds=["unix:/run/x.sock", "tcp://127.0.0.1:5000"])])``

Guarantees:

* dispatch goes only through the explicit route table below (no reflection on names);
* every error is a JSON body ``{"error": code, "message": text}`` with a 4xx status; a 500
  means a bug, is logged with its traceback, and the body still carries no traceback;
* request bodies are capped at 1 MiB (413), header lines and fields at 8 KiB, headers at 64;
* each listening socket holds at most ``Limits.max_connections`` connections (429 and closed
  beyond), a first request head must arrive within ``Limits.header_timeout`` and a body
  within ``Limits.body_timeout`` (see :mod:`honcho_uv.http.limits`);
* the policy is checked at construction: a non-loopback bind without ``allow_remote`` and a
  token raises :class:`~honcho_uv.errors.ConfigError` before anything listens;
* :meth:`HttpHandler.stop` removes our socket files and ends every stream at once
  (synchronous, so nobody new can connect), then stops listening and closes the connections
  in a task awaited by :meth:`wait_closed`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from honcho_uv.console.logbuffer import LogBuffer
from honcho_uv.errors import HTTP_STATUS_CODES, HuError, InternalError, InvalidOption, RequestRefused, StateError
from honcho_uv.http import handlers_attach, handlers_pids, handlers_processes, handlers_streams
from honcho_uv.http.binds import Bind, Listener, bind_socket, check_policy, parse_bind
from honcho_uv.http.context import CTX, Context
from honcho_uv.http.limits import LIMITS, ConnectionGuard, Limits
from honcho_uv.http.security import Policy, security_middleware
from honcho_uv.http.streams import FeedRegistry
from honcho_uv.http.wire import MAX_BODY_BYTES, error_body

__all__ = ["HttpHandler", "build_app"]

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]



@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request head arrived: the connection is no longer subject to the first-request deadline."""
    guard = request.app[CTX].guard
    if guard is not None:
        guard.served(request.protocol)
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HuError as exc:
        status = exc.http_status if 400 <= exc.http_status < 600 else 400
        return web.json_response(error_body(exc.code, str(exc)), status=status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        response = web.json_response(error_body(HTTP_STATUS_CODES.get(exc.status, RequestRefused.code), message),
                                     status=exc.status)
        for header in ("WWW-Authenticate", "Allow"):
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
        return response
    except (asyncio.CancelledError, ConnectionError):
        raise
    except (web.RequestPayloadError, HttpProcessingError):
        # a body aiohttp cannot decode, read outside read_body(): the client's fault, not ours
        return web.json_response(error_body("bad_request", "the request body could not be read"), status=400)
    except Exception:
        log.exception("internal error in %s %s", request.method, request.path)
        return web.json_response(error_body(InternalError.code, "internal error (logged by the server)"), status=500)


def build_app(context: Context, limits: Limits | None = None) -> web.Application:
    """The aiohttp application: guard, error and security middlewares, then the route table."""
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[guard_middleware, error_middleware, security_middleware(context.policy, os.getuid())],
    )
    app[CTX] = context
    app[LIMITS] = limits or Limits()
    app.add_routes([*handlers_pids.routes(), *handlers_processes.routes(), *handlers_streams.routes(),
                    *handlers_attach.routes()])
    return app


class HttpHandler:
    """Serve the JSON API of a Manager on unix and TCP sockets (an application of the Manager).

    Args:
        binds: ``unix:/path`` and ``tcp://host:port`` addresses (``host`` defaults to 127.0.0.1;
            port 0 picks a free one, see :attr:`addresses`).
        listeners: sockets already listening (from :func:`~honcho_uv.http.binds.bind_socket`),
            served as well; the handler owns them from here and closes them at stop.
        token: the bearer token required on TCP (never logged).
        allow_remote: permit non-loopback TCP binds (a token is required too).
        allow_exec: permit adding/editing templates over TCP (always allowed on the unix socket).
        on_quit: called for ``POST /_quit`` (default: ``manager.stop()``).
        ui_url: gives the dashboard's URL with its token (``GET /ui``, owner's unix socket only).
        logs: the :class:`LogBuffer` serving ``/logs``; default: one is created and started
            with the handler.
        limits: connection cap and timeouts (:class:`~honcho_uv.http.limits.Limits`).
        log_dir: where the instances' log files are (``[gaffer] log_dir``): ``/logs`` of one
            instance reads them for the lines its ring buffer has dropped.

    Raises:
        ConfigError: a malformed bind, or the remote policy is not met (at construction).
    """

    def __init__(self, binds: Iterable[str | Bind] = (), *, listeners: Iterable[Listener] = (),
                 token: str | None = None, allow_remote: bool = False, allow_exec: bool | None = None,
                 on_quit: Callable[[], Any] | None = None, logs: LogBuffer | None = None,
                 limits: Limits | None = None, log_dir: Path | None = None,
                 ui_url: Callable[[], str | None] | None = None):
        # Invariant: _listeners holds the sockets we serve (and close); binds those to make at start.
        self._listeners: list[Listener] = list(listeners)
        self.binds = [b if isinstance(b, Bind) else parse_bind(b) for b in binds]
        if not self.binds and not self._listeners:
            raise InvalidOption("bind", "at least one address is needed")
        every_bind = [*self.binds, *(listener.bind for listener in self._listeners)]
        check_policy(every_bind, allow_remote=allow_remote, token=token)
        extra = frozenset(b.host for b in every_bind if b.kind == "tcp" and not b.loopback)
        self.policy = Policy(token=token or None, allow_exec=bool(allow_exec), extra_hosts=extra)
        self.on_quit = on_quit
        self.ui_url = ui_url
        self.logs = logs
        self._own_logs = logs is None
        self._log_dir = log_dir  # instances' log files: /logs reads them for lines the ring dropped
        self.addresses: list[str] = []
        self._runner: web.AppRunner | None = None
        self.limits = limits or Limits()
        self._servers: list[asyncio.AbstractServer] = []
        self.guard: ConnectionGuard | None = None
        self._context: Context | None = None
        self._feeds = FeedRegistry()
        self._closing: asyncio.Task[None] | None = None
        self.manager: Any = None

    # -- application protocol ------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, manager: Any) -> None:
        """Bind every address now (errors raise here), then serve from a task on *loop*."""
        if self._runner is not None:
            raise StateError("HttpHandler already started")
        self.manager = manager
        if self._own_logs:
            self.logs = LogBuffer(log_dir=self._log_dir)
            self.logs.start(loop, manager)
        try:
            for bind in self.binds:
                self._listeners.append(bind_socket(bind))
        except BaseException:
            self._release_sockets()
            if self._own_logs and self.logs is not None:
                self.logs.stop()
            raise
        self.addresses = [listener.address for listener in self._listeners]
        for address, listener in zip(self.addresses, self._listeners, strict=True):
            if not listener.bind.loopback:
                log.warning("the API listens on %s, reachable from other machines (token required)", address)
        context = self._context = Context(manager, self.policy, self._feeds, self.logs, self.on_quit,
                                                ui_url=self.ui_url)
        self._runner = web.AppRunner(build_app(context, self.limits), access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0, **self.limits.handler_args())
        self._starting = loop.create_task(self._serve())

    async def _serve(self) -> None:
        assert self._runner is not None and self._context is not None, "start() first"
        await self._runner.setup()
        server = self._runner.server
        assert server is not None, "set up above"
        loop = asyncio.get_running_loop()
        # Our own listeners instead of web.SockSite: each gets the guard's capped protocol factory.
        self.guard = self._context.guard = ConnectionGuard(server, self.limits, loop)
        for i, listener in enumerate(self._listeners):
            if self._closing is not None:
                return
            self._servers.append(await loop.create_server(self.guard.factory(i), sock=listener.sock, backlog=128))

    async def wait_started(self) -> None:
        """Wait until every site accepts connections (they queue in the backlog until then)."""
        await asyncio.shield(self._starting)

    def stop(self) -> None:
        """Remove our socket files and end the streams now; stop listening and close the
        connections in the background (see :meth:`wait_closed`)."""
        if self._runner is None or self._closing is not None:
            return
        self._feeds.close_all()
        for server in self._servers:
            server.close()  # nobody new can connect
        for listener in self._listeners:
            listener.unlink()
        if self._own_logs and self.logs is not None:
            self.logs.stop()
        self._closing = asyncio.get_event_loop().create_task(self._close())

    async def _close(self) -> None:
        assert self._runner is not None, "start() first"
        try:
            await asyncio.shield(self._starting)
        except Exception:
            log.exception("the HTTP server failed to start")
        for server in self._servers:
            server.close()
        await self._runner.cleanup()
        if self.guard is not None:
            self.guard.close()
        self._release_sockets()

    async def wait_closed(self) -> None:
        """Wait until every connection is closed after :meth:`stop`."""
        if self._closing is not None:
            await asyncio.shield(self._closing)

    def restart(self) -> None:
        """Listeners and streams are kept across a Manager restart."""

    def _release_sockets(self) -> None:
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()
