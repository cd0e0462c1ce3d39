"""One OS process: spawn in its own session, read its output, write its stdin, stop it.

Design note.

* **Spawn.** ``loop.subprocess_exec`` with ``start_new_session=True`` (the child's pid is
  its session and group id, so the terminal's Ctrl-C reaches only hu) and stdin /dev/null
  unless ``redirect_input``. uvloop has no ``user=``/``group=`` and its ``preexec_fn`` blocks
  the loop, so uid/gid are dropped by exec'ing through :mod:`honcho_uv._privdrop` (same pid).
* **Output.** We make the pipes ourselves (``os.pipe``, enlarged to 1 MiB where allowed)
  and read them with ``connect_read_pipe``: the same pipe semantics on uvloop and stock
  asyncio, chunks of up to 256 KiB, and ``pause_reading`` for lossless backpressure (the
  child blocks in ``write`` while hu stays responsive). Chunks are delivered as bytes.
* **Exit.** The exit is reported (``wait()`` returns) once the child has exited and its
  pipes reached EOF, or :data:`EXIT_OUTPUT_GRACE_S` after the exit when a grandchild keeps
  a pipe open; such a pipe keeps being read until :meth:`close`.
* **Stop.** Snapshot the tree, send the stop signal to the group (and once to each escapee
  outside it) followed by SIGCONT, wait ``graceful_timeout``, SIGKILL the group and the
  snapshot, and always await the exit before returning (trio's rule: cancellation never
  leaves an orphan).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import psutil

from honcho_uv import _popen, _tree
from honcho_uv.errors import SpawnError, StateError
from honcho_uv.models import ExitStatus, ProcessTemplate

if TYPE_CHECKING:
    from honcho_uv.reaper import Reaper
    from honcho_uv.stats import StatsWatcher

__all__ = ["EXIT_OUTPUT_GRACE_S", "Process"]

EXIT_OUTPUT_GRACE_S = 0.2
PIPE_SIZE_BYTES = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)

OutputListener = Callable[[str, dict[str, Any]], Any]


class Process:
    """A running (or finished) instance of a template, such as ``web.2``.

    Attributes:
        id: the Manager's internal id (``pid`` in events); unique, never reused.
        number: the instance number (``web.2`` -> 2); kept across restarts.
        os_pid: the OS pid once spawned.
        requested_stop: set when hu asked this process to end (stop, restart, scale-down).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        id: int,
        template: ProcessTemplate,
        number: int,
        env: Mapping[str, str],
        *,
        reaper: Reaper | None = None,
        output_sink: Callable[[Process, str, bytes], None] | None = None,
    ):
        self.loop = loop
        self.id = id
        self.template = template
        self.number = number
        self.env = dict(env)
        self._reaper = reaper
        self._output_sink = output_sink
        self.os_pid: int | None = None
        self.create_time: float | None = None
        self.started_at: float | None = None  # wall clock, for display
        self.started_monotonic: float | None = None
        self.requested_stop = False
        self._transport: asyncio.SubprocessTransport | None = None
        # label -> read transport; entries are removed at EOF.
        self._pipes: dict[str, asyncio.ReadTransport] = {}
        self._io_listeners: dict[str, dict[OutputListener, None]] = {}
        # pause_reading() calls not yet matched by resume_reading(): each party that pauses
        # (the console for this process, the Manager for all) resumes its own pause.
        self._pauses = 0
        self._exit_status: ExitStatus | None = None
        self._exited = loop.create_future()  # the leader exited (output may still be draining)
        self._done = loop.create_future()  # exit reported: leader exited and pipes drained (or grace)
        self._grace_handle: asyncio.TimerHandle | None = None
        self._snapshot: list[psutil.Process] = []
        self._stats: StatsWatcher | None = None
        # "new" -> "spawning" -> "done"; a stop waits for an in-flight spawn, and a stop
        # requested before the spawn began makes spawn() refuse.
        self._spawn_state = "new"
        self._spawn_done = loop.create_future()
        self._connecting = False  # output pipes are being connected (an exit must wait for them)
        # stdin writes made before the spawn finished, flushed in order once it has (None after).
        self._stdin_backlog: list[bytes] | None = []

    # -- identity -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"{self.template.name}.{self.number}"

    @property
    def pid(self) -> int:
        """gaffer's name for the internal id."""
        return self.id

    @property
    def alive(self) -> bool:
        return self.os_pid is not None and not self._exited.done()

    @property
    def exit_status(self) -> ExitStatus | None:
        return self._exit_status

    def __repr__(self) -> str:
        return f"<Process {self.name} id={self.id} os_pid={self.os_pid}>"

    # -- spawn --------------------------------------------------------------------------

    def _argv(self) -> list[str]:
        argv = self.template.argv()
        if self.template.uid is not None or self.template.gid is not None:
            uid = -1 if self.template.uid is None else self.template.uid
            gid = -1 if self.template.gid is None else self.template.gid
            # By path and isolated (-I): the child's env and cwd (os_env=False drops PYTHONPATH;
            # the app dir may hold anything) must not decide which code runs as root.
            argv = [sys.executable, "-I", _PRIVDROP, str(uid), str(gid), "--", *argv]
        return argv

    async def spawn(self, on_started: Callable[[Process], None] | None = None) -> None:
        """Start the child. After return it runs and its pipes are being read.

        *on_started(process)* is called once the pid is known, before any output can be
        delivered (so a "started" event is published ahead of the first line).

        Raises:
            SpawnError: the executable, the cwd or a pipe could not be had; ``__cause__`` is the
                OSError. Nothing is left open. Also raised, without starting anything, when a
                stop was requested before the spawn began.
        """
        if self._spawn_state != "new":
            raise StateError(f"{self.name}: already spawned")
        self._spawn_state = "spawning"
        try:
            if self.requested_stop:
                raise SpawnError(f"{self.name}: stopped before it started")
            await self._spawn(on_started)
        except BaseException:
            self._stdin_backlog = None
            raise
        finally:
            self._spawn_state = "done"
            if not self._spawn_done.done():
                self._spawn_done.set_result(None)

    async def _spawn(self, on_started: Callable[[Process], None] | None) -> None:
        template = self.template
        cwd = template.cwd
        if cwd is not None and not os.path.isdir(cwd):
            raise SpawnError(f"{self.name}: working directory {cwd!r} does not exist")
        labels = template.redirect_output
        pipes: dict[str, tuple[int, int]] = {}
        try:
            for label in dict.fromkeys(labels):
                r, w = os.pipe()
                pipes[label] = (r, w)
                with contextlib.suppress(OSError):
                    fcntl.fcntl(w, _F_SETPIPE_SZ, PIPE_SIZE_BYTES)
        except OSError as exc:
            _close_fds(fd for pair in pipes.values() for fd in pair)
            raise SpawnError(f"{self.name}: cannot create output pipes: {exc.strerror}") from exc
        stdout = pipes[labels[0]][1] if len(labels) >= 1 else subprocess.DEVNULL
        stderr = pipes[labels[1]][1] if len(labels) >= 2 else subprocess.DEVNULL
        stdin = subprocess.PIPE if template.redirect_input else subprocess.DEVNULL
        argv = self._argv()
        try:
            with self._reaper.spawning() if self._reaper else contextlib.nullcontext():
                if _popen.available():  # fast path: Popen + pidfd (see _popen.py)
                    argv = template.argv()
                    transport, _ = await _popen.spawn(
                        self.loop, lambda: _ChildProtocol(self), argv, stdin=stdin, stdout=stdout,
                        stderr=stderr, env=self.env, cwd=cwd, user=template.uid, group=template.gid,
                    )
                else:
                    transport, _ = await self.loop.subprocess_exec(
                        lambda: _ChildProtocol(self),
                        *argv,
                        stdin=stdin,
                        stdout=stdout,
                        stderr=stderr,
                        env=self.env,
                        cwd=cwd,
                        start_new_session=True,
                    )
                self.os_pid = transport.get_pid()
                if self._reaper:
                    self._reaper.register(self.os_pid)
        except OSError as exc:
            _close_fds(fd for pair in pipes.values() for fd in pair)
            what = exc.strerror or str(exc)
            raise SpawnError(f"{self.name}: cannot start {argv[0]!r}: {what}") from exc
        finally:
            _close_fds(w for _, w in pipes.values())
        self._transport = transport
        self.started_at = time.time()
        self.started_monotonic = time.monotonic()
        with contextlib.suppress(psutil.Error):
            self.create_time = psutil.Process(self.os_pid).create_time()
        if on_started is not None:
            on_started(self)
        backlog, self._stdin_backlog = self._stdin_backlog or [], None
        for data in backlog:
            self._write_now(data)
        # connect_read_pipe yields to the loop: the child may exit meanwhile, and its exit must
        # not be reported before its output has been read.
        self._connecting = True
        try:
            for label, (r, _) in pipes.items():
                pipe = open(r, "rb", buffering=0)  # noqa: SIM115 - owned by the transport from here
                read_transport, _ = await self.loop.connect_read_pipe(
                    lambda label=label: _OutputProtocol(self, label), pipe
                )
                self._pipes[label] = read_transport
                if self._pauses:
                    read_transport.pause_reading()
        finally:
            self._connecting = False
        if self._exited.done() and not self._pipes:
            self._report_done()

    # -- output -------------------------------------------------------------------------

    def monitor_io(self, label: str, listener: OutputListener) -> None:
        """Call ``listener(label, msg)`` for each chunk of output *label* (``"."`` = every label).

        ``msg`` is ``{"event": label, "name", "pid", "os_pid", "data": bytes}``; chunks are
        as read (up to 256 KiB, not line-aligned).

        Raises:
            StateError: *label* is not one of the template's ``redirect_output`` labels.
        """
        if label != "." and label not in self.template.redirect_output:
            raise StateError(f"{self.name}: output {label!r} is not redirected")
        self._io_listeners.setdefault(label, {})[listener] = None

    def unmonitor_io(self, label: str, listener: OutputListener) -> None:
        listeners = self._io_listeners.get(label)
        if listeners is not None:
            listeners.pop(listener, None)
            if not listeners:
                del self._io_listeners[label]  # empty again: _on_output takes its fast path

    def _on_output(self, label: str, data: bytes) -> None:
        if self._output_sink is not None:
            self._output_sink(self, label, data)
        if not self._io_listeners:
            return  # the common case: no per-process subscriber, no list or dict per chunk
        targets = [*self._io_listeners.get(label, ()), *self._io_listeners.get(".", ())]
        if targets:
            msg = {"event": label, "name": self.template.name, "pid": self.id, "os_pid": self.os_pid, "data": data}
            for listener in targets:
                listener(label, msg)

    def pause_reading(self) -> None:
        """Stop reading the output pipes (the child blocks once they fill).

        Pauses nest: reading resumes when every pause has been matched by a resume.
        """
        self._pauses += 1
        if self._pauses == 1:
            for transport in self._pipes.values():
                transport.pause_reading()

    def resume_reading(self) -> None:
        if self._pauses == 0:
            return
        self._pauses -= 1
        if self._pauses == 0:
            for transport in self._pipes.values():
                transport.resume_reading()

    @property
    def reading_paused(self) -> bool:
        return self._pauses > 0

    def _on_pipe_closed(self, label: str) -> None:
        self._pipes.pop(label, None)
        if self._exited.done() and not self._pipes:
            self._report_done()

    # -- stdin --------------------------------------------------------------------------

    def write(self, data: bytes | str) -> None:
        """Write *data* to the child's stdin. Safe from any thread; writes keep their order.

        Raises:
            StateError: stdin is not redirected (``redirect_input=False``).
        """
        if not self.template.redirect_input:
            raise StateError(f"{self.name}: stdin is not redirected (set redirect_input)")
        if isinstance(data, str):
            data = data.encode()
        self.loop.call_soon_threadsafe(self._write_now, bytes(data))

    def writelines(self, lines: Iterable[bytes | str]) -> None:
        """Write each of *lines* in order (no newlines are added)."""
        for line in lines:
            self.write(line)

    def _write_now(self, data: bytes) -> None:
        if self._stdin_backlog is not None:  # not spawned yet: keep it, in order
            self._stdin_backlog.append(data)
            return
        transport = self._transport
        pipe = transport.get_pipe_transport(0) if transport is not None else None
        if pipe is not None and not pipe.is_closing():
            pipe.write(data)

    # -- exit ---------------------------------------------------------------------------

    def _on_exited(self, returncode: int) -> None:
        if self._exited.done():
            return
        self._exit_status = ExitStatus.from_returncode(returncode)
        if self._reaper and self.os_pid is not None:
            self._reaper.unregister(self.os_pid)
        if self._stats is not None:
            self._stats.close()
        self._exited.set_result(self._exit_status)
        if not self._pipes and not self._connecting:
            self._report_done()
        else:
            self._grace_handle = self.loop.call_later(EXIT_OUTPUT_GRACE_S, self._report_done)

    def _report_done(self) -> None:
        if self._grace_handle is not None:
            self._grace_handle.cancel()
            self._grace_handle = None
        if not self._done.done() and self._exit_status is not None:
            if self._transport is not None:
                self._transport.close()
            self._done.set_result(self._exit_status)

    async def wait(self) -> ExitStatus:
        """The exit status, once the exit is reported (see the module docstring)."""
        return await asyncio.shield(self._done)

    # -- signals and stop -----------------------------------------------------------------

    def send_signal(self, sig: int) -> None:
        """Send *sig* to the process group while the leader lives; a no-op after its exit."""
        if self.alive and self.os_pid is not None:
            _tree.signal_group(self.os_pid, sig)

    def kill(self) -> None:
        """SIGKILL the group and the stop-time snapshot now (the second Ctrl-C)."""
        if self.os_pid is None:
            return
        if not self._snapshot and self.alive:
            self._snapshot = _tree.snapshot_tree(self.os_pid)
        _tree.kill_now(self.os_pid, self._snapshot)

    async def stop(self, timeout: float | None = None, sig: int | None = None) -> ExitStatus | None:
        """Stop the process and everything it started; return its exit status.

        Sends *sig* (default: the template's stop signal) and SIGCONT to the group, and the same
        once to each descendant outside the group; after *timeout* (default: the template's
        ``graceful_timeout``) SIGKILLs the group and every descendant still alive (identity by
        pid + create time). Returns only when the leader has exited and every member of the
        stop-time snapshot is gone. On cancellation the process is killed and still awaited.
        Returns None if it was never spawned.
        """
        self.requested_stop = True
        if self._spawn_state == "spawning":
            await asyncio.shield(self._spawn_done)  # a spawn in flight: stop what it starts
        if self.os_pid is None:
            return None
        timeout = self.template.graceful_timeout if timeout is None else timeout
        sig = self.template.stop_signal if sig is None else sig
        deadline = self.loop.time() + timeout
        try:
            if self.alive:
                self._snapshot = _tree.snapshot_tree(self.os_pid)
                escapees = [p for p in self._snapshot if _pgid(p.pid) != self.os_pid]
                _tree.signal_group(self.os_pid, sig)
                _tree.signal_all(escapees, sig)
                _tree.signal_group(self.os_pid, signal.SIGCONT)
                _tree.signal_all(escapees, signal.SIGCONT)
                try:
                    await asyncio.wait_for(asyncio.shield(self._exited), timeout)
                except asyncio.TimeoutError:
                    self.kill()
            await asyncio.shield(self._exited)
            if self._snapshot:
                survivors = await _tree.wait_gone(self._snapshot, max(0.0, deadline - self.loop.time()))
                if survivors:
                    _tree.signal_all(survivors, signal.SIGKILL)
                    await _tree.wait_gone(survivors, 1.0)
            return await self.wait()
        except asyncio.CancelledError:
            self.kill()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._exited)
            raise

    def close(self) -> None:
        """Stop reading any pipe still open (a grandchild may hold one) and free the transport."""
        for transport in list(self._pipes.values()):
            transport.close()
        self._pipes.clear()
        if self._stats is not None:
            self._stats.close()
        self._report_done()

    # -- stats --------------------------------------------------------------------------

    def monitor(self, listener: Callable[[str, dict[str, Any]], Any]) -> None:
        """Call ``listener("stat", msg)`` every 0.1 s with this process's stats (see stats.py)."""
        from honcho_uv.stats import StatsWatcher

        if self._stats is None or self._stats.closed:
            self._stats = StatsWatcher(self.loop, self)
        self._stats.add(listener)

    def unmonitor(self, listener: Callable[[str, dict[str, Any]], Any]) -> None:
        if self._stats is not None:
            self._stats.remove(listener)

    def stats(self) -> dict[str, Any] | None:
        """One stats sample now (None if the process is gone)."""
        from honcho_uv.stats import sample_process

        if not self.alive or self.os_pid is None:
            return None
        return sample_process(self.os_pid, self.create_time)

    # -- description --------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """A JSON-friendly description (no environment: it may hold secrets)."""
        status = self._exit_status
        return {
            "pid": self.id,
            "id": self.id,
            "name": self.name,
            "type": self.template.name,
            "number": self.number,
            "os_pid": self.os_pid,
            "cmd": self.template.cmd,
            "args": list(self.template.args) if self.template.args is not None else None,
            "create_time": self.create_time,
            "started_at": self.started_at,
            "uptime": (time.monotonic() - self.started_monotonic) if self.started_monotonic and self.alive else None,
            "alive": self.alive,
            "redirect_output": list(self.template.redirect_output),
            "redirect_input": self.template.redirect_input,
            "exit_status": None if status is None else status.code,
            "term_signal": None if status is None else status.signal,
            "port": self.env.get("PORT"),
        }


_ids = itertools.count(1)
_PRIVDROP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_privdrop.py")


def next_process_id() -> int:
    """Internal ids start at 1 and are never reused (per interpreter)."""
    return next(_ids)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _close_fds(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class _ChildProtocol(asyncio.SubprocessProtocol):
    def __init__(self, process: Process):
        self._process = process
        self._transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def process_exited(self) -> None:
        assert self._transport is not None, "process_exited before connection_made"
        returncode = self._transport.get_returncode()
        self._process._on_exited(returncode if returncode is not None else -signal.SIGKILL)


class _OutputProtocol(asyncio.Protocol):
    def __init__(self, process: Process, label: str):
        self._process = process
        self._label = label

    def data_received(self, data: bytes) -> None:
        self._process._on_output(self._label, data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._process._on_pipe_closed(self._label)
