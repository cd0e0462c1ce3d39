"""The control API from the client side: an in-process server and socket-level clients.

* :func:`serve`: a real Manager with a real HttpHandler on the running loop, bound to a unix
  socket and/or loopback TCP, yielding an :class:`Api` with one aiohttp session per transport.
* :func:`open_raw`, :func:`exchange`, :func:`status_of`, :func:`assert_4xx_or_closed`: raw
  bytes on a socket, for what a well-behaved client library would never send.
* :func:`get` and :func:`serving`: a small synchronous client over a unix socket (for
  synchronous tests and readiness checks of a ``hu`` subprocess).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from honcho_uv.core.manager import Manager
from honcho_uv.http import HttpHandler

__all__ = ["JSON", "Api", "assert_4xx_or_closed", "exchange", "get", "open_raw", "serve", "serving", "status_of"]

JSON = {"Content-Type": "application/json"}


class Api:
    """A started Manager + HttpHandler, with one client session per transport."""

    def __init__(self, manager: Manager, handler: HttpHandler, directory: Path, unix: aiohttp.ClientSession | None,
                 tcp_base: str | None, tcp: aiohttp.ClientSession | None):
        self.manager, self.handler, self.directory = manager, handler, directory
        self.unix, self.tcp_base, self.tcp = unix, tcp_base, tcp

    @property
    def sock(self) -> str:
        return str(self.directory / "api.sock")

    @property
    def tcp_address(self) -> tuple[str, int]:
        assert self.tcp_base is not None, "no TCP bind"
        host, _, port = self.tcp_base[len("http://"):].rpartition(":")
        return host, int(port)

    def u(self, path: str) -> str:
        """The URL of *path* for the unix session."""
        return "http://localhost" + path

    def t(self, path: str) -> str:
        """The URL of *path* for the TCP session."""
        assert self.tcp_base is not None, "no TCP bind"
        return self.tcp_base + path


@contextlib.asynccontextmanager
async def serve(directory: Path | str, *, unix: bool = True, tcp: bool = True, **kwargs: Any) -> AsyncIterator[Api]:
    """Serve the API on ``<directory>/api.sock`` and/or ``tcp://127.0.0.1:0``; *kwargs* go to
    :class:`HttpHandler`. On exit the sessions close, then the Manager stops and the handler
    closes (which removes the socket file)."""
    directory = Path(directory)
    binds = ([f"unix:{directory}/api.sock"] if unix else []) + (["tcp://127.0.0.1:0"] if tcp else [])
    handler = HttpHandler(binds, **kwargs)
    manager = Manager()
    manager.start(applications=[handler])
    await handler.wait_started()
    tcp_address = next((a for a in handler.addresses if a.startswith("tcp://")), None)
    base = "http://" + tcp_address[6:] if tcp_address else None
    unix_session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(f"{directory}/api.sock")) if unix else None
    tcp_session = aiohttp.ClientSession() if tcp else None
    try:
        yield Api(manager, handler, directory, unix_session, base, tcp_session)
    finally:
        for s in (unix_session, tcp_session):
            if s is not None:
                await s.close()
        manager.stop()
        await manager.wait_stopped()
        await handler.wait_closed()


# -- raw sockets ---------------------------------------------------------------------------------


async def open_raw(address: str | Path | tuple[str, int]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream pair to a unix socket path or a ``(host, port)``."""
    if isinstance(address, str | Path):
        return await asyncio.open_unix_connection(address)
    return await asyncio.open_connection(*address)


async def exchange(address: str | Path | tuple[str, int], data: bytes, *, timeout: float = 5.0,
                   half_close: bool = False, head_only: bool = False) -> bytes:
    """Send *data*, then read until the server closes (or *timeout*, or with *head_only* the
    end of the first response head); the bytes read."""
    reader, writer = await open_raw(address)
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(data)
            await writer.drain()
            if half_close and writer.can_write_eof():
                writer.write_eof()
        out = b""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(TimeoutError, ConnectionError):
            while chunk := await asyncio.wait_for(reader.read(65536), max(0.0, deadline - time.monotonic())):
                out += chunk
                if head_only and b"\r\n\r\n" in out:
                    break
        return out
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def status_of(response: bytes) -> int | None:
    """The status code of the first response in *response* (None: closed with no answer)."""
    match = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    return int(match.group(1)) if match else None


def assert_4xx_or_closed(response: bytes, what: str) -> None:
    status = status_of(response)
    assert status is None or 400 <= status < 500, f"{what}: {response[:200]!r}"
    assert b"Traceback" not in response, what


# -- a synchronous client over a unix socket -------------------------------------------------------


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 5.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def get(sock: Path | str, path: str, timeout: float = 5.0) -> tuple[int, Any]:
    """``GET path`` over the unix socket *sock*: (status, parsed JSON body or text)."""
    conn = _UnixHTTPConnection(str(sock), timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace")
        with contextlib.suppress(ValueError):
            return resp.status, json.loads(body)
        return resp.status, body
    finally:
        conn.close()


def serving(sock: Path | str) -> bool:
    """Whether something answers ``GET /ping`` with 200 on *sock*."""
    try:
        return get(sock, "/ping", 1.0)[0] == 200
    except OSError:
        return False
