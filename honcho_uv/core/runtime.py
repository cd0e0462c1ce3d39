"""One run of a Manager, from ``start()`` to the end of ``stop()``: its loop, clock, task group,
reaper and stop sequence.

The Manager makes a :class:`Runtime` at each start; the Runtime builds the
:class:`~honcho_uv.core.context.SupervisorContext` its Supervisors use, owns every task (one
``asyncio.TaskGroup``, see :mod:`.tasks`) and runs the stop sequence:

1. every Supervisor is marked stopped and its pending retry cancelled;
2. every live process is stopped, in parallel (:func:`honcho_uv.core.kill.terminate` each);
3. the orphans adopted as subreaper are stopped, and every adopted zombie is reaped;
4. the task group waits for every task still running (restarts, spawns, streams);
5. pipes still open are closed, the applications stop in reverse order, the reaper is
   released, and the stop callbacks run; then :attr:`stopped` resolves.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from honcho_uv.core import kill
from honcho_uv.core.context import SpawnTracker, SupervisorContext, stop_all
from honcho_uv.core.deps import stop_waves
from honcho_uv.core.gate import DependencyGate
from honcho_uv.core.reaper import Reaper
from honcho_uv.core.subreaper import reap_adopted_zombies
from honcho_uv.core.tasks import TaskOwner
from honcho_uv.core.terminal import Window
from honcho_uv.models import ProcessState

if TYPE_CHECKING:
    from honcho_uv.core.bus import OutputBus
    from honcho_uv.core.clock import Clock
    from honcho_uv.core.process import Process
    from honcho_uv.core.procfs import ProcessTable
    from honcho_uv.core.spawn import Spawner
    from honcho_uv.core.supervisor import Supervisor
    from honcho_uv.models import ExitStatus

__all__ = ["ADOPTED_GRACE_S", "Runtime"]

log = logging.getLogger("honcho_uv.manager")
#: Orphans we adopted get this long between SIGTERM and SIGKILL at stop.
ADOPTED_GRACE_S = 1.0


class Runtime:
    """One run of a Manager (see the module docstring).

    Invariants: :attr:`stopping` is set once, by :meth:`request_stop`; :attr:`stopped`
    resolves once, after the stop sequence and every owned task have finished.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, *, clock: Clock, spawner: Spawner, bus: OutputBus,
                 table: ProcessTable, subreaper: bool, running: dict[int, Process],
                 supervisors: Mapping[str, Supervisor], apps: list[Any],
                 publish: Callable[..., None], report_exit: Callable[[Process, ExitStatus, str], None],
                 report_failure: Callable[[str, str], None], next_id: Callable[[], int], spawns: SpawnTracker,
                 on_finished: Callable[[], None], window: Window | None = None):
        self.loop = loop
        self.table = table
        self.running = running
        self._supervisors = supervisors
        self._apps = apps
        self._on_finished = on_finished
        self.reaper = Reaper.acquire() if subreaper else None
        self.stopping = False
        self.stopped: asyncio.Future[None] = loop.create_future()
        self._stop_requested: asyncio.Future[None] = loop.create_future()
        self._stop_callbacks: list[Callable[[], Any]] = []
        self._idle_callbacks: list[Callable[[], None]] = []
        self.detached_sessions: set[int] = set()
        self.owner = TaskOwner(loop, self.check_idle)
        self.gate = DependencyGate(loop, lambda: supervisors, lambda: not self.stopping)
        self.ctx = SupervisorContext(
            loop=loop, clock=clock, spawner=spawner, bus=bus, table=table, reaper=self.reaper, publish=publish,
            own=self.owner.own, report_exit=report_exit, accepting=lambda: not self.stopping,
            check_idle=self.check_idle, next_id=next_id, spawns=spawns, gate=self.gate,
            report_failure=report_failure, running=running, detached_sessions=self.detached_sessions,
            window=window or Window(),
        )
        self._lifetime = loop.create_task(self._live())

    # -- stop -------------------------------------------------------------------------------

    def request_stop(self, callback: Callable[[], Any] | None = None) -> None:
        """Begin the stop sequence (once); *callback()* runs at its end."""
        if callback is not None:
            self._stop_callbacks.append(callback)
        if not self.stopping:
            self.stopping = True
            if not self._stop_requested.done():
                self._stop_requested.set_result(None)

    async def _live(self) -> None:
        try:
            await self.owner.run(self._until_stopped)  # returns once every owned task has ended
        finally:
            self._finish()

    async def _until_stopped(self) -> None:
        try:
            await self._stop_requested
        except asyncio.CancelledError:
            # The loop is being torn down under us (asyncio.run ending, say): nothing may be
            # left running, so stop everything all the same, then let the cancellation go on.
            self.stopping = True
            await self._stop_everything()
            raise
        await self._stop_everything()

    async def _stop_everything(self) -> None:
        supervisors = self._supervisors
        for sup in supervisors.values():
            sup.cancel_retry()
            sup.stopped = True
        # Dependents are stopped, and their exits awaited, before their dependencies are
        # signalled; without dependencies that is one wave: everything in parallel.
        graph = {name: sup.template.depends_on for name, sup in supervisors.items()}
        for wave in stop_waves(graph, list(supervisors)):
            processes = [p for name in wave for p in supervisors[name].instances.values()]
            await stop_all(processes, self.table)  # one pass over /proc for the whole wave
        await asyncio.gather(*(p.stop() for p in list(self.running.values())), return_exceptions=True)
        await self._kill_adopted()

    async def _kill_adopted(self) -> None:
        """Stop the orphans we adopted as subreaper, and reap every adopted zombie.

        After return no adopted orphan is left a zombie: the Reaper stops reaping when this run
        releases it, and members of a stopped tree may have died (and re-parented to us) while
        the Reaper thread was still waiting on the loop's own children.
        """
        if self.reaper is None:
            return
        adopted = self.table.adopted_orphans(exclude_sessions=self.detached_sessions)
        if adopted:
            log.info("stopping %d adopted orphan(s): %s", len(adopted), ", ".join(str(p.pid) for p in adopted))
            await kill.terminate(adopted, sig=signal.SIGTERM, grace=ADOPTED_GRACE_S, what="adopted orphans")
        reap_adopted_zombies(self.table, exclude_sessions=self.detached_sessions)

    def _finish(self) -> None:
        for sup in self._supervisors.values():
            for process in sup.instances.values():
                process.close()
            sup.instances.clear()
            sup.state = ProcessState.STOPPED  # the run is over: whatever the state, nothing runs
        for app in reversed(self._apps):
            try:
                app.stop()
            except Exception:
                log.exception("application %r failed to stop", app)
        if self.reaper is not None:
            self.reaper.release()
            self.reaper = None
        self._on_finished()
        callbacks, self._stop_callbacks = self._stop_callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("stop callback %r failed", callback)
        if not self.stopped.done():
            self.stopped.set_result(None)

    # -- idleness ---------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Nothing is running, spawning, stopping or waiting for a retry."""
        return not self.running and not self.owner.live and all(s.retry is None for s in self._supervisors.values())

    def on_idle(self, callback: Callable[[], None]) -> None:
        """Call *callback* (once) the next time the run becomes idle."""
        self._idle_callbacks.append(callback)
        self.loop.call_soon(self.check_idle)

    def check_idle(self) -> None:
        if self._idle_callbacks and self.idle and not self.stopping:
            callbacks, self._idle_callbacks = self._idle_callbacks, []
            for cb in callbacks:
                cb()
