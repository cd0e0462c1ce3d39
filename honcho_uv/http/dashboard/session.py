"""One open page: its websocket, what it waits to be sent, and the log lines it follows.

Guarantees:

* nothing a page waits for is unbounded: the table is one slot (the latest replaces the one
  not yet sent), events and log chunks are each a :class:`~honcho_uv.core.feed.Feed` that
  drops its oldest items (log chunks by bytes: :data:`LOG_QUEUE_BYTES`), so a slow or
  stalled page costs at most that much memory and never slows the console;
* at most one send every :data:`SEND_INTERVAL_S` seconds, each with at most
  :data:`LOG_LINES_PER_SEND` log lines: the newest ones; the lines not sent are counted and
  reported in the same message as ``skipped`` (the page shows "N lines skipped"; when the
  queue itself had to drop chunks, their lines are estimated from their bytes at the
  batch's bytes per line, and the message says ``estimated``), so a
  process writing 200,000 lines a second costs the page at most 400 lines a second;
* following costs the console a queue append per chunk and page, never a pass over the
  bytes nor a Python object per line: lines are counted in what is taken from the queue (at
  most :data:`LOG_QUEUE_BYTES` per send) and cut only from the tail that is sent;
* one task writes to the websocket (the page's requests, such as choosing the process whose
  log to follow, are handed to it), and the page is forgotten when either side closes.

Messages, all JSON text: ``hello`` (history and recent events), ``state`` (the table),
``events`` (``{"events": [...], "dropped": N}``), ``logs`` (``{"lines": [[seq, time, name,
text], ...], "skipped": N, "reset": bool, "name": selection}``). The page sends
``{"type": "select", "name": "web.1" | "web" | null}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any

from aiohttp import WSMsgType, web

from honcho_uv.console.logbuffer import SYSTEM, LogBuffer
from honcho_uv.core.feed import Feed
from honcho_uv.errors import InvalidOption
from honcho_uv.http.dashboard.state import EVENTS_KEPT, Hub
from honcho_uv.models import split_instance_name

__all__ = ["BACKLOG_LINES", "LOG_LINES_PER_SEND", "Page", "tail_lines"]

SEND_INTERVAL_S = 0.5
LOG_LINES_PER_SEND = 200
BACKLOG_LINES = 1000
LOG_QUEUE_BYTES = 512 << 10
MAX_LINE_CHARS = 2000
HEARTBEAT_S = 30.0
#: Terminal escapes (colours, cursor moves) and other control characters but tab: a log pane
#: shows text, and a process's colours would show as garbage.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.|[\x00-\x08\x0b-\x1f\x7f]")


def _text(data: bytes) -> str:
    text = _CONTROL.sub("", data.decode("utf-8", errors="replace"))
    return text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS] + "…"


def tail_lines(chunks: list[tuple[int, float, str, bytes]], limit: int) -> list[list[Any]]:
    """The last *limit* lines of *chunks* (oldest first) as ``[seq, time, name, text]``; only
    those lines are cut out of their chunks."""
    out: list[list[Any]] = []
    for seq, when, name, data in reversed(chunks):
        need = limit - len(out)
        if need <= 0:
            break
        body = data[:-1]
        parts = body.rsplit(b"\n", need)
        if len(parts) > need:
            parts = parts[1:]  # the head holds older lines, not wanted
        end = len(body)
        for part in reversed(parts):
            start = end - len(part)
            out.append([seq + start, when, name, _text(part)])
            end = start - 1
    out.reverse()
    return out


class Page:
    """One websocket client of the dashboard (see the module docstring)."""

    def __init__(self, hub: Hub, logs: LogBuffer | None, ws: web.WebSocketResponse):
        self.hub, self.logs, self.ws = hub, logs, ws
        self.state: dict[str, Any] | None = None
        self.events = Feed(max_items=EVENTS_KEPT)
        self.chunks = Feed(max_items=4096, max_bytes=LOG_QUEUE_BYTES, size=lambda chunk: len(chunk[3]))
        self.bell = asyncio.Event()
        self.closed = False
        # Invariant: bytes_in counts every byte of the selection framed since the last
        # (re)selection, bytes_out those taken from `chunks`; bytes_in - bytes_out are in
        # `chunks` or were dropped from it.
        self.selected: str | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        self._select: tuple[str | None] | None = (None,)  # a selection to apply: the first is "all"

    # -- producers (on the loop, never blocking) --------------------------------------------

    def on_hub(self, message: dict[str, Any]) -> None:
        if message["type"] == "state":
            self.state = message
        else:
            self.events.put(message)
        self.bell.set()

    def on_chunk(self, seq: int, when: float, name: str, data: bytes) -> None:
        selected = self.selected
        if selected is None or name in (selected, SYSTEM) or name.rpartition(".")[0] == selected:
            self.chunks.put((seq, when, name, data))
            self.bytes_in += len(data)
            self.bell.set()

    # -- the connection ---------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the page until it goes away or :meth:`close` is called."""
        self.hub.listeners[self.on_hub] = None
        if self.logs is not None:
            self.logs.follow_chunks(self.on_chunk)
        reading = asyncio.ensure_future(self._read())
        try:
            await self._send(self.hub.welcome())
            await self._send(self.hub.snapshot())
            self.bell.set()  # the first flush sends the log backlog
            while await self._rung():
                await self._flush()
                await asyncio.sleep(SEND_INTERVAL_S)
        except (ConnectionError, RuntimeError):
            pass  # the page went away mid-send
        finally:
            self.closed = True
            self.hub.listeners.pop(self.on_hub, None)
            if self.logs is not None:
                self.logs.unfollow_chunks(self.on_chunk)
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def _rung(self) -> bool:
        """Wait for something to send: True, or False once the page is closed."""
        await self.bell.wait()
        self.bell.clear()
        return not self.closed

    def close(self) -> None:
        self.closed = True
        self.bell.set()

    async def _send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message, separators=(",", ":"), default=str))

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != WSMsgType.TEXT:
                break
            with contextlib.suppress(ValueError, TypeError, AttributeError, InvalidOption):
                request = json.loads(msg.data)
                if request.get("type") == "select":
                    name = request.get("name")
                    if name is not None:
                        split_instance_name(str(name))  # a malformed name is ignored
                    self._select = (name,)
                    self.bell.set()
        self.close()

    async def _flush(self) -> None:
        if self._select is not None:
            (name,), self._select = self._select, None
            await self._send(self._reselect(name))
        if self.state is not None:
            state, self.state = self.state, None
            await self._send(state)
        if len(self.events):
            await self._send({"type": "events", "events": await self.events.batch(0), "dropped": self.events.dropped})
        if len(self.chunks) or self.bytes_in != self.bytes_out:
            chunks = await self.chunks.batch(0) if len(self.chunks) else []
            lines = tail_lines(chunks, LOG_LINES_PER_SEND)
            taken = sum(len(chunk[3]) for chunk in chunks)
            counted = sum(chunk[3].count(b"\n") for chunk in chunks)
            dropped = self.bytes_in - self.bytes_out - taken
            self.bytes_out = self.bytes_in
            # Lines of dropped chunks: their bytes at the bytes per line of what was taken.
            guess = round(dropped * counted / taken) if dropped and taken else 0
            await self._send({"type": "logs", "lines": lines, "skipped": counted - len(lines) + guess,
                              "estimated": bool(dropped), "reset": False, "name": self.selected})

    def _reselect(self, name: str | None) -> dict[str, Any]:
        """Follow *name* (None: every process) from now on; the message with its backlog."""
        self.selected = name
        self.chunks = Feed(max_items=4096, max_bytes=LOG_QUEUE_BYTES, size=lambda chunk: len(chunk[3]))
        self.bytes_in = self.bytes_out = 0
        backlog = self.logs.tail(name, BACKLOG_LINES) if self.logs is not None else []
        lines = [[line.seq, line.time, line.name, _text(line.data)] for line in backlog]
        return {"type": "logs", "lines": lines, "skipped": 0, "reset": True, "name": name}

