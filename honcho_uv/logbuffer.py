"""A bounded ring buffer of recent output lines, per process (``hu logs``, ``GET /logs``).

An application of the Manager fed by :meth:`Manager.add_output_sink`. Guarantees:

* lines are whole (a partial line waits for its newline, an idle flush after
  :data:`PARTIAL_FLUSH_S`, or the process's exit), bytes untouched;
* memory is bounded: at most *lines_per_process* lines per instance (``web.1``) and at most
  *max_instances* instances remembered (the oldest forgotten first);
* the sink does O(1) work per line and never blocks: followers get lines through their own
  callback, which must not block either (the HTTP layer puts them in bounded drop-oldest
  queues), so the console is never slowed by a log reader.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from honcho_uv.output import LineFramer

__all__ = ["LogBuffer", "LogLine"]

PARTIAL_FLUSH_S = 0.2


@dataclass(frozen=True)
class LogLine:
    """One output line: a global sequence number (ordering across processes), the wall-clock
    time it was framed, the instance name and the line without its newline."""

    seq: int
    time: float
    name: str
    data: bytes

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "name": self.name,
                "line": self.data.decode("utf-8", errors="replace")}


class LogBuffer:
    def __init__(self, lines_per_process: int = 1000, max_instances: int = 1024):
        self.lines_per_process = lines_per_process
        self.max_instances = max_instances
        self._lines: collections.OrderedDict[str, collections.deque[LogLine]] = collections.OrderedDict()
        self._framer = LineFramer(max_line=64 << 10)
        self._names: dict[int, str] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._seq = itertools.count(1)
        self._followers: dict[Callable[[LogLine], None], None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.manager: Any = None

    # -- application protocol ------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, manager: Any) -> None:
        self._loop = loop
        self.manager = manager
        manager.add_output_sink(self._sink)
        manager.subscribe("exit", self._on_exit)

    def stop(self) -> None:
        for key in list(self._timers):
            self._flush(key)
        if self.manager is not None:
            self.manager.remove_output_sink(self._sink)
            self.manager.unsubscribe("exit", self._on_exit)

    def restart(self) -> None:
        pass

    # -- feeding ---------------------------------------------------------------------------

    def _sink(self, process: Any, label: str, data: bytes) -> None:
        key = process.id
        self._names[key] = process.name
        lines = self._framer.feed(key, data)
        if lines:
            self._add(process.name, lines)
        if self._framer.pending(key) and key not in self._timers and self._loop is not None:
            self._timers[key] = self._loop.call_later(PARTIAL_FLUSH_S, self._flush, key)

    def _flush(self, key: int) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        lines = self._framer.flush(key)
        if lines:
            self._add(self._names.get(key, "?"), lines)

    def _on_exit(self, event: str, msg: dict[str, Any]) -> None:
        key = msg.get("pid")
        if key is not None:
            self._flush(key)
            self._names.pop(key, None)

    def _add(self, name: str, lines: bytes) -> None:
        ring = self._lines.get(name)
        if ring is None:
            ring = self._lines[name] = collections.deque(maxlen=self.lines_per_process)
            while len(self._lines) > self.max_instances:
                self._lines.popitem(last=False)
        now = time.time()
        for data in lines[:-1].split(b"\n"):
            line = LogLine(next(self._seq), now, name, data)
            ring.append(line)
            for follower in self._followers:
                follower(line)

    # -- reading ---------------------------------------------------------------------------

    def tail(self, name: str | None = None, lines: int = 100) -> list[LogLine]:
        """The last *lines* lines (oldest first) of every instance, of a type (``web``) or of
        one instance (``web.2``)."""
        rings: Iterable[collections.deque[LogLine]]
        if name is None:
            rings = self._lines.values()
        else:
            rings = [r for n, r in self._lines.items() if n == name or n.rsplit(".", 1)[0] == name]
        merged = sorted(itertools.chain.from_iterable(rings), key=lambda line: line.seq)
        return merged[-lines:] if lines > 0 else []

    def follow(self, callback: Callable[[LogLine], None]) -> None:
        """Call *callback(line)* for each new line (on the loop; it must not block)."""
        self._followers[callback] = None

    def unfollow(self, callback: Callable[[LogLine], None]) -> None:
        self._followers.pop(callback, None)
