"""Process-tree helpers: descendant snapshots, identity-checked signals, waiting for strangers.

A stop must reach every process a child started, including those that left its process
group (setsid, double fork). We take a psutil snapshot at stop time: the recursive
children of the leader plus every process in the leader's session or group. Each member is
kept as a ``psutil.Process``, whose ``send_signal`` checks pid + create time, so a recycled
pid is never signalled (reliability-anchors.md §6.6, Cacti #7425).

Waiting for processes that are not our children uses pidfds (Linux >= 5.3) registered on
the loop, so nothing polls; elsewhere it falls back to a coarse poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterable

import psutil

__all__ = ["adopted_orphans", "forget_table", "process_table", "reap_adopted_zombies", "set_subreaper", "signal_all", "signal_group", "snapshot_tree", "wait_gone"]

_PR_SET_CHILD_SUBREAPER = 36


def set_subreaper(on: bool) -> bool:
    """Make orphaned descendants re-parent to this process, or stop doing so (Linux).

    Returns whether the flag could be set.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        # dlopen(NULL): libc is already mapped. find_library("c") would run `ldconfig -p` in a
        # subprocess, which cost ~20 ms of every `hu start`.
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def signal_group(pgid: int, sig: int) -> bool:
    """``killpg`` that treats a vanished group as done. Returns whether anything was signalled."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


#: A process table younger than this is reused: stopping fifty processes at once costs one
#: scan of /proc, not a hundred (two per process, as before, took most of a 0.25 s shutdown).
TABLE_MAX_AGE_S = 0.05
_table: tuple[float, dict[int, tuple[int, int, int]]] | None = None


def process_table() -> dict[int, tuple[int, int, int]]:
    """``{pid: (ppid, pgid, sid)}`` for every process, read at most every TABLE_MAX_AGE_S."""
    global _table
    now = time.monotonic()
    if _table is not None and now - _table[0] < TABLE_MAX_AGE_S:
        return _table[1]
    table: dict[int, tuple[int, int, int]] = {}
    if os.path.isdir("/proc/self"):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            # Fields after the command (which may hold spaces and parentheses): state ppid pgrp session
            fields = stat[stat.rfind(b")") + 2 :].split(None, 4)
            table[int(entry)] = (int(fields[1]), int(fields[2]), int(fields[3]))
    else:
        for proc in psutil.process_iter(["ppid"]):
            with contextlib.suppress(OSError, psutil.Error):
                table[proc.pid] = (proc.info["ppid"], os.getpgid(proc.pid), os.getsid(proc.pid))
    _table = (now, table)
    return table


def forget_table() -> None:
    """Drop the cached table (the next snapshot reads /proc again)."""
    global _table
    _table = None


def snapshot_tree(leader_pid: int) -> list[psutil.Process]:
    """The leader's descendants plus the members of its session and group, leader excluded.

    Each member is a ``psutil.Process`` bound to its create time. Never raises: processes that
    vanish or deny access while we look are skipped.
    """
    table = process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    members: set[int] = set()
    todo = list(children.get(leader_pid, ()))
    while todo:
        pid = todo.pop()
        if pid not in members:
            members.add(pid)
            todo.extend(children.get(pid, ()))
    # Members that left the tree by ppid (adopted by us or init) but kept the session/group.
    members.update(pid for pid, (_, pgid, sid) in table.items() if leader_pid in (pgid, sid))
    members.discard(leader_pid)
    found = []
    for pid in members:
        with contextlib.suppress(psutil.Error):
            found.append(psutil.Process(pid))
    return found


def adopted_orphans(exclude_sessions: Iterable[int] = ()) -> list[psutil.Process]:
    """Our children (and their descendants) that we did not start: orphans re-parented to us
    as subreaper. Children in our own session, or in *exclude_sessions*, are not included.
    Zombies are left out (the Reaper takes them)."""
    forget_table()
    table = process_table()
    me, own_sid = os.getpid(), os.getsid(0)
    excluded = set(exclude_sessions) | {own_sid}
    roots = [pid for pid, (ppid, _, sid) in table.items() if ppid == me and sid not in excluded]
    found = []
    for root in roots:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(root)
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            found.append(proc)
            found.extend(snapshot_tree(root))
    return found


def reap_adopted_zombies(exclude_sessions: Iterable[int] = ()) -> int:
    """Reap every zombie child we adopted as subreaper; returns how many.

    Children in our own session or in *exclude_sessions* are left to their owners, and living
    children are left alone (``WNOHANG``). A process re-parents its children before it becomes a
    zombie, so after return no orphan that had exited by the call is left a zombie of ours.
    """
    me = os.getpid()
    excluded = set(exclude_sessions) | {os.getsid(0)}
    forget_table()
    reaped = 0
    for pid, (ppid, _, sid) in process_table().items():
        if ppid != me or sid in excluded:
            continue
        with contextlib.suppress(ChildProcessError, OSError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                reaped += 1
    return reaped


def signal_all(procs: Iterable[psutil.Process], sig: int) -> list[psutil.Process]:
    """Send *sig* to each still-living member (identity-checked); returns those signalled."""
    hit = []
    for proc in procs:
        with contextlib.suppress(psutil.Error, OSError):
            proc.send_signal(sig)  # psutil refuses if the pid now belongs to someone else
            hit.append(proc)
    return hit


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


async def wait_gone(procs: Iterable[psutil.Process], timeout: float | None) -> list[psutil.Process]:
    """Wait until every process in *procs* has exited (or is a zombie), at most *timeout* s.

    Returns the ones still alive. Cancellation closes every pidfd it opened.
    """
    pending = [p for p in procs if _alive(p)]
    if not pending:
        return []
    loop = asyncio.get_running_loop()
    if not hasattr(os, "pidfd_open"):
        return await _poll_gone(pending, timeout)
    futures: list[asyncio.Future[None]] = []
    fds: list[int] = []
    try:
        for proc in pending:
            try:
                fd = os.pidfd_open(proc.pid)
            except OSError:
                continue  # already gone
            fds.append(fd)
            fut: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _resolve, fut)
            futures.append(fut)
        if futures:
            await asyncio.wait(futures, timeout=timeout)
    finally:
        for fd in fds:
            loop.remove_reader(fd)
            os.close(fd)
    return [p for p in pending if _alive(p)]


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _poll_gone(pending: list[psutil.Process], timeout: float | None) -> list[psutil.Process]:
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while pending and (deadline is None or loop.time() < deadline):
        await asyncio.sleep(0.05)
        pending = [p for p in pending if _alive(p)]
    return pending


def kill_now(pgid: int, procs: Iterable[psutil.Process]) -> None:
    """SIGKILL the group and every member of a snapshot."""
    signal_group(pgid, signal.SIGKILL)
    signal_all(procs, signal.SIGKILL)
