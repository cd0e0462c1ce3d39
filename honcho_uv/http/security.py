"""Who may talk to the API, and how: the security middleware.

Applied to every request before routing (reliability-anchors.md S-a..S-h):

* **unix socket**: the peer's uid (``SO_PEERCRED``) must be ours or root's, else 403. The
  file mode (0600) already stops other users; this is defence in depth for systems or
  operators that loosen it;
* **TCP**: with a token configured, ``Authorization: Bearer <token>`` is required (compared
  with :func:`hmac.compare_digest`; a token in the query string is refused, never accepted);
  ``Host`` must be a loopback name (or the bind host) unless the token was presented, since a
  DNS-rebinding page cannot know the token;
* **browsers**: an ``Origin`` that is not loopback is refused (403) on every transport;
* **mutations** (POST/PUT/DELETE with a body) need ``Content-Type: application/json`` (or
  ``application/octet-stream`` where raw bytes are accepted), which a cross-site form or
  simple request cannot send: 415 otherwise;
* the token is never logged and never echoed.
"""

from __future__ import annotations

import hmac
import socket
import struct
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from honcho_uv.errors import Forbidden
from honcho_uv.http.binds import is_loopback_host

__all__ = ["Policy", "peer_pid", "peer_uid", "security_middleware", "transport_of"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MUTATING = frozenset({"POST", "PUT", "DELETE", "PATCH"})
JSON_TYPES = frozenset({"application/json"})
RAW_TYPES = frozenset({"application/json", "application/octet-stream"})
QUERY_TOKEN_KEYS = frozenset({"token", "access_token", "api_key", "apikey", "key"})
_UCRED = struct.Struct("3i")
#: The token comparison: constant time. A module-level name so a test can observe the call
#: without patching the standard library.
_compare = hmac.compare_digest


class Unauthorized(web.HTTPUnauthorized):
    def __init__(self, message: str):
        super().__init__(reason="Unauthorized", text=message, headers={"WWW-Authenticate": 'Bearer realm="hu"'})


class Policy:
    """The settings the middleware enforces (shared with the handlers: ``allow_exec``)."""

    def __init__(self, *, token: str | None, allow_exec: bool, extra_hosts: frozenset[str] = frozenset()):
        self.token = token
        self.allow_exec = allow_exec
        self.extra_hosts = frozenset(h.lower().strip("[]") for h in extra_hosts)

    def __repr__(self) -> str:  # never show the token
        return f"Policy(token={'set' if self.token else None}, allow_exec={self.allow_exec})"


def transport_of(request: web.Request) -> str:
    """``"unix"`` or ``"tcp"``: which kind of socket the request arrived on."""
    return _kind(request)


def _kind(request: web.Request) -> str:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    return "unix" if sock is not None and sock.family == socket.AF_UNIX else "tcp"


def peer_uid(request: web.Request) -> int | None:
    """The uid of the process at the other end of a unix socket (None if unknown)."""
    credentials = _peer_credentials(request)
    return None if credentials is None else credentials[1]


def peer_pid(request: web.Request) -> int | None:
    """The pid of the process at the other end of a unix socket (None if unknown)."""
    credentials = _peer_credentials(request)
    return None if credentials is None else credentials[0]


def _peer_credentials(request: web.Request) -> tuple[int, int, int] | None:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None or sock.family != socket.AF_UNIX or not hasattr(socket, "SO_PEERCRED"):
        return None
    try:
        pid, uid, gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    except OSError:
        return None
    return int(pid), int(uid), int(gid)


def _host_allowed(host_header: str, policy: Policy) -> bool:
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return is_loopback_host(host) or host in policy.extra_hosts


def _origin_allowed(origin: str) -> bool:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and is_loopback_host(parts.hostname or "")


def _bearer_ok(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    # surrogateescape: a header with bytes that are not UTF-8 is a wrong token (401), not a 500
    return _compare(presented.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8", "surrogateescape"))


def security_middleware(policy: Policy, my_uid: int) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
        kind = _kind(request)
        if kind == "unix":
            uid = peer_uid(request)
            if uid is not None and uid not in (my_uid, 0):
                raise Forbidden(f"uid {uid} may not use this socket")
        if QUERY_TOKEN_KEYS & {k.lower() for k in request.query}:
            raise Unauthorized("a token in the query string is not accepted; use Authorization: Bearer")
        authenticated = False
        if kind == "tcp" and policy.token:
            if not _bearer_ok(request, policy.token):
                raise Unauthorized("missing or wrong token (Authorization: Bearer)")
            authenticated = True
        if kind == "tcp" and not authenticated:
            host = request.headers.get("Host")
            if not host or not _host_allowed(host, policy):
                raise Forbidden("Host header must name a loopback address")
        origin = request.headers.get("Origin")
        if origin is not None and not _origin_allowed(origin):
            raise Forbidden("cross-origin requests are refused")
        if request.method in MUTATING and (request.body_exists or request.method != "DELETE"):
            allowed = RAW_TYPES if request.path.endswith("/stdin") else JSON_TYPES
            if request.content_type not in allowed:
                raise web.HTTPUnsupportedMediaType(text=f"send Content-Type: {' or '.join(sorted(allowed))}")
        return await handler(request)

    return security
