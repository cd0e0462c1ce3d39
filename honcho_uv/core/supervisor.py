"""The Supervisor: one per template. Its instances, their spawns, readiness and dependencies.

Everything here runs on the loop thread. What happens after an exit (the restart policy,
flapping, retries) is :mod:`honcho_uv.core.exits`; readiness and health watching is
:mod:`honcho_uv.core.readiness`; whether dependencies are met is the gate's
(:mod:`honcho_uv.core.gate`), from each template's :class:`~honcho_uv.core.progress.Progress`.

A Supervisor receives what it may use in one :class:`SupervisorContext` (the Manager builds it
once); it owns no task itself: long-lived work goes to ``ctx.own``, the Manager's task owner.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import ChainMap
from typing import TYPE_CHECKING, Any

from honcho_uv.core.context import SupervisorContext, stop_all
from honcho_uv.core.detach import launch_detached
from honcho_uv.core.exits import handle_exit
from honcho_uv.core.gate import clear_to_start
from honcho_uv.core.policy import FlapHistory
from honcho_uv.core.process import Process
from honcho_uv.core.progress import Progress
from honcho_uv.core.readiness import InstanceWatch, ready_after, watch_instance
from honcho_uv.errors import InvalidOption, SpawnError, StateError, UnknownProcess
from honcho_uv.models import TRANSITIONS, ExitStatus, ProcessState, ProcessTemplate, check_count
from honcho_uv.procfile.formation import instance_env, instance_port

if TYPE_CHECKING:
    from honcho_uv.core.clock import Timer

__all__ = ["Supervisor"]

log = logging.getLogger("honcho_uv.manager")



class Supervisor:
    """One template and its instances.

    Invariants:
        * ``instances`` maps an instance number to its current Process (spawning, alive, or
          exited but not yet handled); at most one Process per number.
        * ``wanted`` (0..MAX_NUMPROCESSES) is how many instances should run.
        * ``held`` numbers were stopped one by one and are not respawned until a start.
        * ``exited`` numbers ended unexpectedly and their policy said not to restart.
        * ``retry`` is the pending BACKOFF (or minimum-interval) timer, or None.
    """

    def __init__(self, template: ProcessTemplate, ctx: SupervisorContext | None):
        self.template = template
        self._ctx = ctx  # None until the Manager has started (then each run's context)
        self.wanted = template.numprocesses
        self.stopped = True
        self.state = ProcessState.STOPPED
        self.instances: dict[int, Process] = {}
        self.held: set[int] = set()
        self.exited: set[int] = set()
        self.flap = FlapHistory()
        self.retry: Timer | None = None
        self.restarts = 0
        self.last_exit: ExitStatus | None = None
        self.spawn_error: str | None = None
        self.progress = Progress()  # what its instances did since the last start (for dependents)
        self.deps_clear = False  # its dependencies were met in this start (not checked again)
        self._watches: dict[int, InstanceWatch] = {}  # made at spawn, run once the pid is known

    @property
    def name(self) -> str:
        return self.template.name

    @property
    def ctx(self) -> SupervisorContext:
        """The context of the Manager's current run.

        Raises:
            StateError: the Manager has not been started.
        """
        if self._ctx is None:
            raise StateError("the manager is not started")
        return self._ctx

    @ctx.setter
    def ctx(self, ctx: SupervisorContext) -> None:
        self._ctx = ctx

    def __repr__(self) -> str:
        return f"<Supervisor {self.name} {self.state.value} {len(self.instances)}/{self.wanted}>"

    def set_state(self, new: ProcessState) -> None:
        """Move to *new*; a transition outside :data:`models.TRANSITIONS` is a bug."""
        if new is not self.state:
            assert new in TRANSITIONS[self.state], f"{self.name}: {self.state.value} -> {new.value} not allowed"
            self.state = new

    def cancel_retry(self) -> None:
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None

    def numbers_to_run(self) -> list[int]:
        """Instance numbers that should be running now and are not (lowest first)."""
        if self.stopped:
            return []
        return [n for n in range(1, self.wanted + 1)
                if n not in self.instances and n not in self.held and n not in self.exited]

    def alive(self) -> list[Process]:
        return [self.instances[n] for n in sorted(self.instances) if self.instances[n].alive]

    def ready_state(self) -> bool | None:
        """None without a ready probe; else whether every wanted instance is ready."""
        if self.template.ready is None:
            return None
        return self.progress.meets("ready", self.wanted, self.name) is True

    # -- control verbs (the Manager's, for this template) ----------------------------------

    def start(self) -> asyncio.Task[Any]:
        """Start every wanted instance (FATAL, EXITED and held ones included); clears the
        flapping history."""
        self.cancel_retry()
        self.stopped = False
        self.held.clear()
        self.exited.clear()
        self.flap.reset()
        self.spawn_error = None
        self.progress.reset()
        self.deps_clear = not self.template.depends_on
        if self.state is not ProcessState.STOPPING:
            # STOPPED|EXITED|FATAL|BACKOFF -> STARTING, or WAITING for its dependencies
            self.set_state(ProcessState.STARTING if self.deps_clear else ProcessState.WAITING)
        self.ctx.publish("start", self.name)
        return self._manage_soon()

    def start_instance(self, number: int) -> asyncio.Task[Any]:
        """Start instance *number* again (after ``stop web.2``, or an exit its policy did not
        restart), leaving the other instances as they are: if the whole template was stopped
        (or gave up), this one runs alone and the others stay held.

        Raises:
            UnknownProcess: *number* is not in the formation (scale up first).
        """
        if not 1 <= number <= self.wanted:
            raise UnknownProcess(f"{self.name}.{number} is not in the formation ({self.name} has {self.wanted} "
                                 f"instance{'s' * (self.wanted != 1)}; scale it to {number} first)")
        if self.stopped or self.state in (ProcessState.FATAL, ProcessState.BACKOFF):
            others = {n for n in range(1, self.wanted + 1) if n != number and n not in self.instances}
            task = self.start()
            self.held |= others  # start() let go of every hold; its manage() runs later, in the task
            return task
        self.held.discard(number)
        self.exited.discard(number)
        self.ctx.publish("start", self.name)
        return self._manage_soon()

    def _manage_soon(self) -> asyncio.Task[Any]:
        """:meth:`manage` in a task; ``wait_spawned`` counts it until it has asked for its spawns."""
        self.ctx.spawns.begin()

        async def manage_soon() -> None:
            try:
                self.manage()
            finally:
                self.ctx.spawns.end()

        return self.ctx.own(manage_soon())

    def stop(self) -> asyncio.Task[Any]:
        """Stop every instance; the template stays stopped (a pending retry is cancelled)."""
        self.cancel_retry()
        self.stopped = True
        if self.state in (ProcessState.BACKOFF, ProcessState.FATAL, ProcessState.EXITED, ProcessState.WAITING):
            self.set_state(ProcessState.STOPPED)  # nothing runs: BACKOFF|FATAL|EXITED|WAITING -> STOPPED
        elif self.state is not ProcessState.STOPPED:
            self.set_state(ProcessState.STOPPING)  # STARTING|RUNNING -> STOPPING
        self.ctx.publish("stop", self.name)

        async def stop() -> None:
            await stop_all(list(self.instances.values()), self.ctx.table)
            if self.stopped and self.state is ProcessState.STOPPING:
                self.set_state(ProcessState.STOPPED)  # STOPPING -> STOPPED

        return self.ctx.own(stop())

    def stop_instance(self, process: Process) -> asyncio.Task[Any]:
        """Stop one instance and hold its number (not respawned until the next start)."""
        self.held.add(process.number)
        self.ctx.publish("stop_pid", self.name, process=process)
        return self.request_stop([process])

    def request_stop(self, processes: list[Process]) -> asyncio.Task[Any]:
        """Stop *processes* in a task, marking them requested now: an exit that beats the task
        to it must not count as unexpected (and be restarted or reach the exit hook)."""
        for process in processes:
            process.requested_stop = True
        return self.ctx.own(stop_all(processes, self.ctx.table))

    def restart(self, numbers: list[int] | None = None) -> asyncio.Task[Any]:
        """Restart every instance (*numbers* None) or those numbers: each keeps its number and
        PORT, and the old process is stopped before the new one starts. Clears FATAL/BACKOFF."""
        self.cancel_retry()
        self.flap.reset()
        self.stopped = False
        if self.state in (ProcessState.FATAL, ProcessState.BACKOFF):
            self.set_state(ProcessState.STARTING)  # FATAL|BACKOFF -> STARTING
        if numbers is None:
            self.held.clear()
            self.exited.clear()
        else:
            self.held.difference_update(numbers)
            self.exited.difference_update(numbers)
        self.ctx.publish("restart", self.name)

        async def restart() -> None:
            olds = [p for n, p in self.instances.items() if numbers is None or n in numbers]
            await asyncio.gather(*(self.restart_one(p) for p in olds), return_exceptions=True)
            self.manage()

        return self.ctx.own(restart())

    async def restart_one(self, process: Process) -> None:
        """Stop *process*, await its exit, then spawn its number again (if still wanted)."""
        process.requested_stop = True
        await process.stop()
        await process.wait()
        if not self.stopped and self.instances.get(process.number) is None and process.number <= self.wanted:
            self.spawn(process.number)

    def scale(self, n: int | str) -> int:
        """Set the instance count: ``3``, ``"3"`` or ``"=3"`` set, ``"+2"``/``"-1"`` adjust.
        Returns the new count (never below 0). Scale-down stops the highest numbers.
        Raises:
            InvalidOption: not a count, more than ``MAX_NUMPROCESSES``, or a port past 65535.
        """
        if isinstance(n, bool) or not isinstance(n, (int, str)):
            raise InvalidOption("scale", "expected a count")
        if isinstance(n, int):
            new = n
        else:
            text = n.strip()
            digits = text.lstrip("=+-")
            if not digits.isascii() or not digits.isdigit() or len(digits) > 9:
                raise InvalidOption("scale", f"expected N, =N, +N or -N, got {text[:20]!r}")
            new = self.wanted + int(text) if text.startswith(("+", "-")) else int(digits)
        new = check_count(max(0, new), "scale")
        top = self.template.port and instance_port(self.template.port, self.template.port_index, new)
        if new and top and top > 65535:  # refused before anything changes, like a bad count
            raise InvalidOption("scale", f"{self.name}.{new} would get port {top}, past 65535")
        self.wanted = new
        self.exited = {x for x in self.exited if x <= new}
        self.ctx.publish("update", self.name)
        self.manage()
        return new

    def update(self, template: ProcessTemplate) -> asyncio.Task[Any] | None:
        """Replace the template and restart the running instances with it."""
        self.template = template
        self.wanted = template.numprocesses
        self.ctx.publish("update", self.name)
        return self.restart() if not self.stopped else None

    # -- spawning and exits ---------------------------------------------------------------

    def manage(self) -> None:
        """Spawn the missing instances and stop the surplus (scale-down)."""
        if not self.ctx.accepting():
            return
        surplus = [self.instances[n] for n in sorted(self.instances, reverse=True)
                   if n > self.wanted and not self.instances[n].requested_stop]
        if self.retry is not None or self.state is ProcessState.FATAL:
            if surplus:
                self.request_stop(surplus)
            return  # BACKOFF waits for its retry; FATAL for a user start
        if surplus:
            for process in surplus:
                self.ctx.publish("reap", self.name, process=process)
            self.request_stop(surplus)
        if not self.deps_clear and not clear_to_start(self):
            return
        base = self.base_env()
        for number in self.numbers_to_run():
            self.spawn(number, base)

    def env_for(self, number: int, base: dict[str, str] | None = None) -> ChainMap[str, str]:
        """Instance *number*'s env: its PORT/PS/HU_PROCESS_NAME, computed now, over *base* (:meth:`base_env`)."""
        template = self.template
        port = None if template.port is None else instance_port(template.port, template.port_index, number)
        return ChainMap(instance_env(template.name, number, port), self.base_env() if base is None else base)

    def base_env(self) -> dict[str, str]:
        """OS env (if ``os_env``) + the template's: one dict a spawn wave shares (os.environ reads make new strs)."""
        env = dict(os.environ) if self.template.os_env else {}
        env.update(self.template.env)
        return env

    def spawn(self, number: int, base: dict[str, str] | None = None) -> None:
        ctx = self.ctx
        if self.template.detach:
            ctx.own(launch_detached(ctx, self.template, number, dict(self.env_for(number, base))))
            return
        process = Process(ctx.loop, ctx.next_id(), self.template, number, self.env_for(number, base),
                          spawner=ctx.spawner, bus=ctx.bus, table=ctx.table, reaper=ctx.reaper,
                          now=ctx.clock.now, on_escalate=self._escalated, window=ctx.window)
        if (self.template.ready is not None and self.template.ready.kind not in ("started", "alive")) \
                or self.template.health is not None:
            self._watches[process.id] = watch_instance(ctx, process, self._ready, self._not_ready, self._unhealthy)
        self.instances[number] = process
        ctx.running[process.id] = process
        ctx.bus.attach(process)
        ctx.spawns.begin()  # settled by _supervise once the spawn ends
        if self.state is not ProcessState.RUNNING:
            self.set_state(ProcessState.STARTING)  # -> STARTING (from any state but RUNNING)
        ctx.own(self._supervise(process))

    def _escalated(self, process: Process, message: str) -> None:
        self.ctx.publish("escalate", self.name, process=process, message=message)

    async def _supervise(self, process: Process) -> None:
        error: SpawnError | None = None
        try:
            await process.spawn(on_started=self._started)
        except SpawnError as exc:
            error = exc
        finally:
            self.ctx.spawns.end()
        if error is not None:
            self._spawn_failed(process, error)
            return
        self.spawn_error = None
        if self.state is ProcessState.STARTING:
            self.set_state(ProcessState.RUNNING)  # STARTING -> RUNNING
        status = await process.wait()
        self._forget(process)
        handle_exit(self, process, status)

    def _started(self, process: Process) -> None:
        self.ctx.bus.spawned(process)
        self.ctx.publish("spawn", self.name, process=process)
        self.progress.spawned.add(process.number)
        probe = self.template.ready
        if probe is None:
            self.progress.ready.add(process.number)  # no probe: ready once spawned (ready stays None)
        elif probe.kind == "started":
            self._ready(process)
        else:
            process.ready = False
        watch = self._watches.pop(process.id, None)
        if watch is not None:
            self.ctx.own(watch.run())
        elif probe is not None and probe.kind == "alive":
            self.ctx.own(ready_after(process, probe.seconds or 0.0, self._ready))
        self.ctx.gate.changed()

    def _ready(self, process: Process) -> None:
        process.ready = True
        self.progress.ready.add(process.number)
        self.ctx.publish("ready", self.name, process=process, probe=str(self.template.ready))
        self.ctx.gate.changed()

    def _not_ready(self, process: Process, reason: str) -> None:
        """The ready probe cannot pass: stop the instance; its exit counts as unexpected."""
        process.failure = f"{process.name} {reason}"
        self.ctx.publish("not_ready", self.name, process=process, message=process.failure)
        self.ctx.own(process.stop())

    def _unhealthy(self, process: Process, message: str) -> None:
        """Health checks failed: restart the instance (a restart hu asked for; flapping is not
        counted, and the rest keeps running)."""
        self.ctx.publish("unhealthy", self.name, process=process, message=f"{process.name} unhealthy: {message}")
        self.restarts += 1
        self.ctx.own(self.restart_one(process))

    def _forget(self, process: Process) -> None:
        self.ctx.running.pop(process.id, None)
        self.ctx.bus.detach(process)
        watch = self._watches.pop(process.id, None)
        if watch is not None:
            watch.close()  # never started (the spawn failed): release its notify socket

    def _spawn_failed(self, process: Process, error: SpawnError) -> None:
        self._forget(process)
        if process.requested_stop:  # stopped before it started: nothing ran, nothing to report
            if self.instances.get(process.number) is process:
                del self.instances[process.number]
            self.manage()
            return
        self.spawn_error = process.failure = str(error)
        log.debug("%s", error)  # said by the spawn_error event: the console's line, the daemon's log
        self.ctx.publish("spawn_error", self.name, process=process, error=str(error))
        handle_exit(self, process, ExitStatus(127, None))
