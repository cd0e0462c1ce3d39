"""The daemon's state file: what it runs, so that the next start can stop what a crashed
daemon left behind (reliability-anchors.md §7 G3, test T16).

A daemon killed with SIGKILL cannot clean up, and its children live in their own sessions,
so they outlive it. To find them again the daemon keeps a state file listing every live
managed process: instance name, os pid, create time, process group and session, stop
signal and graceful timeout. It is a journal, so that a change costs the same with 5 or
5,000 processes: a header line, then one line per start (``["+", name, pid, ...]``) or exit
(``["-", pid, create_time]``), appended when processes start or exit, a burst coalesced into
one write (:class:`StateRecorder`); once the exits outnumber the live records it is
rewritten whole (temporary file + rename, mode 0600). Nothing polls. A line cut short by a
crash is skipped when read. ``hu start`` keeps the same file for its app root
(``daemon/guardian.py``).

The file sits next to the pidfile (``<pidfile>.state``) when there is one, else in the
private runtime directory as ``gafferd-<key>.state``, ``<key>`` a hash of the config file's
absolute path: "the same daemon" is the same pidfile, else the same config file. A
``<state>.lock`` file beside it holds an exclusive ``flock`` for the daemon's lifetime: the
kernel drops it when the daemon dies, however it dies, so a live daemon is never mistaken
for a crashed one, and a second daemon for the same state is refused.

At start, with the lock held, the leftovers of the previous daemon are stopped before any
process is started. Identity is pid + create time, never the pid alone:

* a record whose pid is alive with another create time was recycled by a stranger: it and
  its group/session are not signalled (logged);
* otherwise every process in the record's session or process group created no earlier
  than the recorded leader is stopped (the leader itself, if alive, included). While a
  session or group has a member, Linux does not hand its number to a new process, so a
  member found there belongs to the crashed daemon's process (the one residual risk: the
  whole session emptied, the number was reused by a new session leader, and that leader
  died leaving members; all in the time between the crash and the restart);
* stop signal and SIGCONT to each (identity-checked, via psutil), SIGKILL to what is left
  after the recorded graceful timeout; all records in parallel.

What the state file cannot find: descendants that left their session (setsid, daemonize)
while the daemon was dead or before it was killed; while the daemon lived it was their
subreaper, after its death they belong to init.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from honcho_uv.atomicfile import write_atomic
from honcho_uv.core import kill
from honcho_uv.rundir import PidLock, app_key, runtime_dir

if TYPE_CHECKING:
    from honcho_uv.core.process import Process

__all__ = ["DaemonState", "Record", "StateRecorder", "app_state_path", "state_path", "stop_leftovers"]

log = logging.getLogger("honcho_uv.daemon")

FORMAT_VERSION = 2  # a journal (version 1, one JSON object, is still read)
_SAME_PROCESS_S = 0.01  # create times of one process read twice never differ by more


@dataclass(frozen=True, slots=True)  # slots: 5,000 of them are kept while hu runs
class Record:
    name: str
    pid: int
    create_time: float
    pgid: int
    sid: int
    stop_signal: int = int(signal.SIGTERM)
    graceful_timeout: float = 10.0


def state_path(config: str | None, pidfile: str | None) -> Path:
    """Where the daemon for *config* (and *pidfile*) keeps its state."""
    if pidfile:
        path = Path(pidfile)
        return path.with_name(path.name + ".state")
    key = app_key(config) if config else "default"
    return runtime_dir() / f"gafferd-{key}.state"


def app_state_path(app_root: str | Path) -> Path:
    """Where the ``hu start`` of *app_root* keeps its state (beside its lock and socket)."""
    return runtime_dir() / f"{app_key(Path(app_root).resolve())}.state"


class DaemonState:
    """The state file and its lock."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock = PidLock(self.lock_path, f"already running with pid {{pid}} (lock {self.lock_path})", remove=True)
        self._journal: int | None = None  # the file opened for appends, until the next write()

    # -- lock -----------------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the lock for this daemon's lifetime.

        Raises:
            StateError: another live daemon holds it (the message names its pid).
            ConfigError: the lock file cannot be opened.
        """
        self._lock.acquire()

    def release(self) -> None:
        """Drop the lock and remove its file (safe: see :class:`~honcho_uv.rundir.PidLock`)."""
        self._lock.release()

    # -- records --------------------------------------------------------------------------

    def read(self) -> tuple[int | None, list[Record]]:
        """The previous daemon's pid and records ((None, []) if there is no usable file)."""
        try:
            header, *lines = self.path.read_text(encoding="utf-8").splitlines()
            first = json.loads(header)
            if "processes" in first:  # version 1
                return first.get("daemon_pid"), [Record(**r) for r in first["processes"]]
            return first.get("daemon_pid"), _replay(lines)
        except FileNotFoundError:
            return None, []
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("%s: unreadable state file ignored (%s)", self.path, exc)
            return None, []

    def write(self, records: Iterable[Record]) -> None:
        """Replace the file with *records* (atomically; errors are logged, never raised)."""
        self._close_journal()
        lines = [json.dumps({"version": FORMAT_VERSION, "daemon_pid": os.getpid()})]
        lines += [_started(r) for r in records]
        try:
            write_atomic(self.path, ("\n".join(lines) + "\n").encode(), 0o600)
        except OSError as exc:
            log.error("%s: cannot write the state file (%s)", self.path, exc.strerror or exc)

    def append(self, started: Iterable[Record], exited: Iterable[tuple[int, float]]) -> None:
        """Add *started* and drop the *exited* ``(pid, create time)`` with one append (errors
        are logged, never raised)."""
        lines = [_started(r) for r in started]
        lines += [json.dumps(["-", pid, create_time]) for pid, create_time in exited]
        if not lines:
            return
        try:
            if self._journal is None:
                self._journal = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            os.write(self._journal, ("\n".join(lines) + "\n").encode())
        except OSError as exc:
            log.error("%s: cannot write the state file (%s)", self.path, exc.strerror or exc)

    def _close_journal(self) -> None:
        if self._journal is not None:
            with contextlib.suppress(OSError):
                os.close(self._journal)
            self._journal = None

    def remove(self) -> None:
        self._close_journal()
        with contextlib.suppress(OSError):
            self.path.unlink()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: it exists
    return True


