"""Run a real Manager with a real HttpHandler inside ``asyncio.run`` (no pytest plugin)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from honcho_uv.http import HttpHandler
from honcho_uv.manager import Manager
from hu_helpers import until  # re-exported for the tests of this directory


class Api:
    """A started Manager + HttpHandler, with one client session per transport."""

    def __init__(self, manager: Manager, handler: HttpHandler, unix: aiohttp.ClientSession | None,
                 tcp_base: str | None, tcp: aiohttp.ClientSession | None):
        self.manager, self.handler, self.unix, self.tcp_base, self.tcp = manager, handler, unix, tcp_base, tcp

    def u(self, path: str) -> str:
        return "http://localhost" + path

    def t(self, path: str) -> str:
        assert self.tcp_base is not None, "no TCP bind"
        return self.tcp_base + path


@contextlib.asynccontextmanager
async def serve(tmp_path: Any, *, unix: bool = True, tcp: bool = True, **kwargs: Any) -> AsyncIterator[Api]:
    binds = []
    if unix:
        binds.append(f"unix:{tmp_path}/api.sock")
    if tcp:
        binds.append("tcp://127.0.0.1:0")
    handler = HttpHandler(binds, **kwargs)
    manager = Manager()
    manager.start(applications=[handler])
    await handler.wait_started()
    tcp_address = next((a for a in handler.addresses if a.startswith("tcp://")), None)
    base = "http://" + tcp_address[6:] if tcp_address else None
    sessions = []
    unix_session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(f"{tmp_path}/api.sock")) if unix else None
    tcp_session = aiohttp.ClientSession() if tcp else None
    sessions = [s for s in (unix_session, tcp_session) if s is not None]
    try:
        yield Api(manager, handler, unix_session, base, tcp_session)
    finally:
        for s in sessions:
            await s.close()
        manager.stop()
        await manager.wait_stopped()
        await handler.wait_closed()


@pytest.fixture
def run() -> Callable[[Awaitable[Any]], Any]:
    def runner(coro: Awaitable[Any]) -> Any:
        return asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]

    return runner


@pytest.fixture
def sock_dir(tmp_path: Any) -> Any:
    """A short private directory (sun_path is 107 bytes; pytest's tmp_path can be long)."""
    import shutil
    import tempfile

    d = tempfile.mkdtemp(prefix="hu-t-", dir="/tmp")
    os.chmod(d, 0o700)
    yield type(tmp_path)(d)
    shutil.rmtree(d, ignore_errors=True)


TICKER = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done"
