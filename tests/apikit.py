"""A real Manager with a real HttpHandler, served inside ``asyncio.run`` (no pytest plugin).

Shared by tests/http and tests/security: :func:`serve` binds a unix socket and/or loopback TCP
and yields an :class:`Api` with one client session per transport; ``run`` and ``sock_dir`` are
fixtures (re-exported by those directories' conftest files).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from honcho_uv.http import HttpHandler
from honcho_uv.core.manager import Manager

__all__ = ["Api", "run", "serve", "sock_dir"]


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
        return "http://localhost" + path

    def t(self, path: str) -> str:
        assert self.tcp_base is not None, "no TCP bind"
        return self.tcp_base + path


@contextlib.asynccontextmanager
async def serve(directory: Path | str, *, unix: bool = True, tcp: bool = True, **kwargs: Any) -> AsyncIterator[Api]:
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


@pytest.fixture
def run() -> Callable[[Awaitable[Any]], Any]:
    def runner(coro: Awaitable[Any], timeout: float = 30) -> Any:
        return asyncio.run(asyncio.wait_for(coro, timeout))  # type: ignore[arg-type]

    return runner


@pytest.fixture
def sock_dir() -> Any:
    """A short private directory (sun_path is 107 bytes; pytest's tmp_path can be long)."""
    d = tempfile.mkdtemp(prefix="hu-s-", dir="/tmp")
    os.chmod(d, 0o700)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)
