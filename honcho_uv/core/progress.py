"""What a template's instances have done since its last start, and what a dependent may ask.

A :class:`Progress` belongs to one Supervisor, which records spawns, readiness and final
exits in it; the dependency gate and ``wait_ready`` ask it whether a condition holds
(DESIGN.md "Dependencies"): ``started`` (every wanted instance was spawned), ``ready`` (every
wanted instance is ready; one without a ready probe is ready once spawned), ``exited`` (every
wanted instance ended for good, any code), ``succeeded`` (every one ended with code 0).

An answer is ``True`` (met), ``False`` (not yet) or a string: why it can never be met in this
start (an instance failed and will not be restarted, or the template gave up).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from honcho_uv.models import ExitStatus

__all__ = ["Progress"]


@dataclass
class Progress:
    """Invariants: numbers are instance numbers; ``ready`` holds only numbers of instances
    alive now (an exit removes its number); ``finished`` and ``failures`` hold numbers that
    will not run again in this start (no restart is pending for them)."""

    spawned: set[int] = field(default_factory=set)
    ready: set[int] = field(default_factory=set)
    finished: dict[int, ExitStatus] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    gave_up: str | None = None  # FATAL: flapping made the template give up

    def reset(self) -> None:
        self.spawned.clear()
        self.ready.clear()
        self.finished.clear()
        self.failures.clear()
        self.gave_up = None

    def meets(self, condition: str, wanted: int, name: str) -> bool | str:
        """Whether *condition* holds for instances ``1..wanted`` of template *name*."""
        numbers = range(1, wanted + 1)
        if condition in ("started", "ready"):
            for n in numbers:
                if n in self.failures:
                    return self.failures[n]
            if self.gave_up is not None:
                return self.gave_up
            pool = self.spawned if condition == "started" else self.ready
            return all(n in pool for n in numbers)
        failed = [n for n in numbers if n in self.finished and not self.finished[n].success]
        if condition == "succeeded" and failed:
            return f"{name}.{failed[0]} {self.finished[failed[0]].describe()}"
        if self.gave_up is not None and not all(n in self.finished for n in numbers):
            return self.gave_up
        return all(n in self.finished for n in numbers)
