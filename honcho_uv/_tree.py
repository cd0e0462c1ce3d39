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
import ctypes.util
import os
import signal
import sys
from collections.abc import Iterable

import psutil

__all__ = ["set_subreaper", "signal_all", "signal_group", "snapshot_tree", "wait_gone"]

_PR_SET_CHILD_SUBREAPER = 36


def set_subreaper(on: bool) -> bool:
    """Make orphaned descendants re-parent to this process, or stop doing so (Linux).

    Returns whether the flag could be set.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
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


def snapshot_tree(leader_pid: int) -> list[psutil.Process]:
    """The leader's descendants plus the members of its session and group, leader excluded.

    Never raises: processes that vanish or deny access while we look are skipped.
    """
    found: dict[int, psutil.Process] = {}
    try:
        for child in psutil.Process(leader_pid).children(recursive=True):
            found[child.pid] = child
    except (psutil.Error, OSError):
        pass
    # Members that left the tree by ppid (adopted by us or init) but kept the session/group.
    for proc in psutil.process_iter():
        pid = proc.pid
        if pid == leader_pid or pid in found:
            continue
        try:
            if os.getsid(pid) == leader_pid or os.getpgid(pid) == leader_pid:
                found[pid] = proc
        except OSError:
            continue
    return list(found.values())


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
