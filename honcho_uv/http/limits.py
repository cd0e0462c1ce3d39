"""Connection limits of the HTTP API (reliability-anchors.md S-e).

aiohttp accepts every connection and leaves the cap to the application, so the cap lives
here, as the protocol factory of each listening socket:

* each listening socket holds at most ``max_connections`` connections at once; one more is
  answered ``429`` and closed at once (nothing is read), so a flood on the TCP port cannot
  lock the owner out of the unix socket, and memory stays bounded;
* a connection must complete its first request head within ``header_timeout`` seconds of
  being accepted, else it is closed (slowloris, idle sockets); this deadline is ours, not
  aiohttp's, so it holds on every aiohttp version;
* between requests a keep-alive connection may idle ``idle_timeout`` seconds, and a request
  body must arrive within ``body_timeout`` (408 otherwise, :func:`read_body`);
* header count, line and field sizes are aiohttp's parser limits (a 400 when exceeded), and
  the body of a refused request is drained for at most ``lingering_time`` seconds.

Timers exist only per connection (one one-shot deadline each): an idle server has none.

A request aiohttp cannot parse is answered 400 by aiohttp and logged by us as one short
DEBUG line naming the error class (:class:`QuietBadRequests`), not as an ERROR with a
traceback quoting the request: a client must not be able to fill the daemon's log with
tracebacks and its own 64 KiB request lines, nor get a token it sent written to it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from honcho_uv.errors import TooManyConnections

__all__ = ["LIMITS", "ConnectionGuard", "Limits", "QuietBadRequests", "read_body"]

_REFUSAL_BODY = json.dumps({"error": TooManyConnections.code, "message": "too many open connections; retry later"})
_REFUSAL = (
    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\n"
    f"Retry-After: 1\r\nContent-Length: {len(_REFUSAL_BODY)}\r\n\r\n{_REFUSAL_BODY}"
).encode()
#: Fallback only: a protocol with no transport this long after it was made never connected.
_CONNECT_GRACE_S = 5.0


@dataclass(frozen=True)
class Limits:
    """Per-server limits; the defaults suit a developer tool and a small daemon."""

    max_connections: int = 128  # per listening socket
    header_timeout: float = 10.0  # accept -> complete first request head
    idle_timeout: float = 60.0  # keep-alive between requests
    body_timeout: float = 10.0  # to receive a whole request body
    lingering_time: float = 2.0  # to drain the unread body of a refused request
    max_headers: int = 64
    max_line_size: int = 8190
    max_field_size: int = 8190

    def handler_args(self) -> dict[str, Any]:
        """The keyword arguments aiohttp's request handler takes for these limits."""
        data = asdict(self)
        return {"keepalive_timeout": data["idle_timeout"], "lingering_time": data["lingering_time"],
                "max_headers": data["max_headers"], "max_line_size": data["max_line_size"],
                "max_field_size": data["max_field_size"], "logger": QuietBadRequests(_server_log),
                "debug": False}  # debug=True would put tracebacks in aiohttp's own 500 bodies


_server_log = logging.getLogger("honcho_uv.http.server")


class QuietBadRequests(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger: a malformed request, or a client gone mid-request, is one
    truncated DEBUG line; any other exception keeps its ERROR and traceback (it is our bug)."""

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else None
        if isinstance(exc, (HttpProcessingError, web.RequestPayloadError, ConnectionError)):
            # the class name only: aiohttp's message quotes the request line, which may hold a token
            self.debug("bad request from a client (%s)", type(exc).__name__)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


LIMITS: web.AppKey[Limits] = web.AppKey("hu_limits", Limits)


class _Refuse(asyncio.Protocol):
    """Answer 429 and close: the connection is over the cap."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Duck-typed: uvloop's stream transports are not asyncio.WriteTransport subclasses (an
        # isinstance assert here dropped every refused connection without its 429 on uvloop).
        cast(asyncio.WriteTransport, transport).write(_REFUSAL)
        transport.close()


class _Conn:
    __slots__ = ("created", "listener", "seen", "served", "settled", "timer")

    def __init__(self, listener: int, created: float):
        self.listener = listener
        self.created = created
        self.seen = False  # observed with a transport (connected)
        self.settled = False  # connection_made has run by now, if it ever will
        self.served = False  # a complete request head arrived
        self.timer: asyncio.TimerHandle | None = None


def _settle(conn: _Conn) -> None:
    conn.settled = True


class ConnectionGuard:
    """The cap and the first-request deadline for every listening socket of one server.

    ``loop.create_server(guard.factory(i), sock=...)`` for listener *i*; the middleware calls
    :meth:`served` for each request so the deadline spares connections that sent one.
    """

    def __init__(self, server: web.Server, limits: Limits, loop: asyncio.AbstractEventLoop):
        self._server = server
        self.limits = limits
        self._loop = loop
        self._conns: dict[Any, _Conn] = {}
        self.refused = 0
        self.timed_out = 0

    def factory(self, listener: int) -> Any:
        def make() -> asyncio.BaseProtocol:
            now = time.monotonic()
            self._prune(now)
            if self.open_count(listener) >= self.limits.max_connections:
                self.refused += 1
                return _Refuse()
            protocol = self._server()
            conn = self._conns[protocol] = _Conn(listener, now)
            # The transport schedules connection_made (call_soon) right after this factory
            # returns; a callback queued behind it tells "not connected yet" from "gone".
            self._loop.call_soon(self._loop.call_soon, _settle, conn)
            if self.limits.header_timeout > 0:
                conn.timer = self._loop.call_later(self.limits.header_timeout, self._deadline, protocol)
            return protocol

        return make

    def open_count(self, listener: int | None = None) -> int:
        """Connections held now (on *listener*, or on all)."""
        return sum(1 for c in self._conns.values() if listener is None or c.listener == listener)

    def served(self, protocol: Any) -> None:
        conn = self._conns.get(protocol)
        if conn is not None and not conn.served:
            conn.served = True
            if conn.timer is not None:
                conn.timer.cancel()
                conn.timer = None

    def _prune(self, now: float) -> None:
        for protocol, conn in list(self._conns.items()):
            if protocol.transport is not None:
                conn.seen = True
            elif conn.seen or conn.settled or now - conn.created > _CONNECT_GRACE_S:
                self._forget(protocol)

    def _forget(self, protocol: Any) -> None:
        conn = self._conns.pop(protocol, None)
        if conn is not None and conn.timer is not None:
            conn.timer.cancel()

    def _deadline(self, protocol: Any) -> None:
        conn = self._conns.get(protocol)
        if conn is None:
            return
        conn.timer = None
        transport = protocol.transport
        if conn.served:
            return
        self._forget(protocol)
        if transport is not None:
            self.timed_out += 1
            transport.close()

    def close(self) -> None:
        for protocol in list(self._conns):
            self._forget(protocol)


async def read_body(request: web.Request) -> bytes:
    """The whole request body, within the server's ``body_timeout`` (408 when it is late).

    aiohttp itself stops at the app's ``client_max_size`` (413, counted after decompression).
    A body that cannot be decoded (a bad ``Content-Encoding``, a broken chunk) is a 400.
    """
    limits = request.app.get(LIMITS) or Limits()
    try:
        return await asyncio.wait_for(request.read(), limits.body_timeout)
    except TimeoutError:
        raise web.HTTPRequestTimeout(text=f"the request body did not arrive within {limits.body_timeout:g} s") from None
    except (web.RequestPayloadError, HttpProcessingError):
        raise web.HTTPBadRequest(text="the request body could not be read (bad encoding or framing)") from None
