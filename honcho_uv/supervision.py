"""Supervision: spawning instances, handling their exits, restarts and flapping.

A mixin of :class:`~honcho_uv.manager.Manager` (the Manager's "per-process restart loop"), kept
apart so the Manager's module reads as its public API. Everything here runs on the loop
thread. The decisions themselves are pure functions in :mod:`honcho_uv.policy`; this module
applies them: exits hu asked for never reach the restart policy or the ``exit_policy`` hook,
unexpected ones do, and a pending retry lives in ``job.retry`` so that stop and remove can
cancel it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from honcho_uv.detach import spawn_detached
from honcho_uv.environ import instance_env, instance_port
from honcho_uv.errors import SpawnError
from honcho_uv.job import Job
from honcho_uv.models import ExitStatus, ProcessState, ProcessTemplate
from honcho_uv.policy import Verdict, record_retry, record_unexpected_exit, wants_restart
from honcho_uv.process import Process, next_process_id

if TYPE_CHECKING:
    from honcho_uv.reaper import Reaper

__all__ = ["MIN_RESPAWN_INTERVAL_S", "Supervision"]

log = logging.getLogger("honcho_uv.manager")

#: With flapping off, a process that exits within this many seconds is restarted no sooner
#: than that (runit and s6 keep the same minimum): a crash loop never spins.
MIN_RESPAWN_INTERVAL_S = 1.0


class Supervision:
    """Spawn/exit/restart logic of a Manager (state is the Manager's; see manager.py)."""

    loop: asyncio.AbstractEventLoop
    clock: Callable[[], float]
    exit_policy: Any
    running: dict[int, Process]
    started: bool
    stopping: bool
    _jobs: dict[str, Job]
    _reaper: Reaper | None
    _output_paused: int
    _detached_sessions: set[int]
    # Spawns asked for and not finished (either way): a pending start counts from the call
    # that schedules it, each instance from the moment its spawn task is created. The
    # Manager never cancels its own tasks, so each is settled exactly once.
    _spawns_in_flight: int
    _spawn_waiters: list[asyncio.Future[None]]  # wait_spawned() callers, woken at 0

    # Provided by the Manager and its other mixins (annotations only: a stub method here
    # would shadow the real one in the method resolution order).
    _publish: Callable[..., None]
    _own: Callable[[Any], asyncio.Task[Any]]
    _request_stop: Callable[[list[Process]], asyncio.Task[Any]]
    _check_idle: Callable[[], None]
    _dispatch_output: Callable[[Process, str, bytes], None]
    _attach_listeners: Callable[[Process], None]

    async def wait_spawned(self) -> None:
        """Return once no spawn is in flight: every process asked for so far (by a start, a
        scale or a restart, including those whose tasks have not begun yet) has started or
        failed to. Retries scheduled for later are not waited for."""
        while self._spawns_in_flight:
            waiter = asyncio.get_running_loop().create_future()
            self._spawn_waiters.append(waiter)
            await waiter

    def _spawn_settled(self) -> None:
        self._spawns_in_flight -= 1
        if not self._spawns_in_flight:
            waiters, self._spawn_waiters = self._spawn_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _manage(self, job: Job) -> None:
        """Spawn the missing instances and stop the surplus (scale-down)."""
        if self.loop is None or not self.started or self.stopping:
            return
        surplus = job.surplus()
        if job.retry is not None or job.state is ProcessState.FATAL:
            surplus = [p for p in surplus if not p.requested_stop]
            if surplus:
                self._request_stop(surplus)
            return  # BACKOFF waits for its retry; FATAL for a user start
        surplus = [p for p in surplus if not p.requested_stop]
        if surplus:
            for process in surplus:
                self._publish("reap", job.name, process=process)
            self._request_stop(surplus)
        for number in job.numbers_to_run():
            self._spawn(job, number)

    # -- spawning and exits --------------------------------------------------------------

    def _env_for(self, template: ProcessTemplate, number: int) -> dict[str, str]:
        env = dict(os.environ) if template.os_env else {}
        env.update(template.env)
        port = None if template.port is None else instance_port(template.port, template.port_index, number)
        env.update(instance_env(template.name, number, port))
        return env

    def _spawn(self, job: Job, number: int) -> None:
        if job.template.detach:
            self._own(self._spawn_detached(job, number))
            return
        process = Process(
            self.loop, next_process_id(), job.template, number, self._env_for(job.template, number),
            reaper=self._reaper, output_sink=self._dispatch_output,
        )
        job.instances[number] = process
        self.running[process.id] = process
        self._spawns_in_flight += 1  # settled by _supervise once the spawn ends
        if self._output_paused:
            process.pause_reading()
        if job.state in (ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL, ProcessState.BACKOFF,
                         ProcessState.STOPPING):
            job.set_state(ProcessState.STARTING)
        self._own(self._supervise(job, process))

    async def _supervise(self, job: Job, process: Process) -> None:
        error: SpawnError | None = None
        try:
            await process.spawn(on_started=lambda p: self._publish("spawn", job.name, process=p))
        except SpawnError as exc:
            error = exc
        finally:
            self._spawn_settled()
        if error is not None:
            if process.requested_stop:  # stopped before it started: nothing ran, nothing to report
                self.running.pop(process.id, None)
                if job.instances.get(process.number) is process:
                    del job.instances[process.number]
                self._manage(job)
                return
            job.spawn_error = str(error)
            log.error("%s", error)
            self.running.pop(process.id, None)
            self._publish("spawn_error", job.name, process=process, error=str(error))
            self._handle_exit(job, process, ExitStatus(127, None))
            return
        job.spawn_error = None
        self._attach_listeners(process)
        if job.state is ProcessState.STARTING:
            job.set_state(ProcessState.RUNNING)
        status = await process.wait()
        self.running.pop(process.id, None)
        self._handle_exit(job, process, status)

    async def _spawn_detached(self, job: Job, number: int) -> None:
        """Launch without monitoring (see detach.py); the session is never killed at stop."""
        argv = Process(self.loop, 0, job.template, number, {})._argv()
        try:
            os_pid = await spawn_detached(
                argv, self._env_for(job.template, number), job.template.cwd, self._reaper,
                on_session=self._detached_sessions.add,
            )
        except OSError as exc:
            self._publish("spawn_error", job.name, error=str(exc))
            return
        self._publish("spawn", job.name, os_pid=os_pid, detached=True, instance=f"{job.name}.{number}")

    def _handle_exit(self, job: Job, process: Process, status: ExitStatus) -> None:
        if job.instances.get(process.number) is process:
            del job.instances[process.number]
        self._publish("exit", job.name, process=process, exit_status=status.code, term_signal=status.signal,
                      requested=process.requested_stop)
        if process.requested_stop or self.stopping:
            if not job.instances and job.state is ProcessState.RUNNING and not job.numbers_to_run():
                job.set_state(ProcessState.STOPPED)
            # The number may be wanted again meanwhile (scaled down then up, started while
            # stopping): nothing else would respawn it.
            self._manage(job)
            return
        job.last_exit = status
        if job.stopped:
            return
        if wants_restart(job.template.restart, status):
            verdict = record_unexpected_exit(job.flap, job.template.flapping, self.clock())
            if verdict is Verdict.RESTART:
                job.restarts += 1
                outcome = "restart"
                uptime = time.monotonic() - process.started_monotonic if process.started_monotonic else 0.0
                if job.template.flapping is None and uptime < MIN_RESPAWN_INTERVAL_S:
                    # No flapping rule to stop a crash loop: at most one spawn a second (runit, s6).
                    job.retry = self.loop.call_later(MIN_RESPAWN_INTERVAL_S - uptime, self._retry, job)
                else:
                    self._spawn(job, process.number)
            else:
                outcome = self._flapped(job, verdict)
        else:
            outcome = "exited"
            job.exited.add(process.number)
            if not job.alive():
                job.set_state(ProcessState.EXITED)
        if self.exit_policy is not None:
            try:
                self.exit_policy(process, status, outcome)
            except Exception:
                log.exception("exit policy failed")

    def _flapped(self, job: Job, verdict: Verdict) -> str:
        self._publish("flap", job.name)
        others = list(job.instances.values())
        if others:
            self._request_stop(others)
        if verdict is Verdict.BACKOFF:
            job.set_state(ProcessState.BACKOFF)
            assert job.template.flapping is not None, "BACKOFF without flapping settings"
            job.retry = self.loop.call_later(job.template.flapping.retry_in, self._retry, job)
            self._publish("backoff", job.name, retries=job.flap.retries)
            return "backoff"
        job.set_state(ProcessState.FATAL)
        self._publish("fatal", job.name)
        return "fatal"

    def _retry(self, job: Job) -> None:
        job.retry = None
        if job.stopped or self.stopping or self._jobs.get(job.name) is not job:
            return
        record_retry(job.flap, self.clock())
        if job.state is not ProcessState.RUNNING:
            job.set_state(ProcessState.STARTING)
        self._publish("retry", job.name, retries=job.flap.retries)
        self._manage(job)
        self._check_idle()

