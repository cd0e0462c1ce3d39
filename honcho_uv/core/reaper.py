"""Reaping the orphans a child subreaper adopts, without stealing the event loop's children.

Design note. As a subreaper (``PR_SET_CHILD_SUBREAPER``), orphaned descendants re-parent to
us and their zombies are ours to reap. uvloop owns SIGCHLD and reaps only the pids it spawned;
``waitpid(-1)`` would steal their exit statuses (uvloop #582). Periodic scans would wake an
idle hu. So one daemon thread blocks in ``waitid(P_ALL, WEXITED | WNOWAIT)``: the kernel wakes
it only when some child has become a zombie, and WNOWAIT only peeks.

* a zombie the loop spawned (registered in ``known``) is left for the loop; the thread waits
  until the Manager unregisters it (its exit was handled);
* while a spawn is in flight (``spawning > 0``) an unknown zombie may be the new child whose
  pid is not registered yet, so the thread waits for the spawn to finish;
* a zombie in our own session is left alone: it belongs to code outside the Manager (an
  embedding program's own ``subprocess`` calls), which will reap it;
* any other zombie is an adopted orphan: reaped at once with ``waitpid(pid, WNOHANG)``.

With no children at all, ``waitid`` fails with ECHILD and the thread sleeps on a condition
until the next spawn. An idle hu therefore has no periodic wake-ups.

The reaper acts only while at least one Manager holds it (:meth:`acquire`): when the last one
releases it, the subreaper flag is cleared and the thread sleeps, so children that the
embedding program (or a library such as pexpect) starts in their own sessions after its
Managers stopped are never taken from it. While a Manager runs, such children would look like
adopted orphans; programs that spawn their own session leaders then should pass
``Manager(subreaper=False)``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from collections.abc import Iterable, Iterator

from honcho_uv.core.procfs import ProcessTable

__all__ = ["Reaper", "reap_adopted_zombies", "set_subreaper"]

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
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def reap_adopted_zombies(table: ProcessTable, exclude_sessions: Iterable[int] = ()) -> int:
    """Reap every zombie child we adopted as subreaper; returns how many.

    Children in our own session or in *exclude_sessions* are left to their owners, and living
    children are left alone (``WNOHANG``). A process re-parents its children before it becomes a
    zombie, so after return no orphan that had exited by the call is left a zombie of ours.
    """
    reaped = 0
    for pid in table.adopted_pids(table.view(fresh=True), exclude_sessions):
        with contextlib.suppress(ChildProcessError, OSError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                reaped += 1
    return reaped


class Reaper:
    """Reaps adopted orphans in a background thread (Linux / POSIX with ``waitid``).

    One per process (:meth:`shared`): two reapers would each take the other's children for
    orphans. Managers acquire it with :meth:`acquire` and give it back with :meth:`release`.
    """

    _shared: Reaper | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._cond = threading.Condition()
        # Invariant (under _cond): `known` holds the pids the loop spawned and has not yet
        # reported as exited; `spawning` counts spawns whose pid is not yet in `known`.
        self._known: set[int] = set()
        self._spawning = 0
        # The known child whose zombie the thread waits for the loop to reap (None: not
        # waiting on one). Only its unregister wakes the thread: waking it on each of 5,000
        # exits made it fight the loop for the GIL through a whole stop.
        self._waiting_for: int | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._own_sid = os.getsid(0)
        self.reaped = 0
        self.users = 0

    @classmethod
    def acquire(cls) -> Reaper | None:
        """The process-wide reaper with the subreaper flag set, or None where that is impossible."""
        with cls._shared_lock:
            if not cls.supported():
                return None
            if cls._shared is None:
                cls._shared = cls()
            reaper = cls._shared
            with reaper._cond:
                if reaper.users == 0 and not set_subreaper(True):
                    return None
                reaper.users += 1
                reaper._cond.notify_all()
            reaper.start()
            return reaper

    def release(self) -> None:
        """Give back a reference from :meth:`acquire`. With the last one, the subreaper flag is
        cleared and the thread stops reaping (it stays, asleep, for the next Manager)."""
        with self._shared_lock, self._cond:
            self.users = max(0, self.users - 1)
            if self.users == 0:
                set_subreaper(False)
            self._cond.notify_all()

    @staticmethod
    def supported() -> bool:
        return hasattr(os, "waitid") and hasattr(os, "WNOWAIT")

    def start(self) -> None:
        if self._thread is None and self.supported():
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
            self._cond.notify_all()
        try:
            yield self
        finally:
            with self._cond:
                self._spawning -= 1
                self._cond.notify_all()

    def register(self, pid: int) -> None:
        with self._cond:
            self._known.add(pid)
            if len(self._known) == 1:  # the thread may sleep for want of children
                self._cond.notify_all()

    def unregister(self, pid: int) -> None:
        with self._cond:
            self._known.discard(pid)
            if pid == self._waiting_for:
                self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                # Asleep (no waitid at all) while no Manager holds the reaper.
                self._cond.wait_for(lambda: self._stopping or self.users > 0)
                if self._stopping:
                    return
            try:
                result = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
            except ChildProcessError:
                with self._cond:  # no children: sleep until something is spawned
                    self._cond.wait_for(lambda: self._stopping or self._known or self._spawning)
                continue
            except InterruptedError:
                continue
            if result is None:
                continue
            self._consider(result.si_pid)

    def _consider(self, pid: int) -> None:
        with self._cond:
            if self.users == 0:
                return  # released while we waited: not ours to reap any more
            if pid in self._known or self._spawning:
                # The loop's child (or maybe it): wait for the loop to handle it. The timeout
                # covers a child reaped by someone else without an unregister.
                self._waiting_for = pid
                self._cond.wait(timeout=0.05)
                self._waiting_for = None
                return
        try:
            sid = os.getsid(pid)
        except OSError:
            sid = None
        if sid == self._own_sid:
            # Someone else's child in our own session; give its owner time to reap it.
            with self._cond:
                self._cond.wait(timeout=0.05)
            return
        with contextlib.suppress(ChildProcessError, OSError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                self.reaped += 1
