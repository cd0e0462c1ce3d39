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
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from honcho_uv.output import LineFramer, prefix_lines

__all__ = ["COLOURS", "ConsoleWriter", "Printer"]

#: Per process: when more than HIGH of its output waits for the console, that process's pipe
#: stops being read (it blocks in write); reading resumes below LOW. Per process, not global,
#: so a quiet process is never held up by a noisy one (a global pause starved whichever pipe
#: the loop happened to read last). Memory is bounded by about HIGH + one read per process.
HIGH_WATER_BYTES = 1 << 20
LOW_WATER_BYTES = 256 << 10
#: A partial line is printed once its process has been quiet this long (a prompt, a progress
#: bar). Never while hu itself paused reading (that is not the process being quiet).
PARTIAL_FLUSH_S = 0.5
#: cyan, yellow, green, magenta, red, blue, then the bright variants (honcho's order).
COLOURS = ("36", "33", "32", "35", "31", "34", "96", "93", "92", "95", "91", "94")
SYSTEM_COLOUR = "1"


class ConsoleWriter:
    """Writes byte chunks to *fd* from a thread, in order, in batches.

    Each chunk is written on behalf of a *source* (a process id, or None for hu's own lines).
    ``on_pressure(source, True)`` is called at once (on the loop) when more than *high* bytes
    of that source are queued or being written, ``on_pressure(source, False)`` once they drop
    below *low*; the None source is never held back. ``on_broken()`` is called once if the
    reader went away (EPIPE). :meth:`close` drains what is queued, then ends the thread.
    """

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop, *,
                 on_pressure: Callable[[Hashable, bool], None], on_broken: Callable[[], None],
                 high: int = HIGH_WATER_BYTES, low: int = LOW_WATER_BYTES):
        self._fd = fd
        self._loop = loop
        self._on_pressure = on_pressure
        self._on_broken = on_broken
        self._high, self._low = high, low
        self._cond = threading.Condition()
        # Invariants (under _cond): _outstanding[s] is the bytes of source s queued or in the
        # batch being written (entries at 0 are removed); _batch[s] is the part of it queued
        # since the thread last took a batch; _held holds the sources reported as pressured.
        self._chunks: list[bytes] = []
        self._outstanding: dict[Hashable, int] = {}
        self._batch: dict[Hashable, int] = {}
        self._held: set[Hashable] = set()
        self._closing = False
        self.broken = False
        self.written = 0  # bytes written so far (read by close() to tell progress from a stall)
        self._thread = threading.Thread(target=self._run, name="hu-console", daemon=True)
        self._thread.start()

    def write(self, chunks: Iterable[bytes], source: Hashable = None) -> None:
        if self.broken:
            return
        with self._cond:
            size = 0
            for chunk in chunks:
                self._chunks.append(chunk)
                size += len(chunk)
            self._outstanding[source] = self._outstanding.get(source, 0) + size
            self._batch[source] = self._batch.get(source, 0) + size
            hold = source is not None and source not in self._held and self._outstanding[source] > self._high
            if hold:
                self._held.add(source)
            self._cond.notify()
        if hold:
            self._on_pressure(source, True)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._chunks or self._closing)
                if not self._chunks:
                    return
                data = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
                self._chunks.clear()
                taken, self._batch = self._batch, {}
            if not self._write_all(data):
                return
            with self._cond:
                for source, size in taken.items():
                    left = self._outstanding.get(source, 0) - size
                    if left > 0:
                        self._outstanding[source] = left
                    else:
                        self._outstanding.pop(source, None)
                    if source in self._held and left < self._low:
                        self._held.discard(source)
                        self._call(self._on_pressure, source, False)

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
                    self._outstanding.clear()
                    self._batch.clear()
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
        # Processes whose reading this printer paused (console backpressure), by process id.
        self._held: dict[int, Any] = {}
        self._processes: dict[int, Any] = {}  # process id -> Process, for the pressure callback

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
        self._processes[key] = process
        lines = self._framer.feed(key, data)
        if lines:
            self._emit(process.name, lines, source=key)
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
        paused = key in self._held
        if paused or quiet_for < PARTIAL_FLUSH_S:
            wait = PARTIAL_FLUSH_S if paused else PARTIAL_FLUSH_S - quiet_for
            self._flush_timers[key] = self._loop.call_later(wait, self._idle_check, key)
            return
        self._flush_partial(key)

    def _flush_partial(self, key: int) -> None:
        self._flush_timers.pop(key, None)
        self._last_data.pop(key, None)
        lines = self._framer.flush(key)
        if lines:
            self._emit(self._names.get(key, "?"), lines, source=key)

    def _flush_process(self, key: int) -> None:
        timer = self._flush_timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._flush_partial(key)

    def _emit(self, name: str, lines: bytes, colour: str | None = None, source: int | None = None) -> None:
        if self._writer is None:
            return
        if not self.prefix:
            self._writer.write((lines,), source)
            return
        self._writer.write(prefix_lines(lines, self._prefix_for(name, colour)), source)

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

    def _pressure(self, source: Any, on: bool) -> None:
        """Hold or release one process's pipe as its share of the console queue fills/drains."""
        if on:
            process = self._processes.get(source)
            if process is not None and source not in self._held:
                self._held[source] = process
                process.pause_reading()
        else:
            process = self._held.pop(source, None)
            if process is not None:
                process.resume_reading()

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
            # Forget the process (restarts over days must not grow these maps).
            self._processes.pop(msg["pid"], None)
            self._held.pop(msg["pid"], None)
            self._names.pop(msg["pid"], None)
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
