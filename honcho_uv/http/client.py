"""The one HTTP client of the control API, used by every ``hu`` control command.

Standard library only (``http.client``), synchronous: a control command is one or two
requests, and ``hu ps`` must not pay 0.2 s to import aiohttp and start a loop for them
(tests/unit/test_client_imports.py holds it to that).

It talks to a ``hu start`` or a daemon over a unix socket (``socket_path``) or TCP (``url``,
``http://HOST:PORT`` or ``https://...``, with a bearer ``token``), and turns failures into
:class:`~honcho_uv.errors.HuError`:

* nothing listening (no socket file, connection refused) -> :class:`NotRunning`;
* an error body ``{"error": code, "message": ...}`` -> the HuError class of that code
  (:data:`honcho_uv.errors.WIRE_ERRORS`: ``unknown_process`` -> UnknownProcess,
  ``unauthorized`` -> Unauthorized, ...), with the server's message; an unknown code or a
  body that is not ours -> :class:`ControlError`;
* a malformed ``--url`` -> :class:`InvalidOption` saying what a URL looks like.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

from honcho_uv.errors import WIRE_ERRORS, ConfigError, ControlError, HuError, InvalidOption, NotRunning

__all__ = ["Client", "error_from_body"]

CALL_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 10.0


def error_from_body(status: int, body: Any) -> HuError:
    """The HuError for an error response (*body* parsed, or the raw text)."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        cls = WIRE_ERRORS.get(body["error"], ControlError)
        return cls.from_wire(str(body.get("message") or body["error"]))
    return ControlError(f"HTTP {status}: {str(body)[:200]}")


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket; the Host header stays ``localhost`` (a loopback name)."""

    def __init__(self, path: str, timeout: float | None):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _parse_url(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 or parts.path not in ("", "/"):
        raise InvalidOption("--url", f"expected http://HOST:PORT (or https://...), got {url!r}")
    return parts.scheme, parts.hostname, port


class Client:
    """``Client(socket_path=...).call("GET", "/processes")``: one connection per request."""

    def __init__(self, *, socket_path: str | None = None, url: str | None = None, token: str | None = None):
        if not socket_path and not url:
            raise ConfigError("no socket path or URL to connect to")
        self.socket_path = socket_path
        self.url = url.rstrip("/") if url and not socket_path else None
        self._target = _parse_url(self.url) if self.url else None
        self.token = token

    @property
    def where(self) -> str:
        return f"socket {self.socket_path}" if self.socket_path else str(self.url)

    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._target is None:
            assert self.socket_path is not None
            return _UnixConnection(self.socket_path, timeout)
        scheme, host, port = self._target
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        return cls(host, port, timeout=timeout)

    def _not_running(self, exc: OSError) -> HuError:
        if self.socket_path:
            if isinstance(exc, PermissionError):
                return ControlError(f"permission denied on socket {self.socket_path}")
            return NotRunning(f"no hu is running in this directory (socket {self.socket_path})")
        return NotRunning(f"cannot connect to {self.url}: {exc.strerror or exc}")

    def _open(self, method: str, path: str, body: Any, params: dict[str, str] | None,
              timeout: float | None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send the request; the connection and the response, its head read. The caller closes."""
        target = path + ("?" + urlencode(params) if params else "")
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if method in ("POST", "PUT"):
            data = json.dumps({} if body is None else body).encode()
            headers["Content-Type"] = "application/json"
        connection = self._connect(CONNECT_TIMEOUT_S)
        try:
            connection.connect()
        except (ConnectionRefusedError, FileNotFoundError, PermissionError, socket.gaierror) as exc:
            raise self._not_running(exc) from None
        except OSError as exc:  # a timeout, no route to host, ...
            raise ControlError(f"cannot connect to {self.where}: {exc.strerror or exc}") from None
        try:
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            connection.request(method, target, body=data, headers=headers)
            return connection, connection.getresponse()
        except TimeoutError:
            connection.close()
            raise ControlError(f"{method} {path}: no answer from {self.where} within {timeout:g} s") from None
        except (http.client.HTTPException, OSError) as exc:
            connection.close()
            raise ControlError(f"talking to {self.where}: {exc}") from None

    @staticmethod
    def _raise_for(response: http.client.HTTPResponse, text: bytes) -> None:
        if response.status >= 400:
            try:
                body: Any = json.loads(text)
            except ValueError:
                body = text.decode(errors="replace")
            raise error_from_body(response.status, body)

    def call(self, method: str, path: str, body: Any = None, *, params: dict[str, str] | None = None,
             timeout: float = CALL_TIMEOUT_S) -> Any:
        """One request; the parsed JSON response. Raises HuError (see the module docstring)."""
        connection, response = self._open(method, path, body, params, timeout)
        try:
            text = response.read()
        except TimeoutError:
            raise ControlError(f"{method} {path}: no answer from {self.where} within {timeout:g} s") from None
        except (http.client.HTTPException, OSError) as exc:
            raise ControlError(f"talking to {self.where}: {exc}") from None
        finally:
            connection.close()
        self._raise_for(response, text)
        try:
            return json.loads(text) if text else None
        except ValueError:
            raise ControlError(f"{method} {path}: {self.where} answered something that is not JSON") from None

    def stream(self, path: str, *, params: dict[str, str] | None = None,
               timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Open a newline-delimited JSON stream (``/watch``, ``/logs?follow=1``,
        ``/stats/<name>/stream``): the request is made and answered before this returns; the
        iterator gives its objects until the server ends it (or goes away: the stream simply
        ends). *timeout* bounds each wait for a line (None: no bound)."""
        connection, response = self._open("GET", path, None, params, timeout)
        if response.status >= 400:
            try:
                self._raise_for(response, response.read())
            finally:
                connection.close()
        return self._objects(connection, response)

    @staticmethod
    def _objects(connection: http.client.HTTPConnection, response: http.client.HTTPResponse
                 ) -> Iterator[dict[str, Any]]:
        try:
            while True:
                try:
                    line = response.readline()
                except (http.client.HTTPException, ConnectionError):
                    return  # the server went away mid-stream
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)
        finally:
            connection.close()
