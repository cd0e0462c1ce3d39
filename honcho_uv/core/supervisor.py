"""The Supervisor: one per template. Its instances, their spawns and exits, restarts, flapping.

Everything here runs on the loop thread. The decisions are pure functions in
:mod:`honcho_uv.core.policy`; a Supervisor applies them: exits hu asked for (stop, restart,
scale-down, Manager stop) never reach the restart policy or the exit hook, unexpected ones do,
and a pending retry is a timer on the injected clock that stop and remove cancel.

A Supervisor receives what it may use in one :class:`SupervisorContext` (the Manager builds it
once); it owns no task itself: long-lived work goes to ``ctx.own``, the Manager's task owner.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from honcho_uv.core.context import SupervisorContext, stop_all
from honcho_uv.core.detach import spawn_detached
from honcho_uv.core.policy import FlapHistory, Verdict, record_retry, record_unexpected_exit, wants_restart
from honcho_uv.core.process import Process
from honcho_uv.core.spawn import privdrop_argv
from honcho_uv.errors import InvalidOption, SpawnError, StateError
from honcho_uv.models import TRANSITIONS, ExitStatus, ProcessState, ProcessTemplate, check_count
from honcho_uv.procfile.formation import instance_env, instance_port

if TYPE_CHECKING:
    from honcho_uv.core.clock import Timer

__all__ = ["MIN_RESPAWN_INTERVAL_S", "Supervisor"]

log = logging.getLogger("honcho_uv.manager")

#: With flapping off, a process that exits within this many seconds is restarted no sooner
#: than that (runit and s6 keep the same minimum): a crash loop never spins.
MIN_RESPAWN_INTERVAL_S = 1.0


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
        if self.state is not ProcessState.STOPPING:
            self.set_state(ProcessState.STARTING)  # STOPPED|EXITED|FATAL|BACKOFF -> STARTING
        self.ctx.publish("start", self.name)
        self.ctx.spawns.begin()  # until manage() has asked for (and counted) the spawns

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
        if self.state in (ProcessState.BACKOFF, ProcessState.FATAL, ProcessState.EXITED):
            self.set_state(ProcessState.STOPPED)  # nothing runs: BACKOFF|FATAL|EXITED -> STOPPED
        elif self.state is not ProcessState.STOPPED:
            self.set_state(ProcessState.STOPPING)  # STARTING|RUNNING -> STOPPING
        self.ctx.publish("stop", self.name)

        async def stop() -> None:
            await stop_all(list(self.instances.values()))
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
        return self.ctx.own(stop_all(processes))

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
            await asyncio.gather(*(self._restart_one(p) for p in olds), return_exceptions=True)
            self.manage()

        return self.ctx.own(restart())

    async def _restart_one(self, process: Process) -> None:
        process.requested_stop = True
        await process.stop()
        await process.wait()
        if not self.stopped and self.instances.get(process.number) is None and process.number <= self.wanted:
            self.spawn(process.number)

    def scale(self, n: int | str) -> int:
        """Set the instance count: ``3``, ``"3"`` or ``"=3"`` set, ``"+2"``/``"-1"`` adjust.
        Returns the new count (never below 0). Scale-down stops the highest numbers.

        Raises:
            InvalidOption: not a count, or more than ``MAX_NUMPROCESSES``.
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
        for number in self.numbers_to_run():
            self.spawn(number)

    def env_for(self, number: int) -> dict[str, str]:
        """The child env of instance *number*: OS env (if ``os_env``), the template's env,
        then PORT/PS/HU_PROCESS_NAME computed now (so scaling and restarts get them right)."""
        template = self.template
        env = dict(os.environ) if template.os_env else {}
        env.update(template.env)
        port = None if template.port is None else instance_port(template.port, template.port_index, number)
        env.update(instance_env(template.name, number, port))
        return env

    def spawn(self, number: int) -> None:
        ctx = self.ctx
        if self.template.detach:
            ctx.own(self._spawn_detached(number))
            return
        process = Process(ctx.loop, ctx.next_id(), self.template, number, self.env_for(number),
                          spawner=ctx.spawner, bus=ctx.bus, table=ctx.table, reaper=ctx.reaper,
                          now=ctx.clock.now, on_escalate=self._escalated)
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
        self._handle_exit(process, status)

    def _started(self, process: Process) -> None:
        self.ctx.bus.spawned(process)
        self.ctx.publish("spawn", self.name, process=process)

    def _forget(self, process: Process) -> None:
        self.ctx.running.pop(process.id, None)
        self.ctx.bus.detach(process)

    def _spawn_failed(self, process: Process, error: SpawnError) -> None:
        self._forget(process)
        if process.requested_stop:  # stopped before it started: nothing ran, nothing to report
            if self.instances.get(process.number) is process:
                del self.instances[process.number]
            self.manage()
            return
        self.spawn_error = str(error)
        log.error("%s", error)
        self.ctx.publish("spawn_error", self.name, process=process, error=str(error))
        self._handle_exit(process, ExitStatus(127, None))

    async def _spawn_detached(self, number: int) -> None:
        """Launch without monitoring (see detach.py); the session is never killed at stop."""
        argv = privdrop_argv(self.template.argv(), self.template.uid, self.template.gid)
        try:
            os_pid = await spawn_detached(argv, self.env_for(number), self.template.cwd, self.ctx.reaper,
                                          on_session=self.ctx.detached_sessions.add)
        except OSError as exc:
            self.ctx.publish("spawn_error", self.name, error=str(exc))
            return
        self.ctx.publish("spawn", self.name, os_pid=os_pid, detached=True, instance=f"{self.name}.{number}")

    def _handle_exit(self, process: Process, status: ExitStatus) -> None:
        if self.instances.get(process.number) is process:
            del self.instances[process.number]
        self.ctx.publish("exit", self.name, process=process, exit_status=status.code, term_signal=status.signal,
                         requested=process.requested_stop)
        if process.requested_stop or not self.ctx.accepting():
            if not self.instances and self.state is ProcessState.RUNNING and not self.numbers_to_run():
                self.set_state(ProcessState.STOPPED)  # RUNNING -> STOPPED (the last one was stopped)
            # The number may be wanted again meanwhile (scaled down then up, started while
            # stopping): nothing else would respawn it.
            self.manage()
            return
        self.last_exit = status
        if self.stopped:
            return
        if wants_restart(self.template.restart, status):
            outcome = self._restart_after_exit(process)
        else:
            outcome = "exited"
            self.exited.add(process.number)
            if not self.alive():
                self.set_state(ProcessState.EXITED)  # RUNNING|STARTING -> EXITED
        self.ctx.report_exit(process, status, outcome)

    def _restart_after_exit(self, process: Process) -> str:
        verdict = record_unexpected_exit(self.flap, self.template.flapping, self.ctx.clock.now())
        if verdict is not Verdict.RESTART:
            return self._flapped(verdict)
        self.restarts += 1
        started = process.started_monotonic
        uptime = self.ctx.clock.now() - started if started is not None else 0.0
        if self.template.flapping is None and uptime < MIN_RESPAWN_INTERVAL_S:
            # No flapping rule to stop a crash loop: at most one spawn a second (runit, s6).
            self.retry = self.ctx.clock.call_later(MIN_RESPAWN_INTERVAL_S - uptime, self._retry)
        else:
            self.spawn(process.number)
        return "restart"

    def _flapped(self, verdict: Verdict) -> str:
        self.ctx.publish("flap", self.name)
        others = list(self.instances.values())
        if others:
            self.request_stop(others)
        if verdict is Verdict.BACKOFF:
            self.set_state(ProcessState.BACKOFF)  # -> BACKOFF
            assert self.template.flapping is not None, "BACKOFF without flapping settings"
            self.retry = self.ctx.clock.call_later(self.template.flapping.retry_in, self._retry)
            self.ctx.publish("backoff", self.name, retries=self.flap.retries)
            return "backoff"
        self.set_state(ProcessState.FATAL)  # -> FATAL
        self.ctx.publish("fatal", self.name)
        return "fatal"

    def _retry(self) -> None:
        self.retry = None
        if self.stopped or not self.ctx.accepting():
            return
        record_retry(self.flap, self.ctx.clock.now())
        if self.state is not ProcessState.RUNNING:
            self.set_state(ProcessState.STARTING)  # BACKOFF|EXITED -> STARTING
        self.ctx.publish("retry", self.name, retries=self.flap.retries)
        self.manage()
        self.ctx.check_idle()
