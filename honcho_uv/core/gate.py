"""The dependency gate: when a waiting template may start, or why it never will.

A template with ``depends_on`` waits (state WAITING, no OS process) until every condition
holds for its dependencies (:class:`~honcho_uv.core.progress.Progress`). The gate is told of
every change (a spawn, an instance ready, an exit handled) with :meth:`changed`, and looks
again once per loop iteration, however many changes came: a burst of 5,000 spawns is one
evaluation, not 5,000. The same wake-up serves ``Manager.wait_ready`` waiters.

Once a template has started, its dependencies are not checked again in that start: a
restart or scale of one type leaves the others alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from honcho_uv.models import ProcessState

if TYPE_CHECKING:
    from honcho_uv.core.supervisor import Supervisor

__all__ = ["DependencyGate", "WaitResult", "clear_to_start", "readiness"]


class DependencyGate:
    """Decides for waiting templates; wakes change waiters (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, supervisors: Callable[[], Mapping[str, Supervisor]],
                 accepting: Callable[[], bool]):
        self._loop = loop
        self._supervisors = supervisors
        self._accepting = accepting  # false once the run stops: nothing starts, nothing "fails"
        self._scheduled = False
        # Futures of wait_ready() callers, resolved (and dropped) at the next evaluation.
        self._waiters: list[asyncio.Future[None]] = []

    def check(self, sup: Supervisor) -> tuple[str, str]:
        """``("clear", "")``, ``("waiting", "db ready, migrate succeeded")`` or
        ``("failed", "web cannot start: db did not become ready (db.1 exited with code 1)")``."""
        pending = []
        supervisors = self._supervisors()
        for name, condition in sup.template.depends_on.items():
            dep = supervisors.get(name)
            if dep is None:
                return "failed", f"{sup.name} cannot start: it depends on {name!r}, which is not a process"
            answer = dep.progress.meets(condition, dep.wanted, dep.name) if not dep.stopped else \
                f"{name} is stopped"
            if isinstance(answer, str):
                return "failed", f"{sup.name} cannot start: {name} {_goal(condition)} ({answer})"
            if not answer:
                pending.append(f"{name} {condition}")
        return ("waiting", ", ".join(pending)) if pending else ("clear", "")

    def changed(self) -> None:
        """Something changed: look again at the next loop iteration."""
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._evaluate)

    async def wait_change(self, timeout: float | None) -> None:
        """Return after the next evaluation (or after *timeout*)."""
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            pass

    def _evaluate(self) -> None:
        self._scheduled = False
        for sup in list(self._supervisors().values()) if self._accepting() else ():
            if sup.state is ProcessState.WAITING and not sup.stopped:
                verdict, detail = self.check(sup)
                if verdict == "clear":
                    _dependencies_met(sup)
                elif verdict == "failed":
                    _dependencies_failed(sup, detail)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def clear_to_start(sup: Supervisor) -> bool:
    """Whether *sup* may spawn now: True once every dependency condition holds (its
    dependencies are then not checked again in this start); else it is WAITING (the
    ``waiting`` event says on what), or FATAL if a condition can never hold."""
    verdict, detail = sup.ctx.gate.check(sup)
    if verdict == "clear":
        sup.deps_clear = True
        return True
    if verdict == "failed":
        _dependencies_failed(sup, detail)
        return False
    if sup.state is not ProcessState.WAITING:
        sup.set_state(ProcessState.WAITING)  # -> WAITING
    sup.ctx.publish("waiting", sup.name, on=detail)
    return False


def _dependencies_met(sup: Supervisor) -> None:
    """Every dependency condition of the WAITING *sup* holds: start its instances."""
    sup.deps_clear = True
    if sup.state is ProcessState.WAITING:
        sup.set_state(ProcessState.STARTING)  # WAITING -> STARTING
    sup.manage()


def _dependencies_failed(sup: Supervisor, reason: str) -> None:
    """A dependency of *sup* can never be met in this start: give up (FATAL) and say why; the
    templates that depend on *sup* fail in turn (at the next evaluation)."""
    sup.set_state(ProcessState.FATAL)  # WAITING -> FATAL
    sup.spawn_error = reason
    sup.progress.gave_up = reason
    sup.ctx.publish("dependency_failed", sup.name, message=reason)
    sup.ctx.report_failure(sup.name, reason)
    sup.ctx.gate.changed()


@dataclass(frozen=True)
class WaitResult:
    """What ``wait_ready`` saw: types ready, still waiting, and failed (with why)."""

    ready: list[str]
    waiting: list[str]
    failed: dict[str, str]

    @property
    def ok(self) -> bool:
        return not self.waiting and not self.failed


def readiness(sup: Supervisor) -> tuple[str, str]:
    """``("ready", "")``, ``("waiting", what)`` or ``("failed", why)`` for ``hu wait``.

    A type is ready when every wanted instance is (one without a ready probe once spawned),
    or, for a oneshot, when every one succeeded; it failed when an instance exited before it
    was ready (and will not be restarted), or when the type gave up (FATAL).
    """
    if sup.wanted == 0:
        return "ready", ""
    if sup.stopped:
        return "failed", f"{sup.name} is stopped"
    if sup.state is ProcessState.FATAL:
        return "failed", sup.spawn_error or sup.progress.gave_up or f"{sup.name} is FATAL"
    answer = sup.progress.meets("succeeded" if sup.template.oneshot else "ready", sup.wanted, sup.name)
    if isinstance(answer, str):
        return "failed", answer
    if answer:
        return "ready", ""
    return "waiting", sup.state.value


def _goal(condition: str) -> str:
    return {"started": "did not start", "ready": "did not become ready", "exited": "did not finish",
            "succeeded": "did not succeed"}.get(condition, f"did not reach {condition}")
