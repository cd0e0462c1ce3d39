"""The clock the Manager decides and schedules by: monotonic time and timers, injectable.

DESIGN.md: "All timing uses the monotonic clock, injected so tests can drive it." The restart
policy reads :meth:`Clock.now`, and the BACKOFF retry and the minimum respawn interval are
scheduled with :meth:`Clock.call_later`, so a test clock (``FakeClock`` in the tests) can move
time forward at once instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Clock", "LoopClock", "Timer", "as_clock"]


class Timer(Protocol):
    """A scheduled callback; :meth:`cancel` makes sure it never runs."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Run ``callback(*args)`` on the loop after *delay* seconds of this clock."""
        ...


class LoopClock:
    """*now* (default ``time.monotonic``) for decisions and the loop's timers for scheduling."""

    def __init__(self, loop: asyncio.AbstractEventLoop, now: Callable[[], float] = time.monotonic):
        self._loop = loop
        self.now = now

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        return self._loop.call_later(delay, callback, *args)


def as_clock(clock: Clock | Callable[[], float], loop: asyncio.AbstractEventLoop) -> Clock:
    """*clock* itself if it is a :class:`Clock`; a plain ``() -> float`` (the gaffer-era
    ``Manager(clock=time.monotonic)``) becomes a :class:`LoopClock` reading it."""
    if hasattr(clock, "call_later") and hasattr(clock, "now"):
        return clock
    assert callable(clock), "clock must be a Clock or a () -> float"
    return LoopClock(loop, clock)
