"""Fakes for the Manager's two seams: a spawner that scripts children, a clock that jumps.

``Manager(spawner=FakeSpawner(), clock=FakeClock(), subreaper=False)`` runs the real
Supervisor, policy, bus and stop code with no OS process and no real waiting: a test makes a
child exit (:meth:`FakeChild.exit`) and moves time (:meth:`FakeClock.advance`).

A fake child's pid is above any real pid (Linux caps pids at 2**22), so the process-table
snapshot of a stop finds nothing and ``killpg`` on it is never reached: signals go through
:meth:`FakeChild.signal_group`, which records them and, for a stop signal, exits the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import signal
from collections.abc import Callable, Mapping
from typing import Any

FAKE_PID_BASE = 1 << 30


class FakeChild:
    """A scripted child: exits when told to (or on a stop signal, unless *stubborn*)."""

    def __init__(self, pid: int, argv: list[str], env: Mapping[str, str], stdout: int | None,
                 on_exit: Callable[[int], None], stubborn: bool):
        self.pid = pid
        self.argv = argv
        self.env = dict(env)
        self.signals: list[int] = []
        self.stubborn = stubborn
        self.returncode: int | None = None
        self._stdout = stdout
        self._on_exit = on_exit

    def write(self, data: bytes) -> None:
        """Write *data* to the child's stdout pipe (as the child would)."""
        assert self._stdout is not None, "no stdout"
        os.write(self._stdout, data)

    def exit(self, returncode: int = 0) -> None:
        """End the child with *returncode* (negative: killed by that signal), on the loop."""
        if self.returncode is not None:
            return
        self.returncode = returncode
        if self._stdout is not None:
            os.close(self._stdout)  # EOF on the pipe, as a real exit gives
            self._stdout = None
        asyncio.get_running_loop().call_soon(self._on_exit, returncode)

    def signal_group(self, sig: int) -> bool:
        if self.returncode is not None:
            return False
        self.signals.append(sig)
        if sig == signal.SIGKILL or (not self.stubborn and sig not in (signal.SIGCONT,)):
            self.exit(-sig)
        return True


class FakeSpawner:
    """Starts :class:`FakeChild` objects instead of processes.

    *fail* makes every spawn raise that OSError; *stubborn* children ignore every signal but
    SIGKILL. ``children`` lists every child started, oldest first.
    """

    def __init__(self, *, stubborn: bool = False, fail: OSError | None = None):
        self.children: list[FakeChild] = []
        self.stubborn = stubborn
        self.fail = fail
        self._pids = itertools.count(FAKE_PID_BASE)

    async def spawn(self, argv: list[str], *, env: Mapping[str, str], cwd: str | None, stdin: int, stdout: int,
                    stderr: int, user: int | None, group: int | None, on_exit: Callable[[int], None],
                    terminal: bool = False) -> FakeChild:
        if self.fail is not None:
            raise self.fail
        # The caller closes its copies of the child's ends after the spawn: keep our own.
        out = os.dup(stdout) if stdout >= 0 else None
        child = FakeChild(next(self._pids), argv, env, out, on_exit, self.stubborn)
        self.children.append(child)
        return child

    def alive(self) -> list[FakeChild]:
        return [c for c in self.children if c.returncode is None]

    def close(self) -> None:
        for child in self.children:
            if child._stdout is not None:
                with contextlib.suppress(OSError):
                    os.close(child._stdout)
                child._stdout = None


class _Timer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A monotonic clock that moves only when :meth:`advance` is called.

    ``call_later`` callbacks run during :meth:`advance`, in due order, once their time has come.
    """

    def __init__(self, start: float = 1000.0):
        self.time = start
        self._queue: list[tuple[float, int, _Timer, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.time

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> _Timer:
        timer = _Timer()
        heapq.heappush(self._queue, (self.time + delay, next(self._seq), timer, callback, args))
        return timer

    @property
    def pending(self) -> list[float]:
        """Due times of the timers not cancelled."""
        return sorted(when for when, _, timer, _, _ in self._queue if not timer.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time forward by *seconds*, running every timer that falls due."""
        target = self.time + seconds
        while self._queue and self._queue[0][0] <= target:
            when, _, timer, callback, args = heapq.heappop(self._queue)
            self.time = max(self.time, when)
            if not timer.cancelled:
                callback(*args)
        self.time = target
