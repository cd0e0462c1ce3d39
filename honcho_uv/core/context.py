"""What a Supervisor may use, handed to it explicitly: the :class:`SupervisorContext`.

The Manager builds one context and shares it with its Supervisors, in place of the mixins'
"provided by the Manager" attributes of old: a Supervisor can be built and tested with any
context (a fake spawner, a fake clock) and can reach nothing else of the Manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from honcho_uv.core.terminal import Window

if TYPE_CHECKING:
    from honcho_uv.core.bus import OutputBus
    from honcho_uv.core.clock import Clock
    from honcho_uv.core.gate import DependencyGate
    from honcho_uv.core.process import Process
    from honcho_uv.core.procfs import ProcessTable
    from honcho_uv.core.reaper import Reaper
    from honcho_uv.core.spawn import Spawner
    from honcho_uv.models import ExitStatus

__all__ = ["LARGE_WAVE", "NO_FULL_COLLECTIONS", "SpawnTracker", "SupervisorContext", "collector_paused", "stop_all"]


class SpawnTracker:
    """Counts spawns asked for and not finished, for ``Manager.wait_spawned``.

    Invariant: ``pending`` >= 0; a pending start counts from the call that schedules it, each
    instance from the moment its spawn is asked for; each is settled exactly once.
    """

    def __init__(self) -> None:
        self.pending = 0
        self._waiters: list[asyncio.Future[None]] = []

    def begin(self) -> None:
        self.pending += 1

    def end(self) -> None:
        self.pending -= 1
        if not self.pending:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def wait(self) -> None:
        while self.pending:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter


@dataclass(frozen=True)
class SupervisorContext:
    """What a Supervisor may use; built once by the Manager and shared by its Supervisors."""

    loop: asyncio.AbstractEventLoop
    clock: Clock
    spawner: Spawner
    bus: OutputBus
    table: ProcessTable
    reaper: Reaper | None
    #: ``publish(event, template_name, process=None, **extra)``.
    publish: Callable[..., None]
    #: Runs a coroutine as a task owned (and awaited at stop) by the Manager.
    own: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]]
    #: Told of every unexpected exit after the decision: ``(process, status, outcome)``.
    report_exit: Callable[[Process, ExitStatus, str], None]
    #: True while new processes may be spawned (started, not stopping).
    accepting: Callable[[], bool]
    #: Called when a pending retry ends (the Manager may have become idle).
    check_idle: Callable[[], None]
    next_id: Callable[[], int]
    spawns: SpawnTracker
    #: Decides for templates that wait for dependencies; told of every change.
    gate: DependencyGate
    #: Told when a template can never run in this start (a dependency failed): ``(name, why)``.
    report_failure: Callable[[str, str], None]
    #: The Manager's index of live processes (id -> Process), kept by the Supervisors.
    running: dict[int, Process] = field(default_factory=dict)
    #: Sessions of detached launches: never taken for adopted orphans.
    detached_sessions: set[int] = field(default_factory=set)
    #: The size of every tty child's terminal (``Manager.resize_terminals``).
    window: Window = field(default_factory=Window)


#: From this many processes on, a stop wave runs without full garbage collections.
LARGE_WAVE = 500
#: The oldest generation's threshold during such a wave: never reached.
NO_FULL_COLLECTIONS = 1 << 30


async def stop_all(processes: list[Process], table: ProcessTable) -> None:
    """Stop *processes* together: every stop signal goes out in one pass, with the trees taken
    from one read of *table*, then the exits are awaited together."""
    with table.pinned(), collector_paused(len(processes)):
        await asyncio.gather(*(p.stop() for p in processes), return_exceptions=True)


@contextlib.contextmanager
def collector_paused(count: int) -> Iterator[None]:
    """No full garbage collection while *count* processes stop together.

    A wave allocates a coroutine, a task and a timer per process; with a few thousand
    processes' worth of long-lived objects in hu, that set off full collections that traversed
    them all, about a quarter of a 5,000-process stop. The oldest generation's threshold is
    raised for the block and restored after it (also on error or cancel); the young
    generations are still collected, so should the block never end (its loop closed under
    it), only the old generation's cycles wait. Overlapping waves share one raise: the first
    to start saves the threshold, the last to end restores it. Waves under :data:`LARGE_WAVE`,
    or a collector someone turned off, are left alone.
    """
    if count < LARGE_WAVE or not gc.isenabled():
        yield
        return
    if _raised.waves == 0:
        _raised.saved = gc.get_threshold()
        young, middle, _ = _raised.saved
        gc.set_threshold(young, middle, NO_FULL_COLLECTIONS)
    _raised.waves += 1
    try:
        yield
    finally:
        _raised.waves -= 1
        if _raised.waves == 0:
            gc.set_threshold(*_raised.saved)


class _RaisedThreshold:
    """The large waves under way (process-wide, as the collector is) and the threshold the
    first of them found. Invariant: the threshold is raised exactly while ``waves > 0``."""

    waves = 0
    saved: tuple[int, int, int] = (0, 0, 0)


_raised = _RaisedThreshold()
