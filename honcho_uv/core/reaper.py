"""Reaping: the children hu spawned (for their loop) and the orphans a subreaper adopts.

Design note. One daemon thread per process blocks in ``waitid(P_ALL, WEXITED | WNOWAIT)``:
the kernel wakes it only when some child has become a zombie, and WNOWAIT only peeks. An
idle hu therefore has no wake-ups, and no descriptor is held per child: a pidfd per child
doubled the file table that every ``vfork`` copies, which made spawning 5,000 children about
1.5x slower. What the thread does with the zombie it sees depends on whose it is:

* a child spawned by :class:`~honcho_uv.core.spawn.PopenSpawner` (:meth:`Reaper.watch`) is
  handed to its loop: the thread queues one *collect* there (never two) and waits for it,
  1 s at most. It drains, on the loop, every zombie at the head of the child list that
  the loop watches (``waitpid`` of exactly that pid) and calls each ``on_exit``; one hand-off
  serves a whole burst of exits, so the thread does not fight the loop for the GIL once per
  exit. A loop that stays stopped is then treated as the owner of a foreign zombie (below),
  so it holds up neither the other loops nor the orphans;
* a zombie the loop's own child watcher will reap (:meth:`register`: ``LoopSpawner``,
  probes) is left for the loop; the thread waits until the Manager unregisters it;
* while a spawn is in flight (``spawning > 0``) an unknown zombie may be the new child whose
  pid is not registered yet, so the thread waits for the spawn to finish;
* while a Manager holds the subreaper flag (:meth:`acquire`), any other zombie outside our
  own session is an adopted orphan: reaped at once with ``waitpid(pid, WNOHANG)``;
* anything else is someone else's child (an embedding program's own ``subprocess`` calls),
  which its owner will reap. As ``waitid`` keeps returning it, watched children that exit
  behind it are found by a *sweep* (``waitpid(pid, WNOHANG)`` of each watched pid, on its
  loop), repeated every 0.05 s while it lingers (with more than :data:`CHEAP_SWEEP` watched
  children, less and less often, up to every 0.5 s).

With no children at all, ``waitid`` fails with ECHILD: whatever is still watched was reaped
by someone else (a ``waitpid(-1)`` loop in the embedding program) and is reported as killed,
and the thread sleeps until the next spawn. An ignored SIGCHLD inherited from hu's parent is
reset to the default when the thread starts, or the kernel would reap children itself.

The subreaper role is active only while at least one Manager holds it (:meth:`acquire`):
when the last one releases it, the flag is cleared and orphans are no longer reaped, so
children that the embedding program (or a library such as pexpect) starts in their own
sessions after its Managers stopped are never taken from it. While a Manager runs, such
children would look like adopted orphans; programs that spawn their own session leaders
then should pass ``Manager(subreaper=False)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

from honcho_uv.core.subreaper import set_subreaper

__all__ = ["CHEAP_SWEEP", "Reaper"]

log = logging.getLogger(__name__)
CHEAP_SWEEP = 256  # watched children a sweep may check every 0.05 s (see _wait_for_owner)
ExitCallback = Callable[[int], None]


class _Watch:
    """A watched child: reaped on *loop*, which then gets ``on_exit(returncode)``.

    ``popen`` stays referenced until the child is reaped, so that ``subprocess`` never puts
    it on its own reaping list (which would race our ``waitpid``)."""

    __slots__ = ("loop", "on_exit", "popen")

    def __init__(self, loop: asyncio.AbstractEventLoop, popen: subprocess.Popen[bytes], on_exit: ExitCallback):
        self.loop, self.popen, self.on_exit = loop, popen, on_exit

    def reap(self, status: int | None = None) -> None:
        """Reap the child (unless *status* says it was) and report its exit; on its loop."""
        if status is None and (status := _poll(self.popen.pid)) is None:
            return
        returncode = self.settle(status)
        try:
            self.on_exit(returncode)
        except Exception:
            log.exception("exit callback of pid %d failed", self.popen.pid)

    def settle(self, status: int) -> int:
        """Record the reaped child's exit on its Popen (whose __del__ and poll() then see it
        reaped) and return it as a return code (-SIGKILL for an unknown *status*, -1)."""
        returncode = os.waitstatus_to_exitcode(status) if status != -1 else -signal.SIGKILL
        self.popen.returncode = returncode
        return returncode


def _poll(pid: int) -> int | None:
    """Reap *pid* if it has exited and return its wait status (-1: someone else reaped it, the
    status is lost); None while it runs."""
    try:
        reaped, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return -1
    return status if reaped == pid else None


class Reaper:
    """Reaps children in a background thread (see the module docstring).

    One per process (:meth:`shared`): two would each take the other's children for orphans.
    Spawners hand it their children with :meth:`watch`; Managers take the subreaper role with
    :meth:`acquire` and give it back with :meth:`release`.
    """

    _shared: Reaper | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._cond = threading.Condition()
        # Invariants (under _cond):
        # `watched`: the children we reap for their loop, until reaped (then removed).
        self._watched: dict[int, _Watch] = {}
        # `queued`: loops with a `_collect` queued that has not started (one at most each, so
        # a stopped loop does not pile them up); `sweeps`: those whose collect also sweeps.
        self._queued: set[asyncio.AbstractEventLoop] = set()
        self._sweeps: set[asyncio.AbstractEventLoop] = set()
        # `collecting`: loops running a collect now (the thread waits for it to end).
        self._collecting: set[asyncio.AbstractEventLoop] = set()
        # Bumped by whatever may give the thread something new to do (a spawn, a watched or
        # known pid, a Manager): with no child at all it sleeps until this changes.
        self._generation = 0
        # `known`: pids the loop's own child watcher reaps, not yet reported as exited;
        # `spawning` counts spawns whose pid is not yet in `known` or `watched`.
        self._known: set[int] = set()
        self._spawning = 0
        # The known child whose zombie the thread waits for the loop to reap (None: not
        # waiting on one). Only its unregister wakes the thread: waking it on each of 5,000
        # exits made it fight the loop for the GIL through a whole stop.
        self._waiting_for: int | None = None
        # The foreign zombie at the head of the child list, and how long to wait before the
        # next sweep while it stays there.
        self._foreign: tuple[int, float] = (0, 0.0)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._own_sid = os.getsid(0)
        self.reaped = 0
        self.users = 0

    @classmethod
    def supported(cls) -> bool:
        return hasattr(os, "waitid") and hasattr(os, "WNOWAIT") and sys.platform.startswith("linux")

    @classmethod
    def shared(cls) -> Reaper:
        """The process-wide reaper, its thread started."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            cls._shared.start()
            return cls._shared

    @classmethod
    def acquire(cls) -> Reaper | None:
        """The process-wide reaper with the subreaper flag set, or None where that is impossible."""
        if not cls.supported():
            return None
        reaper = cls.shared()
        with cls._shared_lock, reaper._cond:
            if reaper.users == 0 and not set_subreaper(True):
                return None
            reaper.users += 1
            reaper._changed()
        return reaper

    def release(self) -> None:
        """Give back a reference from :meth:`acquire`. With the last one, the subreaper flag is
        cleared and the thread stops reaping orphans (it goes on reaping watched children)."""
        with self._shared_lock, self._cond:
            self.users = max(0, self.users - 1)
            if self.users == 0:
                set_subreaper(False)
            self._cond.notify_all()

    def start(self) -> None:
        if self._thread is None and self.supported():
            main = threading.current_thread() is threading.main_thread()
            if main and signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN:
                # Inherited from a parent that ignores SIGCHLD: the kernel would then reap our
                # children itself, leaving no zombie and no exit status to report.
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self._thread = threading.Thread(target=self._run, name="hu-reaper", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end; it ends at its next wake-up (it is a daemon thread)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    @contextlib.contextmanager
    def spawning(self) -> Iterator[Reaper]:
        """Wrap a spawn: unknown zombies are not reaped until :meth:`register` or the block ends."""
        with self._cond:
            self._spawning += 1
            self._changed()
        try:
            yield self
        finally:
            with self._cond:
                self._spawning -= 1
                self._cond.notify_all()

    def watch(self, popen: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop, on_exit: ExitCallback) -> None:
        """Reap *popen*'s child when it exits and call ``on_exit(returncode)`` on *loop* then
        (never before this returns). Call it inside :meth:`spawning`, on *loop*."""
        with self._cond:
            self._watched[popen.pid] = _Watch(loop, popen, on_exit)
            self._changed()  # the thread may sleep for want of children

    def register(self, pid: int) -> None:
        """*pid* is the loop's child, reaped by the loop's own watcher: leave its zombie alone."""
        with self._cond:
            self._known.add(pid)
            self._changed()  # the thread may sleep for want of children

    def unregister(self, pid: int) -> None:
        with self._cond:
            self._known.discard(pid)
            if pid == self._waiting_for:
                self._cond.notify_all()

    def _changed(self) -> None:
        """Wake the thread: there may be something new to reap (under ``_cond``)."""
        self._generation += 1
        self._cond.notify_all()

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                # Asleep (no waitid at all) with nothing to reap for anyone.
                self._cond.wait_for(lambda: self._stopping or self.users > 0 or self._watched)
                if self._stopping:
                    return
                generation = self._generation
            try:
                result = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
            except ChildProcessError:
                self._no_children(generation)
                continue
            if result is not None:
                self._consider(result.si_pid)

    def _no_children(self, generation: int) -> None:
        """No child of ours exists: what is still watched or known was reaped by someone else (a
        ``waitpid(-1)`` loop of the embedding program); sweeps report those exits (status
        unknown: as killed). Then sleep until something changes after *generation*."""
        with self._cond:
            self._known.clear()
            for loop in {watch.loop for watch in self._watched.values()}:
                self._request(loop, sweep=True)
            self._cond.wait_for(lambda: self._stopping or self._generation != generation)

    def _consider(self, pid: int) -> None:
        with self._cond:
            watch = self._watched.get(pid)
            if watch is not None:
                if watch.loop in self._queued:  # its loop has not run the last collect: busy or stopped
                    self._wait_for_owner(pid)  # sweep the other loops meanwhile
                else:
                    self._hand_to_loop(watch.loop)
                return
            if pid in self._known or self._spawning:
                # The loop's child (or maybe it): wait for the loop to handle it. The timeout
                # covers a child reaped by someone else without an unregister.
                self._waiting_for = pid
                self._cond.wait(timeout=0.05)
                self._waiting_for = None
                return
            if self.users == 0:
                self._wait_for_owner(pid)  # nothing is adopted without the flag
                return
        try:
            sid = os.getsid(pid)
        except OSError:
            sid = None
        if sid == self._own_sid:
            with self._cond:
                self._wait_for_owner(pid)
            return
        with contextlib.suppress(ChildProcessError, OSError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                self.reaped += 1

    def _hand_to_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have *loop* collect its zombies, and wait until it has, for 1 s at most: a loop that
        is stopped (not closed) must not hold up the other loops' exits and the orphans (under
        ``_cond``)."""
        self._request(loop, sweep=False)
        done = self._cond.wait_for(
            lambda: (loop not in self._queued and loop not in self._collecting) or self._stopping, timeout=1.0)
        if not done and loop in self._queued and loop.is_closed():  # closed with the collect still queued
            self._queued.discard(loop)
            self._sweeps.discard(loop)
            self._abandon(loop)

    def _request(self, loop: asyncio.AbstractEventLoop, *, sweep: bool) -> None:
        """Queue one :meth:`_collect` on *loop* unless one is queued already (under ``_cond``)."""
        if sweep:
            self._sweeps.add(loop)
        if loop in self._queued:
            return
        try:
            loop.call_soon_threadsafe(self._collect, loop)
        except RuntimeError:  # closed: nobody is left to be told of these exits
            self._sweeps.discard(loop)
            self._abandon(loop)
            return
        self._queued.add(loop)

    def _abandon(self, loop: asyncio.AbstractEventLoop) -> None:
        """Forget the children of a closed loop: reap them here, telling nobody (under _cond)."""
        for pid, watch in [(pid, watch) for pid, watch in self._watched.items() if watch.loop is loop]:
            if (status := _poll(pid)) is not None:
                del self._watched[pid]
                watch.settle(status)

    def _wait_for_owner(self, pid: int) -> None:
        """Someone else's zombie is at the head of the child list (under ``_cond``): give its
        owner time to reap it, and meanwhile sweep the watched children it hides."""
        head, delay = self._foreign
        # A sweep costs a waitpid per watched child: past a few hundred, sweep less often the
        # longer the zombie lingers (exits are then noticed up to 0.5 s late).
        many = len(self._watched) > CHEAP_SWEEP
        delay = min(delay * 2, 0.5) if head == pid and many else 0.05
        self._foreign = (pid, delay)
        for loop in {watch.loop for watch in self._watched.values()}:
            self._request(loop, sweep=True)
        self._cond.wait(timeout=delay)

    # -- on the loop --------------------------------------------------------------------

    def _collect(self, loop: asyncio.AbstractEventLoop) -> None:
        """Drain *loop*'s zombies, and sweep its watched children if asked (on *loop*)."""
        with self._cond:
            self._queued.discard(loop)  # from here a new request queues another collect
            self._collecting.add(loop)
            sweep = loop in self._sweeps
            self._sweeps.discard(loop)
        try:
            self._drain(loop)
            if sweep:
                self._sweep(loop)
        finally:
            with self._cond:
                self._collecting.discard(loop)
                self._cond.notify_all()

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reap the zombies at the head of the child list that *loop* watches (on *loop*)."""
        while True:
            try:
                result = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if result is None:
                return
            with self._cond:
                watch = self._watched.get(result.si_pid)
                if watch is None or watch.loop is not loop:
                    return  # the thread's to judge
                del self._watched[result.si_pid]
            watch.reap()

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reap every watched child of *loop* that has exited (on *loop*; O(watched))."""
        with self._cond:
            mine = [(pid, watch) for pid, watch in self._watched.items() if watch.loop is loop]
        for pid, watch in mine:
            if (status := _poll(pid)) is None:
                continue
            with self._cond:
                if self._watched.pop(pid, None) is None:
                    continue
            watch.reap(status)
