"""The console: every process's output, labelled and coloured, plus ``system`` lines.

``Printer`` is an application of the Manager. Output reaches it through the Manager's output
sink (called for each chunk as read) and is framed into whole lines with bytes operations
(:mod:`honcho_uv.core.framing`); lifecycle lines come from events (:mod:`.messages`). Writing
is the :class:`~honcho_uv.console.writer.ConsoleWriter` thread's job; when it falls behind for
one process, the Printer pauses reading that process's pipe (lossless backpressure).

Each event is one line at most: an exit that stops everything is said once, by the exit policy
(:meth:`Printer.exit_line`), and a process that could not be started has its ``spawn_error``
line, not an exit line too. Without a prefix, stdout carries only the processes' own bytes:
the ``system`` lines go to stderr, so ``hu start --no-prefix | jq`` reads the output alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from honcho_uv.console.messages import describe_event
from honcho_uv.console.writer import ConsoleWriter
from honcho_uv.core.framing import LineFramer, prefix_lines

__all__ = ["COLOURS", "PARTIAL_FLUSH_S", "Printer"]
#: A partial line is printed once its process has been quiet this long (a prompt, a progress
#: bar). Never while hu itself paused reading (that is not the process being quiet).
PARTIAL_FLUSH_S = 0.5
#: cyan, yellow, green, magenta, red, blue, then the bright variants (honcho's order).
COLOURS = ("36", "33", "32", "35", "31", "34", "96", "93", "92", "95", "91", "94")
SYSTEM_COLOUR = "1"


class Printer:
    """Labelled, coloured console output for a Manager (an application).

    Args:
        fd: where to write (default stdout).
        colour: wrap prefixes in ANSI colours.
        prefix: print ``HH:MM:SS name | `` before each line (False: raw lines).
        timestamps: include ``HH:MM:SS`` in the prefix.
        quiet: process types whose output is hidden (their system lines still show).
        width: initial name column width (grows with longer names; at least 6).
        err_fd: where the ``system`` lines go when *prefix* is false (default stderr).
    """

    def __init__(self, fd: int = 1, *, colour: bool = False, prefix: bool = True, timestamps: bool = True,
                 quiet: Iterable[str] = (), width: int = 6, on_broken: Callable[[], None] | None = None,
                 err_fd: int = 2):
        self.fd = fd
        self.err_fd = err_fd
        self.colour = colour
        self.prefix = prefix
        self.timestamps = timestamps
        self.quiet = set(quiet)
        self.width = max(6, width)
        self.on_broken = on_broken
        self.manager: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: ConsoleWriter | None = None
        self._system_writer: ConsoleWriter | None = None  # the system lines' own, without a prefix
        # Process id -> the line to say in place of its exit line (see exit_line).
        self._exit_lines: dict[int, str] = {}
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
        if not self.prefix:
            # hu's own lines never hold a process back, and a closed stderr must not stop hu.
            self._system_writer = ConsoleWriter(self.err_fd, loop, on_pressure=lambda *_: None,
                                                on_broken=lambda: None)
        manager.add_output_sink(self.output)
        manager.bus.add_lifecycle_hook(self._lifecycle)
        manager.subscribe(".", self._on_event)

    def stop(self) -> None:
        for key in self._framer.keys():
            self._emit(self._names.get(key, "?") if isinstance(key, int) else "?", self._framer.flush(key))
        for timer in self._flush_timers.values():
            timer.cancel()
        self._flush_timers.clear()
        if self.manager is not None:
            self.manager.remove_output_sink(self.output)
            self.manager.bus.remove_lifecycle_hook(self._lifecycle)
            self.manager.unsubscribe(".", self._on_event)
        if self._writer is not None:
            self._writer.close()
        if self._system_writer is not None:
            self._system_writer.close()

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
        """Print a ``system`` line (its own colour; never quiet); without a prefix, the bare
        message on stderr."""
        line = message.encode(errors="replace") + b"\n"
        if not self.prefix:
            if self._system_writer is not None:
                self._system_writer.write((line,))
            return
        self._emit("system", line, SYSTEM_COLOUR)

    def exit_line(self, process: Any, line: str) -> None:
        """Say *line* in place of the system line of *process*'s exit (and of its spawn error).

        For an exit policy, which is called before the exit event is delivered: the exit that
        stops everything becomes one line, ``web.1 exited with code 3: stopping all
        processes``, not the exit line and then the stop line.
        """
        self._exit_lines[process.id] = line

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

    def _lifecycle(self, kind: str, process: Any) -> None:
        """At a process's exit (its output has ended): print its partial line, forget it (restarts
        over days must not grow these maps). A hook, not an event: it is never dropped."""
        if kind == "exit":
            key = process.id
            self._flush_process(key)
            self._processes.pop(key, None)
            self._held.pop(key, None)
            self._names.pop(key, None)

    def _on_event(self, event: str, msg: dict[str, Any]) -> None:
        if event in ("exit", "spawn_error") and msg.get("pid") in self._exit_lines:
            # The exit policy's line says it (a spawn error is followed by its exit event).
            line = self._exit_lines.pop(msg["pid"]) if event == "exit" else None
        else:
            line = describe_event(event, msg)
        if line:
            self.system(line)
