"""The control API of ``hu start``: listening from the first moment, loaded on first use.

``hu start`` binds its unix socket before it spawns anything, so ``hu ps`` can connect at
once; but aiohttp (about 0.2 s of import and 15 MB of memory) is loaded only when a client
first connects. A run nobody queries never pays for it, the spawn burst never competes with
an import for the GIL, and exit does not tear down a loaded web stack. The first client
waits in the listen backlog while the API loads (a thread; the loop keeps running).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from typing import Any

from honcho_uv.console.logbuffer import LogBuffer
from honcho_uv.http.binds import Bind, bind_socket

__all__ = ["ControlApi"]

log = logging.getLogger(__name__)


class ControlApi:
    """An application of the Manager serving the HTTP API on one unix socket, loaded lazily.

    Construction binds the socket with the API's guarantees (0600 in a directory of ours, a
    stale socket replaced, a live one refused); :class:`~honcho_uv.errors.ConfigError` or
    :class:`~honcho_uv.errors.StateError` raise there and nothing is left behind. After
    :meth:`stop` nobody new can connect and the socket file is gone; :meth:`wait_closed`
    returns once a load in progress has finished and every connection is closed.
    """

    def __init__(self, path: str, *, on_quit: Callable[[], Any], logs: LogBuffer,
                 ui_url: Callable[[], str | None] | None = None):
        self._listener = bind_socket(Bind("unix", path=path))
        self._on_quit = on_quit
        self._ui_url = ui_url
        self._logs = logs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._manager: Any = None
        # Invariant: before the first client only the loop's reader watches the socket; then
        # _loading (owned here, awaited by wait_closed) imports the API and sets _handler,
        # which owns the socket from then on. _stopped: stop() ran; nothing new may start.
        self._loading: asyncio.Task[None] | None = None
        self._handler: Any = None
        self._stopped = False

    def start(self, loop: asyncio.AbstractEventLoop, manager: Any) -> None:
        self._loop, self._manager = loop, manager
        loop.add_reader(self._listener.sock.fileno(), self._first_client)

    def _first_client(self) -> None:
        assert self._loop is not None, "start() first"
        self._loop.remove_reader(self._listener.sock.fileno())
        self._loading = self._loop.create_task(self._load())

    async def _load(self) -> None:
        assert self._loop is not None, "start() first"
        try:
            module = await self._loop.run_in_executor(None, importlib.import_module, "honcho_uv.http.app")
            if self._stopped:
                return  # stop() closed the socket meanwhile
            handler = module.HttpHandler(listeners=[self._listener], on_quit=self._on_quit, logs=self._logs,
                                         ui_url=self._ui_url)
            handler.start(self._loop, self._manager)
            self._handler = handler
        except Exception:
            log.exception("the control API failed to load")
            self._listener.close()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._handler is not None:
            self._handler.stop()
            return
        if self._loading is None and self._loop is not None:
            self._loop.remove_reader(self._listener.sock.fileno())
        self._listener.close()

    def restart(self) -> None:
        """The socket and its connections are kept across a Manager restart."""

    async def wait_closed(self) -> None:
        if self._loading is not None:
            await self._loading
        if self._handler is not None:
            await self._handler.wait_closed()
