"""A bounded ring buffer of recent output lines, per process (``hu logs``, ``GET /logs``).

An application of the Manager fed by :meth:`Manager.add_output_sink`. Guarantees:

* lines are whole (a partial line waits for its newline, an idle flush after
  :data:`PARTIAL_FLUSH_S`, or the process's exit), bytes untouched;
* memory is bounded: the last *bytes_per_process* bytes of whole lines per instance
  (``web.1``; 1 MiB, i.e. thousands of lines), and at most *max_instances* instances
  remembered (the oldest forgotten first);
* the sink costs about as much as keeping a reference: it keeps whole *chunks* of lines (one
  ``bytes`` object per chunk, never a Python object per line, not even a count of its lines:
  ``bytes.count`` alone took a third of the loop's time at 450 MB/s) and cuts them into
  :class:`LogLine` objects only when read, or while a follower listens;
* ``seq`` orders lines across instances as they were framed: it is the position of the
  line's first byte in everything the buffer has framed (increasing, not consecutive);
* followers get lines through their own callback, which must not block (the HTTP layer puts
  them in bounded drop-oldest queues), so the console is never slowed by a log reader;
  *chunk* followers (the dashboard) get the chunks as framed, ``(seq, time, name, lines)``,
  so following a fast process costs them nothing per line.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honcho_uv.console.messages import describe_event
from honcho_uv.core.framing import LineFramer

__all__ = ["SYSTEM", "ChunkFollower", "LogBuffer", "LogLine", "read_file_tail"]

PARTIAL_FLUSH_S = 0.2
SYSTEM = "system"  # the name of hu's own lines in the ring
#: ``callback(seq, time, name, lines)``: a chunk of whole lines as framed (see follow_chunks).
ChunkFollower = Callable[[int, float, str, bytes], None]


@dataclass(frozen=True)
class LogLine:
    """One output line: its position in all framed output (orders lines across processes),
    the wall-clock time it was framed, the instance name and the line without its newline."""

    seq: int
    time: float
    name: str
    data: bytes

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "name": self.name,
                "line": self.data.decode("utf-8", errors="replace")}


class LogBuffer:
    """Recent output per instance; see the module docstring for the guarantees."""

    def __init__(self, bytes_per_process: int = 1 << 20, max_instances: int = 1024, log_dir: Path | None = None):
        self.bytes_per_process = bytes_per_process
        self.max_instances = max_instances
        # name -> chunks (seq of the first line, time, whole lines ending in b"\n"), oldest first.
        # Invariant: the ring is within bytes_per_process, or holds a single chunk;
        # _sizes[name] is the byte size of the ring.
        self._lines: collections.OrderedDict[str, collections.deque[tuple[int, float, bytes]]] = (
            collections.OrderedDict()
        )
        self._sizes: dict[str, int] = {}
        self._framer = LineFramer(max_line=64 << 10)
        self._names: dict[int, str] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._next_seq = 0  # bytes framed so far, all instances: the seq of the next line
        self._followers: dict[Callable[[LogLine], None], None] = {}
        self._chunk_followers: dict[ChunkFollower, None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.manager: Any = None
        self.log_dir = log_dir  # where instances' log files are, for lines the ring dropped

    # -- application protocol ------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, manager: Any) -> None:
        self._loop = loop
        self.manager = manager
        manager.add_output_sink(self._sink)
        manager.bus.add_lifecycle_hook(self._lifecycle)
        manager.subscribe(".", self._on_event)

    def stop(self) -> None:
        for key in list(self._timers):
            self._flush(key)
        if self.manager is not None:
            self.manager.remove_output_sink(self._sink)
            self.manager.bus.remove_lifecycle_hook(self._lifecycle)
            self.manager.unsubscribe(".", self._on_event)

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

    def _on_event(self, event: str, msg: dict[str, Any]) -> None:
        line = describe_event(event, msg)
        if line:  # the console's system lines, kept with the output they explain
            self._add(SYSTEM, line.encode(errors="replace") + b"\n")

    def _lifecycle(self, kind: str, process: Any) -> None:
        if kind == "exit":  # its output has ended: keep its partial line, forget its name
            self._flush(process.id)
            self._names.pop(process.id, None)

    def _add(self, name: str, lines: bytes) -> None:
        ring = self._lines.get(name)
        if ring is None:
            ring = self._lines[name] = collections.deque()
            self._sizes[name] = 0
            while len(self._lines) > self.max_instances:
                forgotten, _ = self._lines.popitem(last=False)
                self._sizes.pop(forgotten, None)
        seq, now = self._next_seq, time.time()
        self._next_seq += len(lines)
        ring.append((seq, now, lines))
        size = self._sizes[name] + len(lines)
        while len(ring) > 1 and size > self.bytes_per_process:
            size -= len(ring.popleft()[2])
        self._sizes[name] = size
        if self._chunk_followers:
            for chunk_follower in list(self._chunk_followers):
                chunk_follower(seq, now, name, lines)
        if self._followers:
            for line in _cut(seq, now, name, lines):
                for follower in list(self._followers):
                    follower(line)

    # -- reading ---------------------------------------------------------------------------

    def tail(self, name: str | None = None, lines: int = 100, since: float | None = None) -> list[LogLine]:
        """The last *lines* lines (oldest first) of every instance, of a type (``web``) or of
        one instance (``web.2``); with *since* (a wall-clock time), only lines framed after it.
        The ``system`` lines (started, exited, ...) come with every selection.

        For one instance, when the ring no longer holds *lines* lines and a log directory is
        set, the lines come from its log files instead (they have every line; their time is
        the file's)."""
        if lines <= 0:
            return []
        if name is None:
            rings = list(self._lines.items())
        else:
            rings = [(n, r) for n, r in self._lines.items()
                     if n in (name, SYSTEM) or n.rsplit(".", 1)[0] == name]
        if since is not None:
            rings = [(n, collections.deque(c for c in r if c[1] >= since)) for n, r in rings]
        # Newest chunks first until enough lines are collected; only those are cut into lines.
        chunks = sorted(((seq, when, n, data) for n, ring in rings for seq, when, data in ring), reverse=True)
        out: list[LogLine] = []
        for seq, when, n, data in chunks:
            out.extend(reversed(_cut(seq, when, n, data)))
            if len(out) >= lines:
                break
        out.sort(key=lambda line: line.seq)
        out = out[-lines:]
        if name is not None and "." in name and since is None and self.log_dir is not None:
            own = [line for line in out if line.name == name]
            if len(own) < lines:
                older = read_file_tail(self.log_dir, name, lines)
                if len(older) > len(own):
                    return older
        return out

    def follow(self, callback: Callable[[LogLine], None]) -> None:
        """Call *callback(line)* for each new line (on the loop; it must not block)."""
        self._followers[callback] = None

    def unfollow(self, callback: Callable[[LogLine], None]) -> None:
        self._followers.pop(callback, None)

    def follow_chunks(self, callback: ChunkFollower) -> None:
        """Call *callback(seq, time, name, lines)* for each new chunk of whole lines (each
        ending in ``\\n``; ``seq`` is its first line's), on the loop; it must not block."""
        self._chunk_followers[callback] = None

    def unfollow_chunks(self, callback: ChunkFollower) -> None:
        self._chunk_followers.pop(callback, None)


def _cut(seq: int, when: float, name: str, data: bytes) -> list[LogLine]:
    """The lines of a chunk framed at *seq* (each line's seq is its own first byte's)."""
    out = []
    for part in data[:-1].split(b"\n"):
        out.append(LogLine(seq, when, name, part))
        seq += len(part) + 1
    return out


def read_file_tail(directory: Path, name: str, lines: int) -> list[LogLine]:
    """The last *lines* lines of instance *name*'s log files (the current one, then ``.1``,
    ``.2``... as needed), oldest first; each line's time is its file's modification time."""
    out: list[LogLine] = []
    index = 0
    while len(out) < lines:
        path = directory / (f"{name}.log" if index == 0 else f"{name}.log.{index}")
        try:
            data = path.read_bytes()
            when = os.stat(path).st_mtime
        except OSError:
            break
        parts = data.split(b"\n")
        if parts and parts[-1] == b"":
            parts.pop()
        out[:0] = [LogLine(-1, when, name, part) for part in parts[-(lines - len(out)):]]
        index += 1
    return out
