"""Who may see the dashboard, and how: the token, the cookie, the Host and Origin checks.

Guarantees (docs/dashboard.rst, "Security model"):

* every request (page, static file, data, websocket handshake, action) without the token or
  the dashboard's cookie gets 401 with a body that names no process;
* the token is traded once per browser: ``GET /?token=T`` answers 303 to ``/`` with an
  ``HttpOnly; SameSite=Strict; Path=/`` cookie, so the token leaves the address bar; the
  cookie's name carries the port, since cookies are per host and not per port, and two
  dashboards on one machine must not overwrite each other's;
* comparisons are constant-time (:func:`hmac.compare_digest`); the token is never logged;
* ``Host`` must be a loopback name unless the dashboard was allowed to listen remotely (a
  DNS-rebinding page would have neither the cookie nor the token anyway: defence in depth);
* a state change is a POST whose ``Origin`` is this dashboard's own (a foreign or missing
  Origin gets 403 when the request is authenticated by the cookie; a script that sends
  ``Authorization: Bearer`` has no Origin to check); the websocket handshake needs the same
  Origin, since browsers do not apply CORS to websockets;
* every answer carries a CSP that allows only this origin's scripts, styles and connections
  (no inline script), and is neither cached nor framed.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from honcho_uv.http.binds import is_loopback_host

__all__ = ["CSP", "Gate", "gate_middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
DENIED_TEXT = ("hu dashboard: open the URL that hu printed when it started (it carries ?token=...), "
               "or run `hu ui` in the app root to print it again.\n")


class Gate:
    """The dashboard's secret and the rules above. *port* names the cookie."""

    def __init__(self, token: str, *, port: int, allow_remote: bool = False):
        self.token = token
        self.cookie = f"hu_ui_{port}"
        self.allow_remote = allow_remote

    def __repr__(self) -> str:  # never show the token
        return f"Gate(cookie={self.cookie!r}, allow_remote={self.allow_remote})"

    def matches(self, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), self.token.encode())

    def by_cookie(self, request: web.Request) -> bool:
        return self.matches(request.cookies.get(self.cookie))

    def by_bearer(self, request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.matches(value.strip())

    def host_ok(self, request: web.Request) -> bool:
        if self.allow_remote:
            return True
        host = request.headers.get("Host", "").strip().lower()
        if host.startswith("["):
            name = host[1:].partition("]")[0]
        else:
            name = host.rpartition(":")[0] if ":" in host else host
        return bool(name) and is_loopback_host(name)

    def same_origin(self, request: web.Request) -> bool:
        """The request's ``Origin`` is this dashboard (scheme, host and port as the browser
        sent them in ``Host``)."""
        origin = request.headers.get("Origin")
        if origin is None:
            return False
        parts = urlsplit(origin)
        return parts.scheme == "http" and parts.netloc.lower() == request.headers.get("Host", "").lower()

    def set_cookie(self, response: web.StreamResponse) -> None:
        response.set_cookie(self.cookie, self.token, path="/", httponly=True, samesite="Strict")


def _denied(status: int, text: str) -> web.Response:
    response = web.Response(status=status, text=text, content_type="text/plain")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="hu dashboard"'
    return response


def gate_middleware(gate: Gate) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware applying :class:`Gate`'s rules before any route, and the headers after."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await _check(request, handler)
        if not response.prepared:  # a websocket or stream has sent its head already
            response.headers.update(HEADERS)
        return response

    async def _check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not gate.host_ok(request):
            return _denied(403, "hu dashboard: the Host header must name a loopback address\n")
        if request.method == "GET" and request.path == "/" and "token" in request.query:
            if not gate.matches(request.query["token"]):
                return _denied(401, "hu dashboard: wrong token. " + DENIED_TEXT)
            response = web.Response(status=303, headers={"Location": "/"})  # the token leaves the address bar
            gate.set_cookie(response)
            return response
        bearer = gate.by_bearer(request)
        if not (bearer or gate.by_cookie(request)):
            return _denied(401, DENIED_TEXT)
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if (request.method not in ("GET", "HEAD") or upgrade) and not bearer and not gate.same_origin(request):
            return _denied(403, "hu dashboard: cross-origin request refused\n")
        return await handler(request)

    return check
