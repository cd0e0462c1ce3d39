"""The one stop strategy: signal, wait until a deadline, SIGKILL what is left, always await.

Design note. Every path that ends processes goes through :func:`terminate`: a Process's stop
(its group, the escapees of its tree, and its own exit), the Manager's sweep of adopted
orphans, and the daemon's cleanup of a crashed daemon's leftovers. As trio's ``run_process``
does, it never returns while a target it was given may still run:

1. the stop signal and then SIGCONT (a stopped process cannot act on SIGTERM) to the group
   and to each member outside it (a member in the group gets it once, through the group:
   many programs read a second SIGTERM or SIGINT as "quit now");
2. wait until the leader has exited and every member is gone, up to *grace* seconds;
3. past the deadline: one warning naming what ignored the signal (``on_escalate``), then
   SIGKILL to the group and each member still alive; wait for the leader (SIGKILL cannot be
   ignored) and up to :data:`KILL_WAIT_S` for the members;
4. if the waiting task is cancelled: SIGKILL everything at once and still await the leader
   before the cancellation goes on, so cancelling a stop never leaves an orphan.

Members are identity-checked (``psutil.Process`` bound to pid + create time), so a recycled pid
is never signalled. Waiting for processes that are not our children uses pidfds (Linux >= 5.3)
registered on the loop: nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterable

import psutil

__all__ = ["KILL_WAIT_S", "signal_all", "signal_group", "terminate", "wait_gone"]

log = logging.getLogger("honcho_uv.kill")

#: After SIGKILL, how long members (not our children, so not awaitable) may take to vanish.
KILL_WAIT_S = 1.0

GroupSignal = Callable[[int], object]


def signal_group(pgid: int, sig: int) -> bool:
    """``killpg`` that treats a vanished group as done. Returns whether anything was signalled."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


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
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
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


def kill_now(group: GroupSignal | None, members: Iterable[psutil.Process]) -> None:
    """SIGKILL the group and every member at once (the second Ctrl-C)."""
    if group is not None:
        group(signal.SIGKILL)
    signal_all(members, signal.SIGKILL)


async def terminate(
    members: Iterable[psutil.Process],
    *,
    sig: int = signal.SIGTERM,
    grace: float,
    group: GroupSignal | None = None,
    outside: Iterable[psutil.Process] | None = None,
    leader: Awaitable[object] | None = None,
    what: str = "process",
    on_escalate: Callable[[str], None] | None = None,
) -> list[psutil.Process]:
    """Stop a group and/or a set of processes (see the module docstring); return what survived
    even SIGKILL (normally nothing).

    Args:
        members: processes to stop (identity-bound; may be empty).
        sig: the stop signal (SIGCONT follows it).
        grace: seconds between the stop signal and SIGKILL.
        group: sends a signal to the leader's process group (None: no group).
        outside: the members outside that group, which the group signal does not reach
            (default: all of *members*); SIGKILL goes to every member regardless.
        leader: resolves when the group leader (our own child) has exited and been reaped.
        what: names the target in the escalation message (``web.1``).
        on_escalate: called with that message when SIGKILL is needed (a warning is logged too).

    After return the leader has exited, and every member is gone or was SIGKILLed
    :data:`KILL_WAIT_S` ago. On cancellation everything is SIGKILLed and the leader is still
    awaited before ``CancelledError`` propagates.
    """
    members = list(members)
    direct = members if outside is None else list(outside)
    leader_done = asyncio.ensure_future(leader) if leader is not None else None
    try:
        for s in (sig, signal.SIGCONT):
            if group is not None:
                group(s)
            signal_all(direct, s)
        try:
            async with asyncio.timeout(grace):
                if leader_done is not None:
                    await asyncio.shield(leader_done)
                await wait_gone(members, None)
            return []
        except TimeoutError:
            pass
        message = f"{what} did not stop within {grace:g}s of {signal.Signals(sig).name}: sending SIGKILL"
        log.warning("%s", message)
        if on_escalate is not None:
            on_escalate(message)
        kill_now(group, members)
        if leader_done is not None:
            await asyncio.shield(leader_done)
        survivors = await wait_gone(members, KILL_WAIT_S)
        if survivors:
            log.error("%s: %d process(es) survived SIGKILL: %s", what, len(survivors),
                      ", ".join(str(p.pid) for p in survivors))
        return survivors
    except asyncio.CancelledError:
        kill_now(group, members)
        if leader_done is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(leader_done)
        raise
