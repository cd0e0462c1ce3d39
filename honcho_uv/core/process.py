"""One OS process: spawn it with its pipes, read its output, write its stdin, stop it.

* **Spawn** goes through the :class:`~honcho_uv.core.spawn.Spawner` it is given (``Popen``, the
  exit watched by the shared reaper, by default), in a new session; stdin is ``/dev/null`` unless ``redirect_input``; a
  ``tty`` template gets a pty as stdio and controlling terminal (core/stdio.py).
* **Output.** We make the pipes (or pty) ourselves and read them with ``connect_read_pipe``:
  the same semantics on uvloop and stock asyncio, chunks handed as bytes to the
  :class:`~honcho_uv.core.bus.OutputBus`, and ``pause_reading`` for lossless backpressure (the
  child blocks in ``write``). Whether to read is the bus's decision (:meth:`set_reading`).
* **Exit.** The exit is reported (:meth:`wait` returns) once the child has exited and its
  pipes reached EOF, or :data:`EXIT_OUTPUT_GRACE_S` after the exit when a grandchild keeps a
  pipe open; such a pipe keeps being read until :meth:`close`.
* **Stop** is :func:`honcho_uv.core.kill.terminate` on the child's group, the escapees of its
  tree (from the shared process table) and its own exit, awaited even when cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import time
from collections import ChainMap
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from honcho_uv.core import kill
from honcho_uv.core.procfs import ProcessTable, create_time
from honcho_uv.core.snapshot import InstanceInfo, describe
from honcho_uv.core.stdio import ChildStdio, OutputProtocol, StdinWriter, close_fds, flat_env, no_input_message
from honcho_uv.core.terminal import Window
from honcho_uv.errors import SpawnError, StateError
from honcho_uv.models import ExitStatus, ProcessTemplate

if TYPE_CHECKING:
    import psutil

    from honcho_uv.core.bus import OutputBus
    from honcho_uv.core.reaper import Reaper
    from honcho_uv.core.spawn import Child, Spawner

__all__ = ["EXIT_OUTPUT_GRACE_S", "InstanceInfo", "Phase", "Process"]

EXIT_OUTPUT_GRACE_S = 0.2


class Phase(enum.Enum):
    """Where a Process is in its one life (a restart makes a new Process)."""

    NEW = "new"  # created; stdin writes are queued until the spawn
    SPAWNING = "spawning"  # spawn in flight: a stop waits for it, then stops what it started
    RUNNING = "running"  # the child runs (os_pid is known)
    EXITED = "exited"  # the child exited; its output may still be draining
    FAILED = "failed"  # the spawn failed or was refused: nothing ran


class Process:
    """A running (or finished) instance of a template, such as ``web.2``.

    Attributes:
        id: the Manager's internal id (``pid`` in events); unique, never reused.
        number: the instance number (``web.2`` -> 2); kept across restarts.
        os_pid: the OS pid once spawned.
        requested_stop: set when hu asked this process to end (stop, restart, scale-down).
    """

    # Slots, not a 1.6 kB attribute dict each: 5,000 instances fit in 80 MB (benchmarks.rst, Scale).
    __slots__ = ("_child", "_connecting", "_create_time", "_done", "_exit_status", "_exited", "_grace_handle",
                 "_master", "_now", "_on_escalate", "_pipes", "_reading", "_reaper", "_snapshot", "_spawn_settled",
                 "_spawner", "_stdin", "_table", "_window", "bus", "env", "failure", "id", "loop", "number",
                 "os_pid", "phase", "ready", "requested_stop", "started_at", "started_monotonic", "template")

    def __init__(self, loop: asyncio.AbstractEventLoop, id: int, template: ProcessTemplate, number: int,
                 env: MutableMapping[str, str], *, spawner: Spawner, bus: OutputBus, table: ProcessTable,
                 reaper: Reaper | None = None, now: Callable[[], float] = time.monotonic,
                 on_escalate: Callable[[Process, str], None] | None = None, window: Window | None = None):
        self.loop = loop
        self.id = id
        self.template = template
        self.number = number
        self.env: ChainMap[str, str] = ChainMap({}, env)  # writes go to our layer: *env* may be shared
        self._spawner = spawner
        self.bus = bus  # where output goes, and who decides about reading it
        self._table = table
        self._reaper = reaper
        self._window = window or Window()  # the size a tty child's terminal gets (template.tty)
        self._master: int | None = None  # a tty child's pty master, registered with _window until done
        self._now = now
        self._on_escalate = on_escalate
        self.os_pid: int | None = None
        self._create_time: float | None = None  # read on first use: see create_time
        self.started_at: float | None = None  # wall clock, for display
        self.started_monotonic: float | None = None  # on the Manager's clock
        self.requested_stop = False
        # None: the template has no ready probe; False until the probe passes, then True.
        self.ready: bool | None = None
        # Why it failed to become ready; set when hu stops it for that (an unexpected exit).
        self.failure: str | None = None
        self.phase = Phase.NEW
        self._child: Child | None = None
        # label -> read transport; entries are removed at EOF. Read while _reading.
        self._pipes: dict[str | None, asyncio.ReadTransport] = {}
        self._reading = True
        self._connecting = False  # pipes are being connected: an exit report waits for them
        self._stdin = StdinWriter()
        self._exit_status: ExitStatus | None = None
        self._exited: asyncio.Future[ExitStatus] = loop.create_future()  # the leader exited
        self._done: asyncio.Future[ExitStatus] = loop.create_future()  # exit reported (output drained)
        self._spawn_settled: asyncio.Future[None] = loop.create_future()  # spawn ended, either way
        self._grace_handle: asyncio.TimerHandle | None = None
        self._snapshot: list[psutil.Process] = []  # the tree at stop time (for a second Ctrl-C)

    @property
    def name(self) -> str:
        return f"{self.template.name}.{self.number}"

    @property
    def pid(self) -> int:
        """gaffer's name for the internal id."""
        return self.id

    @property
    def alive(self) -> bool:
        return self.phase is Phase.RUNNING

    @property
    def exit_status(self) -> ExitStatus | None:
        return self._exit_status

    def __repr__(self) -> str:
        return f"<Process {self.name} id={self.id} os_pid={self.os_pid} {self.phase.value}>"

    # -- spawn --------------------------------------------------------------------------

    async def spawn(self, on_started: Callable[[Process], None] | None = None) -> None:
        """Start the child. After return it runs and its pipes are being read.

        *on_started(process)* is called once the pid is known, before any output is delivered.

        Raises:
            SpawnError: the executable, the cwd or a pipe could not be had; ``__cause__`` is the
                OSError. Nothing is left open. Also raised, without starting anything, when a
                stop was requested before the spawn began.
        """
        if self.phase is not Phase.NEW:
            raise StateError(f"{self.name}: already spawned")
        self.phase = Phase.SPAWNING  # NEW -> SPAWNING
        try:
            if self.requested_stop:
                raise SpawnError(f"{self.name}: stopped before it started")
            await self._spawn(on_started)
        except BaseException:
            self.phase = Phase.FAILED  # SPAWNING -> FAILED
            self._stdin.close()
            raise
        finally:
            if not self._spawn_settled.done():
                self._spawn_settled.set_result(None)

    async def _spawn(self, on_started: Callable[[Process], None] | None) -> None:
        template = self.template
        if template.cwd is not None and not os.path.isdir(template.cwd):  # noqa: ASYNC240 - one stat
            raise SpawnError(f"{self.name}: working directory {template.cwd!r} does not exist")
        stdio = ChildStdio.open(self.name, template.redirect_output, template.redirect_input,
                                self._window if template.tty else None)
        argv = template.argv()
        try:
            with self._reaper.spawning() if self._reaper else contextlib.nullcontext():
                stdin, stdout, stderr = stdio.child
                self._child = await self._spawner.spawn(
                    argv, env=flat_env(self.env), cwd=template.cwd, user=template.uid, group=template.gid,
                    stdin=stdin, stdout=stdout, stderr=stderr, terminal=stdio.terminal, on_exit=self._on_exit,
                )
                self.os_pid = self._child.pid
                if self._reaper:
                    self._reaper.register(self.os_pid)
        except BaseException as exc:  # an OSError, a preexec failure, a cancel: nothing of ours stays open
            stdio.close_all()
            if isinstance(exc, OSError):
                raise SpawnError(f"{self.name}: cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
            raise
        finally:
            stdio.close_child_ends()
        if (master := stdio.master) is not None:
            stdio.master, self._master = None, master  # ours now (closed at _report_done)
            self._window.register(self.id, master)
        if self._exit_status is None:  # the loop's spawner may report an exit this early
            self.phase = Phase.RUNNING  # SPAWNING -> RUNNING
        self.started_at = time.time()
        self.started_monotonic = self._now()
        if on_started is not None:
            on_started(self)
        # connect_*_pipe yields to the loop: the child may exit meanwhile, and its exit must
        # not be reported before its output has been read.
        self._connecting = True
        try:
            if stdio.stdin is not None:
                await self._stdin.connect(self.loop, stdio.stdin, terminal=stdio.terminal)
            for label, fd in stdio.outputs.items():
                await self._connect_output(label, fd)
        finally:
            self._connecting = False
        if self._exit_status is not None:
            self._exit_reported_or_grace()

    async def _connect_output(self, label: str | None, fd: int) -> None:
        pipe = open(fd, "rb", buffering=0)  # noqa: ASYNC230 - wraps a pipe fd; the transport owns it
        transport, _ = await self.loop.connect_read_pipe(lambda: OutputProtocol(self, label), pipe)
        self._pipes[label] = transport
        if not self._reading:
            transport.pause_reading()

    # -- output -------------------------------------------------------------------------

    def set_reading(self, on: bool) -> None:
        """Read the output pipes or not (the OutputBus decides; see its pauses)."""
        self._reading = on
        for transport in self._pipes.values():
            if on:
                transport.resume_reading()
            else:
                transport.pause_reading()

    def pause_reading(self) -> None:
        """Stop reading this process's output (the child blocks once its pipe fills). Pauses
        nest: reading resumes when every pause has been matched by a :meth:`resume_reading`."""
        self.bus.pause(self)

    def resume_reading(self) -> None:
        self.bus.resume(self)

    @property
    def reading_paused(self) -> bool:
        return self.bus.is_paused(self)

    def monitor_io(self, label: str, listener: Callable[..., Any], on_end: Callable[[], None] | None = None) -> None:
        """Call ``listener(label, msg)`` for each chunk of output *label* (``"."`` = every label);
        *on_end()* once the output has ended. ``msg`` is as for ``Manager.monitor_io``.

        Raises:
            StateError: *label* is not one of the template's ``redirect_output`` labels.
        """
        if label != "." and label not in self.template.redirect_output:
            raise StateError(f"{self.name}: output {label!r} is not redirected")
        self.bus.monitor_process(self, label, listener, on_end)

    def unmonitor_io(self, label: str, listener: Callable[..., Any]) -> None:
        self.bus.unmonitor_process(self, label, listener)

    def pipe_closed(self, label: str | None) -> None:
        """Output *label* reached EOF (called by its reader)."""
        self._pipes.pop(label, None)
        if self._exit_status is not None and not self._pipes and not self._connecting:
            self._report_done()

    def write(self, data: bytes | str) -> None:
        """Write *data* to the child's stdin. Safe from any thread; writes keep their order.

        Raises:
            StateError: the process has no stdin (``redirect_input=False``).
        """
        if not (self.template.redirect_input or self.template.tty):
            raise StateError(no_input_message(self.name, self.template.name))
        if isinstance(data, str):
            data = data.encode()
        self.loop.call_soon_threadsafe(self._stdin.write, bytes(data))

    def writelines(self, lines: Iterable[bytes | str]) -> None:
        """Write each of *lines* in order (no newlines are added)."""
        self.write(b"".join(line.encode() if isinstance(line, str) else line for line in lines))

    # -- exit ---------------------------------------------------------------------------

    def _on_exit(self, returncode: int) -> None:
        if self._exit_status is not None:
            return
        self._exit_status = ExitStatus.from_returncode(returncode)
        if self.phase in (Phase.RUNNING, Phase.SPAWNING):
            self.phase = Phase.EXITED  # RUNNING -> EXITED
        if self._reaper and self.os_pid is not None:
            self._reaper.unregister(self.os_pid)
        self._exited.set_result(self._exit_status)
        if self.started_monotonic is not None:  # else spawn() reports it once it has returned
            self._exit_reported_or_grace()

    def _exit_reported_or_grace(self) -> None:
        if not self._pipes and not self._connecting:
            self._report_done()
        elif self._grace_handle is None and not self._done.done():
            self._grace_handle = self.loop.call_later(EXIT_OUTPUT_GRACE_S, self._report_done)

    def _report_done(self) -> None:
        if self._grace_handle is not None:
            self._grace_handle.cancel()
            self._grace_handle = None
        if not self._done.done() and self._exit_status is not None:
            self._stdin.close()
            if self._master is not None:
                self._window.unregister(self.id)
                close_fds([self._master])
                self._master = None
            self._done.set_result(self._exit_status)

    async def wait(self) -> ExitStatus:
        """The exit status, once the exit is reported (see the module docstring)."""
        return await asyncio.shield(self._done)

    async def wait_exit(self) -> ExitStatus:
        """The exit status, as soon as the child has exited (its output may still drain)."""
        return await asyncio.shield(self._exited)

    @property
    def create_time(self) -> float | None:
        """The child's create time (psutil's pid identity stamp), read on first use, not at spawn
        (a fifth of its cost): exact while :attr:`alive` (unreaped, so its pid is not reused)."""
        if self._create_time is None and self.alive and self.os_pid is not None:
            self._create_time = create_time(self.os_pid)
        return self._create_time

    def tree_pids(self) -> list[int]:
        """The OS pids of the child and everything it started (from the shared process table)."""
        if self.os_pid is None or not self.alive:
            return []
        return [self.os_pid, *self._table.view(fresh=True).tree_pids(self.os_pid)]

    # -- signals and stop -----------------------------------------------------------------

    def send_signal(self, sig: int) -> None:
        """Send *sig* to the process group while the leader lives; a no-op after its exit."""
        if self.alive and self._child is not None:
            self._child.signal_group(sig)

    def kill(self) -> None:
        """SIGKILL the group and the stop-time snapshot now (the second Ctrl-C)."""
        if self._child is None or self.os_pid is None:
            return
        if not self._snapshot and self.alive:
            self._snapshot = self._table.snapshot(self.os_pid)
        kill.kill_now(self._child.signal_group, self._snapshot)

    async def stop(self, timeout: float | None = None, sig: int | None = None) -> ExitStatus | None:
        """Stop the process and everything it started; return its exit status.

        Sends *sig* (default: the template's stop signal) and SIGCONT to the group and to each
        descendant outside it; after *timeout* (default: the template's ``graceful_timeout``)
        SIGKILLs them (identity by pid + create time). Returns only when the leader has exited
        and every member of the stop-time snapshot is gone; on cancellation everything is
        killed and the exit still awaited. Returns None if it never ran.
        """
        self.requested_stop = True
        if self.phase is Phase.SPAWNING:
            await asyncio.shield(self._spawn_settled)  # a spawn in flight: stop what it starts
        if self._child is None or self.os_pid is None:
            return None
        if self.alive:
            self._snapshot, escapees = self._table.split_snapshot(self.os_pid)
            await kill.terminate(
                self._snapshot, sig=self.template.stop_signal if sig is None else sig,
                grace=self.template.graceful_timeout if timeout is None else timeout,
                group=self._child.signal_group, outside=escapees, leader=self._exited, what=self.name,
                on_escalate=self._escalated,
            )
        return await self.wait()

    def _escalated(self, message: str) -> None:
        if self._on_escalate is not None:
            self._on_escalate(self, message)

    def close(self) -> None:
        """Stop reading any pipe still open (a grandchild may hold one) and free the transports."""
        for transport in list(self._pipes.values()):
            transport.close()
        self._pipes.clear()
        self._report_done()

    def monitor(self, listener: Callable[[str, dict[str, Any]], Any]) -> None:
        """Call ``listener("stat", msg)`` with this process's stats, every 0.1 s or as
        :class:`~honcho_uv.core.stats.StatsTicker` stretches it."""
        self.bus.monitor_process_stats(self, listener)

    def unmonitor(self, listener: Callable[[str, dict[str, Any]], Any]) -> None:
        self.bus.unmonitor_process_stats(self, listener)

    def stats(self) -> dict[str, Any] | None:
        """One stats sample now (None if the process is not alive)."""
        return self.bus.sample(self)

    def uptime(self) -> float | None:
        """Seconds since the spawn (on the Manager's clock) while alive, else None."""
        return self._now() - self.started_monotonic if self.started_monotonic is not None and self.alive else None

    def describe(self) -> InstanceInfo:
        """A plain-data description (see :class:`~honcho_uv.core.snapshot.InstanceInfo`)."""
        return describe(self)

    def info(self) -> dict[str, Any]:
        """:meth:`describe` as a dict (gaffer's ``info``), with ``pid`` = the internal id."""
        return {"pid": self.id, **asdict(self.describe())}
