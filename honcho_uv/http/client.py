"""The one HTTP client of the control API, used by every ``hu`` control command.

It talks to a ``hu start`` or a daemon over a unix socket (``socket_path``) or TCP (``url``,
with a bearer ``token``), and turns failures into :class:`~honcho_uv.errors.HuError`:

* nothing listening (no socket file, connection refused) -> :class:`NotRunning`;
* an error body ``{"error": code, "message": ...}`` -> the HuError class of that code
  (:data:`honcho_uv.errors.WIRE_ERRORS`: ``unknown_process`` -> UnknownProcess,
  ``unauthorized`` -> Unauthorized, ...), with the server's message; an unknown code or a
  body that is not ours -> :class:`ControlError`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from honcho_uv.errors import WIRE_ERRORS, ConfigError, ControlError, HuError, NotRunning

__all__ = ["Client", "error_from_body"]

CALL_TIMEOUT_S = 120.0


def error_from_body(status: int, body: Any) -> HuError:
    """The HuError for an error response (*body* parsed, or the raw text)."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        cls = WIRE_ERRORS.get(body["error"], ControlError)
        return cls.from_wire(str(body.get("message") or body["error"]))
    return ControlError(f"HTTP {status}: {str(body)[:200]}")


class Client:
    """``async with Client(socket_path=...) as c: await c.call("GET", "/processes")``."""

    def __init__(self, *, socket_path: str | None = None, url: str | None = None, token: str | None = None):
        if not socket_path and not url:
            raise ConfigError("no socket path or URL to connect to")
        self.socket_path = socket_path
        self.url = (url or "http://localhost").rstrip("/")
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    @property
    def where(self) -> str:
        return f"socket {self.socket_path}" if self.socket_path else self.url

    async def __aenter__(self) -> Client:
        connector = aiohttp.UnixConnector(path=self.socket_path) if self.socket_path else aiohttp.TCPConnector()
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._session = aiohttp.ClientSession(connector=connector, headers=headers,
                                              timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    def _not_running(self, exc: Exception) -> HuError:
        if self.socket_path:
            cause = exc.__cause__ or exc
            if isinstance(exc, aiohttp.ClientConnectorError):
                cause = exc.os_error
            if isinstance(cause, PermissionError):
                return ControlError(f"permission denied on socket {self.socket_path}")
            return NotRunning(f"no hu is running in this directory (socket {self.socket_path})")
        return NotRunning(f"cannot connect to {self.url}: {exc}")

    async def call(self, method: str, path: str, body: Any = None, *, params: dict[str, str] | None = None,
                   timeout: float = CALL_TIMEOUT_S) -> Any:
        """One request; the parsed JSON response. Raises HuError (see the module docstring)."""
        assert self._session is not None, "use 'async with Client(...)'"
        kwargs: dict[str, Any] = {"params": params, "timeout": aiohttp.ClientTimeout(total=timeout)}
        if method in ("POST", "PUT"):
            kwargs["json"] = {} if body is None else body
        try:
            async with self._session.request(method, self.url + path, **kwargs) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, ConnectionError) as exc:
            raise self._not_running(exc) from exc
        except aiohttp.ClientError as exc:
            raise ControlError(f"talking to {self.where}: {exc}") from exc
        except TimeoutError as exc:
            raise ControlError(f"{method} {path}: no answer from {self.where} within {timeout:g} s") from exc
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = text
        if status >= 400:
            raise error_from_body(status, data)
        return data

    async def stream(self, path: str, *, params: dict[str, str] | None = None) -> AsyncIterator[dict[str, Any]]:
        """The objects of a newline-delimited JSON stream (``/watch``, ``/logs?follow=1``,
        ``/stats/<name>/stream``) until the server ends it."""
        assert self._session is not None, "use 'async with Client(...)'"
        try:
            async with self._session.get(self.url + path, params=params) as response:
                if response.status >= 400:
                    text = await response.text()
                    try:
                        raise error_from_body(response.status, json.loads(text))
                    except ValueError:
                        raise error_from_body(response.status, text) from None
                async for line in response.content:
                    if line.strip():
                        yield json.loads(line)
        except (aiohttp.ClientConnectorError, ConnectionError) as exc:
            raise self._not_running(exc) from exc
        except aiohttp.ClientPayloadError:
            return  # the server went away mid-stream: the stream simply ends