def _record_of(process: Process) -> Record | None:
    """*process*'s record, None unless it runs. Started in a new session: its group and
    session are its pid (no syscall each)."""
    if not process.alive or process.os_pid is None or process.create_time is None:
        return None
    return Record(process.name, process.os_pid, process.create_time, process.os_pid, process.os_pid,
                  int(process.template.stop_signal), float(process.template.graceful_timeout))


def _started(r: Record) -> str:
    return json.dumps(["+", r.name, r.pid, r.create_time, r.pgid, r.sid, r.stop_signal, r.graceful_timeout])


def _replay(lines: list[str]) -> list[Record]:
    live: dict[tuple[int, float], Record] = {}
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # cut short by a crash in the middle of an append
        if entry[0] == "+":
            record = Record(*entry[1:])
            live[record.pid, record.create_time] = record
        elif entry[0] == "-":
            live.pop((entry[1], entry[2]), None)
    return list(live.values())


class StateRecorder:
    """Keeps *state* listing the live processes of *running* (a lifecycle hook of the bus).

    Starts are appended within :data:`SPAWN_DELAY_S` (one write for a burst: a wave of 5,000
    spawns is a few dozen appends of new lines, never a rewrite per spawn), exits within
    :data:`EXIT_DELAY_S` or with the next start if sooner: a record of an exited process is
    harmless (the cleanup verifies pid + create time), so a crash loop costs one write per
    spawn, not two. The owner writes the file first (``state.write([])``). After
    :meth:`close` nothing is written.
    """

    SPAWN_DELAY_S = 0.05
    EXIT_DELAY_S = 1.0

    def __init__(self, state: DaemonState, running: Callable[[], Iterable[Process]]):
        self.state = state
        self._running = running
        # Invariants: _recorded holds the id of each live process with a "+" line in the file
        # (ids, not records: 5,000 of them are kept); _started holds processes started since
        # the last flush, _exited the records of recorded processes that exited since, and
        # _lingering those whose leader exited but whose group still had members at a flush
        # (`cmd &`): they keep their "+" line until the group is gone; _lines counts the
        # lines after the file's header.
        self._recorded: set[int] = set()
        self._started: dict[int, Process] = {}
        self._exited: list[tuple[Record, bool]] = []  # (record, its "+" line was written)
        self._lingering: dict[tuple[int, float], Record] = {}
        self._lines = 0
        # _timer is the one pending flush (None: none); _soon says it is the short one.
        self._timer: asyncio.TimerHandle | None = None
        self._soon = False
        self._closed = False

    def __call__(self, event: str, process: Process) -> None:
        if self._closed:
            return
        if event == "spawn":
            self._started[process.id] = process
        elif process.os_pid is not None:
            unwritten = self._started.pop(process.id, None) is not None  # exited before a flush
            if unwritten or process.id in self._recorded:
                self._recorded.discard(process.id)
                # The create time was read when its "+" line was written; a leader that exited
                # before that has none: its spawn time (less a margin) bounds its group's members.
                created = process.create_time or (process.started_at or time.time()) - 1.0
                record = Record(process.name, process.os_pid, created, process.os_pid, process.os_pid,
                                int(process.template.stop_signal), float(process.template.graceful_timeout))
                self._exited.append((record, not unwritten))
        self._schedule(event == "spawn")

    def _schedule(self, soon: bool) -> None:
        loop = asyncio.get_running_loop()
        if soon and not self._soon:
            if self._timer is not None:
                self._timer.cancel()
            self._soon = True
            self._timer = loop.call_later(self.SPAWN_DELAY_S, self.flush)
        elif self._timer is None:
            self._timer = loop.call_later(self.EXIT_DELAY_S, self.flush)

    def flush(self) -> None:
        """Write what changed now (the whole list again once exits outnumber the live)."""
        self._timer, self._soon = None, False
        if self._closed:
            return
        started = []
        waiting: dict[int, Process] = {}  # exited, but its exit (the hook) is still to come
        for process in self._started.values():
            record = _record_of(process)
            if record is not None:
                self._recorded.add(process.id)
                started.append(record)
            elif process.os_pid is not None:
                waiting[process.id] = process
        self._started = waiting
        exited = []
        for record, written in [*self._exited, *((r, True) for r in self._lingering.values())]:
            key = (record.pid, record.create_time)
            if _group_alive(record.pgid):  # its leader is gone, not what it started
                self._lingering[key] = record
                if not written:
                    started.append(record)
            else:
                self._lingering.pop(key, None)
                if written:
                    exited.append(key)
        self._exited = []
        self._lines += len(started) + len(exited)
        if self._lines > 2 * (len(self._recorded) + len(self._lingering)) + 256:
            live = [p for p in self._running() if p.id in self._recorded]
            records = [r for r in map(_record_of, live) if r is not None] + list(self._lingering.values())
            self.state.write(records)
            self._lines = len(records)
        else:
            self.state.append(started, exited)

    def close(self) -> None:
        """No more writes (the owner removes the file once every process is gone)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


# -- cleanup of a crashed daemon's processes ----------------------------------------------


def _targets(records: list[Record]) -> dict[Record, tuple[bool, list[psutil.Process]]]:
    """For each record that is still ours: (leader verified alive, processes to stop)."""
    if not records:
        return {}  # nothing recorded: no scan of the whole process table at every start
    out: dict[Record, tuple[bool, list[psutil.Process]]] = {}
    by_sid: dict[int, list[psutil.Process]] = {}
    by_pgid: dict[int, list[psutil.Process]] = {}
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        with contextlib.suppress(OSError):
            by_sid.setdefault(os.getsid(proc.pid), []).append(proc)
            by_pgid.setdefault(os.getpgid(proc.pid), []).append(proc)
    for record in records:
        leader: psutil.Process | None = None
        try:
            candidate = psutil.Process(record.pid)
            if abs(candidate.create_time() - record.create_time) > _SAME_PROCESS_S:
                log.warning("leftover %s: pid %d now belongs to another process (%s); not signalled",
                            record.name, record.pid, _describe(candidate))
                continue
            if candidate.status() != psutil.STATUS_ZOMBIE:
                leader = candidate
        except psutil.Error:
            leader = None
        members: dict[int, psutil.Process] = {}
        if leader is not None:
            members[leader.pid] = leader
        for proc in (*by_sid.get(record.sid, ()), *by_pgid.get(record.pgid, ())):
            with contextlib.suppress(psutil.Error):
                if proc.pid not in members and proc.create_time() >= record.create_time - _SAME_PROCESS_S \
                        and proc.status() != psutil.STATUS_ZOMBIE:
                    members[proc.pid] = proc
        if members:
            out[record] = (leader is not None, list(members.values()))
    return out


def _describe(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(proc.cmdline())[:80] or proc.name()
    return "?"


async def _stop(record: Record, leader_alive: bool, procs: list[psutil.Process]) -> None:
    # With the leader verified ours, its group is too: signalling the group also catches members
    # forked since the scan (and each member of the group is signalled once, through it).
    outside = [p for p in procs if _pgid(p.pid) != record.pgid] if leader_alive else procs
    await kill.terminate(procs, sig=record.stop_signal, grace=record.graceful_timeout,
                         group=(lambda sig: kill.signal_group(record.pgid, sig)) if leader_alive else None,
                         outside=outside, what=f"leftover {record.name}")


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


async def stop_leftovers(daemon_pid: int | None, records: list[Record], what: str = "daemon") -> list[str]:
    """Stop what the crashed daemon (or hu, *what*) *daemon_pid* left running; returns the
    names stopped."""
    found = _targets(records)
    if not found:
        return []
    names = [f"{r.name} (pid {r.pid}{'' if alive else ', exited'}: {len(p)} process(es))"
             for r, (alive, p) in found.items()]
    log.info("stopping leftovers of a crashed %s (pid %s): %s", what, daemon_pid or "?", ", ".join(names))
    await asyncio.gather(*(_stop(r, alive, procs) for r, (alive, procs) in found.items()))
    return [r.name for r in found]
