"""The console: every process's output, labelled and coloured, plus ``system`` lines.

``Printer`` is an application of the Manager. Output reaches it through the Manager's output
sink (called for each chunk as read); lifecycle lines come from events. Writing happens in a
:class:`ConsoleWriter` thread doing blocking ``os.write`` calls on the output fd, so:

* the event loop never blocks on a slow terminal or a stalled pipe reader;
* we never set O_NONBLOCK on a descriptor shared with the user's shell;
* when the writer falls behind by more than :data:`HIGH_WATER_BYTES`, the Printer pauses
  reading the children's pipes (they block in ``write``: nothing is lost) and resumes below
  :data:`LOW_WATER_BYTES`; signals, timers and the API go on meanwhile;
* writes are batched: everything queued is joined and written with one call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from honcho_uv.output import LineFramer, prefix_lines

__all__ = ["COLOURS", "ConsoleWriter", "Printer"]

HIGH_WATER_BYTES = 4 << 20
LOW_WATER_BYTES = 1 << 20
#: A partial line is printed once its process has been quiet this long (a prompt, a progress
#: bar). Never while hu itself paused reading (that is not the process being quiet).
PARTIAL_FLUSH_S = 0.5
#: cyan, yellow, green, magenta, red, blue, then the bright variants (honcho's order).
COLOURS = ("36", "33", "32", "35", "31", "34", "96", "93", "92", "95", "91", "94")
SYSTEM_COLOUR = "1"


class ConsoleWriter:
    """Writes byte chunks to *fd* from a thread, in order, in batches.

    ``on_pressure(True)`` is called (on the loop) when more than *high* bytes are queued,
    ``on_pressure(False)`` once the queue drops below *low*; ``on_broken()`` once if the
    reader went away (EPIPE). :meth:`close` drains what is queued, then ends the thread.
    """

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop, *, on_pressure: Callable[[bool], None],
                 on_broken: Callable[[], None], high: int = HIGH_WATER_BYTES, low: int = LOW_WATER_BYTES):
        self._fd = fd
        self._loop = loop
        self._on_pressure = on_pressure
        self._on_broken = on_broken
        self._high, self._low = high, low
        self._cond = threading.Condition()
        # Invariant (under _cond): _queued == sum(map(len, _chunks)).
        self._chunks: list[bytes] = []
        self._queued = 0
        self._pressured = False
        self._closing = False
        self.broken = False
        self.written = 0  # bytes written so far (read by close() to tell progress from a stall)
        self._thread = threading.Thread(target=self._run, name="hu-console", daemon=True)
        self._thread.start()

    def write(self, chunks: Iterable[bytes]) -> None:
        if self.broken:
            return
        with self._cond:
            for chunk in chunks:
                self._chunks.append(chunk)
                self._queued += len(chunk)
            if not self._pressured and self._queued > self._high:
                self._pressured = True
                self._on_pressure(True)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._chunks or self._closing)
                if not self._chunks:
                    return
                data = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
                self._chunks.clear()
                self._queued = 0
            if not self._write_all(data):
                return
            with self._cond:
                if self._pressured and self._queued < self._low:
                    self._pressured = False
                    self._call(self._on_pressure, False)

    def _write_all(self, data: bytes) -> bool:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._fd, view)
            except InterruptedError:
                continue
            except BlockingIOError:
                time.sleep(0.01)  # someone made our fd non-blocking; wait for room
                continue
            except OSError:
                self.broken = True
                with self._cond:
                    self._chunks.clear()
                    self._queued = 0
                self._call(self._on_broken)
                return False
            view = view[n:]
            self.written += n
        return True

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed
            self._loop.call_soon_threadsafe(fn, *args)

    def close(self, stall_timeout: float = 1.0) -> None:
        """Write everything queued, then end the thread.

        Waits as long as the reader keeps reading; gives up once nothing could be written
        for *stall_timeout* seconds (a stalled reader must not keep hu from exiting).
        """
        with self._cond:
            self._closing = True
            self._cond.notify()
        last = self.written
        idle_since = time.monotonic()
        while self._thread.is_alive():
            self._thread.join(0.05)
            if self.written != last:
                last, idle_since = self.written, time.monotonic()
            elif time.monotonic() - idle_since > stall_timeout:
                return


class Printer:
    """Labelled, coloured console output for a Manager (an application).

    Args:
        fd: where to write (default stdout).
        colour: wrap prefixes in ANSI colours.
        prefix: print ``HH:MM:SS name | `` before each line (False: raw lines).
        timestamps: include ``HH:MM:SS`` in the prefix.
        quiet: process types whose output is hidden (their system lines still show).
        width: initial name column width (grows with longer names; at least 6).
    """

    def __init__(self, fd: int = 1, *, colour: bool = False, prefix: bool = True, timestamps: bool = True,
                 quiet: Iterable[str] = (), width: int = 6, on_broken: Callable[[], None] | None = None):
        self.fd = fd
        self.colour = colour
        self.prefix = prefix
        self.timestamps = timestamps
        self.quiet = set(quiet)
        self.width = max(6, width)
        self.on_broken = on_broken
        self.manager: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: ConsoleWriter | None = None
        self._framer = LineFramer()
        self._colours: dict[str, str] = {}
        self._stamp_second = -1
        self._stamp = b""
        self._prefixes: dict[str, bytes] = {}  # process name -> prefix bytes for _stamp_second
        self._flush_timers: dict[int, asyncio.TimerHandle] = {}
        self._names: dict[int, str] = {}
        self._last_data: dict[int, float] = {}  # process id -> loop time of its latest chunk
        self._paused = False

    # -- application protocol ------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, manager: Any) -> None:
        self._loop = loop
        self.manager = manager
        self._writer = ConsoleWriter(self.fd, loop, on_pressure=self._pressure, on_broken=self._broken)
        manager.add_output_sink(self.output)
        manager.subscribe(".", self._on_event)

    def stop(self) -> None:
        for key in self._framer.keys():
            self._emit(self._names.get(key, "?"), self._framer.flush(key))  # type: ignore[arg-type]
        for timer in self._flush_timers.values():
            timer.cancel()
        self._flush_timers.clear()
        if self.manager is not None:
            self.manager.remove_output_sink(self.output)
            self.manager.unsubscribe(".", self._on_event)
        if self._writer is not None:
            self._writer.close()

    def restart(self) -> None:
        pass

    # -- output ---------------------------------------------------------------------------

    def output(self, process: Any, label: str, data: bytes) -> None:
        """The Manager's output sink: frame *data* into whole lines and queue them."""
        if process.template.name in self.quiet:
            return
        key = process.id
        lines = self._framer.feed(key, data)
        if lines:
            self._emit(process.name, lines)
        if self._framer.pending(key) and self._loop is not None:
            self._last_data[key] = self._loop.time()
            if key not in self._flush_timers:
                self._names[key] = process.name
                self._flush_timers[key] = self._loop.call_later(PARTIAL_FLUSH_S, self._idle_check, key)

    def _idle_check(self, key: int) -> None:
        """Flush *key*'s partial line if its process has been quiet for PARTIAL_FLUSH_S."""
        self._flush_timers.pop(key, None)
        if not self._framer.pending(key) or self._loop is None:
            return
        quiet_for = self._loop.time() - self._last_data.get(key, 0.0)
        if self._paused or quiet_for < PARTIAL_FLUSH_S:
            wait = PARTIAL_FLUSH_S if self._paused else PARTIAL_FLUSH_S - quiet_for
            self._flush_timers[key] = self._loop.call_later(wait, self._idle_check, key)
            return
        self._flush_partial(key)

    def _flush_partial(self, key: int) -> None:
        self._flush_timers.pop(key, None)
        self._last_data.pop(key, None)
        lines = self._framer.flush(key)
        if lines:
            self._emit(self._names.get(key, "?"), lines)

    def _flush_process(self, key: int) -> None:
        timer = self._flush_timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._flush_partial(key)

    def _emit(self, name: str, lines: bytes, colour: str | None = None) -> None:
        if self._writer is None:
            return
        if not self.prefix:
            self._writer.write((lines,))
            return
        self._writer.write(prefix_lines(lines, self._prefix_for(name, colour)))

    def _prefix_for(self, name: str, colour: str | None) -> bytes:
        now = int(time.time())
        if now != self._stamp_second:
            self._stamp_second = now
            self._stamp = time.strftime("%H:%M:%S ", time.localtime(now)).encode() if self.timestamps else b""
            self._prefixes.clear()
        prefix = self._prefixes.get(name)
        if prefix is None:
            if len(name) > self.width:
                self.width = len(name)
                self._prefixes.clear()
            text = self._stamp + name.ljust(self.width).encode() + b" | "
            if self.colour:
                code = colour or self._colour_of(name)
                text = b"\x1b[" + code.encode() + b"m" + text + b"\x1b[0m"
            prefix = self._prefixes[name] = text
        return prefix

    def _colour_of(self, name: str) -> str:
        type_name = name.rsplit(".", 1)[0]
        colour = self._colours.get(type_name)
        if colour is None:
            colour = self._colours[type_name] = COLOURS[len(self._colours) % len(COLOURS)]
        return colour

    def system(self, message: str) -> None:
        """Print a ``system`` line (its own colour; never quiet)."""
        self._emit("system", message.encode(errors="replace") + b"\n", SYSTEM_COLOUR)

    def _pressure(self, on: bool) -> None:
        self._paused = on
        if self.manager is None:
            return
        if on:
            self.manager.pause_output()
        else:
            self.manager.resume_output()

    def _broken(self) -> None:
        if self.on_broken is not None:
            self.on_broken()

    # -- lifecycle lines ------------------------------------------------------------------

    def _on_event(self, event: str, msg: dict[str, Any]) -> None:
        if event.startswith("proc."):
            return
        line = describe_event(event, msg)
        if event == "exit" and msg.get("pid") is not None:
            self._flush_process(msg["pid"])
        if line:
            self.system(line)


def describe_event(event: str, msg: dict[str, Any]) -> str | None:
    """The system line for a Manager event, or None for events the console does not show."""
    instance = msg.get("instance") or msg.get("name")
    if event == "spawn":
        return f"{instance} started (pid={msg.get('os_pid')})"
    if event == "exit":
        sig = msg.get("term_signal")
        how = f"signal {_signame(sig)}" if sig else f"code {msg.get('exit_status')}"
        if msg.get("requested"):
            return f"{instance} stopped ({how})"
        return f"{instance} exited with {how}"
    if event == "spawn_error":
        return f"{msg.get('error')}"
    if event == "backoff":
        return f"{msg.get('name')} is restarting too fast: retry {msg.get('retries')} after a pause"
    if event == "fatal":
        return f"{msg.get('name')} keeps crashing: gave up (FATAL)"
    if event == "retry":
        return f"{msg.get('name')} retrying (retry {msg.get('retries')})"
    return None


def _signame(sig: Any) -> str:
    try:
        return signal.Signals(int(sig)).name
    except (TypeError, ValueError):
        return str(sig)
