"""What happens after an instance exits: the restart policy and flapping, applied to a Supervisor.

Functions of a :class:`~honcho_uv.core.supervisor.Supervisor`, written with its public state
only. Exits hu asked for (stop, restart, scale-down, a Manager stop) never reach the restart
policy or the exit hook; unexpected ones do (a stop for a failed ready probe counts as
unexpected: the failure is the instance's); a oneshot's exit 0 is success. The decisions are
pure functions of :mod:`honcho_uv.core.policy`; a pending retry is a timer on the injected
clock that a stop cancels.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from honcho_uv.core.policy import Verdict, record_retry, record_unexpected_exit, wants_restart
from honcho_uv.models import ExitStatus, ProcessState

if TYPE_CHECKING:
    from honcho_uv.core.process import Process
    from honcho_uv.core.supervisor import Supervisor

__all__ = ["MIN_RESPAWN_INTERVAL_S", "handle_exit", "retry"]

#: With flapping off, a process that exits within this many seconds is restarted no sooner
#: than that (runit and s6 keep the same minimum): a crash loop never spins.
MIN_RESPAWN_INTERVAL_S = 1.0


def handle_exit(sup: Supervisor, process: Process, status: ExitStatus) -> None:
    """*process* of *sup* has exited (its output drained): decide, record, report."""
    if sup.instances.get(process.number) is process:
        del sup.instances[process.number]
    sup.progress.ready.discard(process.number)
    # A stop for a failed ready probe is hu's doing, but the failure is the instance's own.
    requested = process.requested_stop and process.failure is None
    sup.ctx.publish("exit", sup.name, process=process, exit_status=status.code, term_signal=status.signal,
                     requested=requested)
    sup.ctx.gate.changed()
    if requested or not sup.ctx.accepting():
        if not sup.instances and sup.state is ProcessState.RUNNING and not sup.numbers_to_run():
            sup.set_state(ProcessState.STOPPED)  # RUNNING -> STOPPED (the last one was stopped)
        # The number may be wanted again meanwhile (scaled down then up, started while
        # stopping): nothing else would respawn it.
        sup.manage()
        return
    sup.last_exit = status
    if sup.stopped:
        return
    if sup.template.oneshot and status.success:
        outcome = "succeeded"  # a oneshot did its job: not an unexpected exit
    elif wants_restart(sup.template.restart, status):
        outcome = _restart_after_exit(sup, process)
    else:
        outcome = "exited"
        if process.ready is False and process.failure is None:
            process.failure = f"{process.name} {status.describe()} before it was ready"
        sup.progress.failures[process.number] = process.failure or f"{process.name} {status.describe()}"
    if outcome in ("succeeded", "exited"):
        sup.exited.add(process.number)
        sup.progress.finished[process.number] = status
        if not sup.alive():
            sup.set_state(ProcessState.EXITED)  # RUNNING|STARTING -> EXITED
    sup.ctx.report_exit(process, status, outcome)

def _restart_after_exit(sup: Supervisor, process: Process) -> str:
    verdict = record_unexpected_exit(sup.flap, sup.template.flapping, sup.ctx.clock.now())
    if verdict is not Verdict.RESTART:
        return _flapped(sup, verdict)
    sup.restarts += 1
    started = process.started_monotonic
    uptime = sup.ctx.clock.now() - started if started is not None else 0.0
    if sup.template.flapping is None and uptime < MIN_RESPAWN_INTERVAL_S:
        # No flapping rule to stop a crash loop: at most one spawn a second (runit, s6).
        sup.retry = sup.ctx.clock.call_later(MIN_RESPAWN_INTERVAL_S - uptime, partial(retry, sup))
    else:
        sup.spawn(process.number)
    return "restart"

def _flapped(sup: Supervisor, verdict: Verdict) -> str:
    sup.ctx.publish("flap", sup.name)
    others = list(sup.instances.values())
    if others:
        sup.request_stop(others)
    if verdict is Verdict.BACKOFF:
        sup.set_state(ProcessState.BACKOFF)  # -> BACKOFF
        assert sup.template.flapping is not None, "BACKOFF without flapping settings"
        sup.retry = sup.ctx.clock.call_later(sup.template.flapping.retry_in, partial(retry, sup))
        sup.ctx.publish("backoff", sup.name, retries=sup.flap.retries)
        return "backoff"
    sup.set_state(ProcessState.FATAL)  # -> FATAL
    sup.progress.gave_up = f"{sup.name} kept crashing: gave up (FATAL)"
    sup.ctx.publish("fatal", sup.name)
    return "fatal"

def retry(sup: Supervisor) -> None:
    """A pending retry (BACKOFF, or the minimum respawn interval) is due."""
    sup.retry = None
    if sup.stopped or not sup.ctx.accepting():
        return
    record_retry(sup.flap, sup.ctx.clock.now())
    if sup.state is not ProcessState.RUNNING:
        sup.set_state(ProcessState.STARTING)  # BACKOFF|EXITED -> STARTING
    sup.ctx.publish("retry", sup.name, retries=sup.flap.retries)
    sup.manage()
    sup.ctx.check_idle()
