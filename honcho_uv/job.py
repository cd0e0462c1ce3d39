"""The runtime state of one template inside the Manager (gaffer's ``ProcessState``).

Kept apart from :mod:`manager` so the Manager reads as policy, and this as bookkeeping.
Only the Manager mutates a Job, always on the loop thread.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from honcho_uv.models import TRANSITIONS, ExitStatus, ProcessState, ProcessTemplate
from honcho_uv.policy import FlapHistory
from honcho_uv.process import Process

__all__ = ["Job"]


@dataclass
class Job:
    """One template and its instances.

    Invariants:
        * ``instances`` maps an instance number to its current Process (spawning, alive, or
          exited but not yet handled); at most one Process per number.
        * ``wanted`` >= 0 is how many instances should run (``numprocesses`` after scaling).
        * ``held`` numbers were stopped one by one and are not respawned until a start.
        * ``exited`` numbers ended unexpectedly and their policy said not to restart.
        * ``retry`` is the pending BACKOFF timer, or None; a stop or remove cancels it.
    """

    template: ProcessTemplate
    wanted: int
    stopped: bool = True
    state: ProcessState = ProcessState.STOPPED
    instances: dict[int, Process] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)
    exited: set[int] = field(default_factory=set)
    flap: FlapHistory = field(default_factory=FlapHistory)
    retry: asyncio.TimerHandle | None = None
    restarts: int = 0
    last_exit: ExitStatus | None = None
    spawn_error: str | None = None

    @property
    def name(self) -> str:
        return self.template.name

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
        return [n for n in range(1, self.wanted + 1) if n not in self.instances and n not in self.held
                and n not in self.exited]

    def surplus(self) -> list[Process]:
        """Instances above ``wanted`` (highest numbers first): scale-down removes these."""
        return [self.instances[n] for n in sorted(self.instances, reverse=True) if n > self.wanted]

    def alive(self) -> list[Process]:
        return [p for p in self.instances.values() if p.alive]

    def status(self) -> dict[str, Any]:
        """gaffer's ``get_process_status``: active, running, max_processes, plus the state."""
        running = len(self.alive())
        return {
            "active": running > 0,
            "running": running,
            "max_processes": self.wanted,
            "numprocesses": self.wanted,
            "state": self.state.value,
        }

    def info(self) -> dict[str, Any]:
        """The template as a dict plus its runtime status (the env is left out: secrets)."""
        data = self.template.to_dict()
        data["env"] = sorted(data["env"])  # names only
        data.update(self.status())
        data.update(
            {
                "restarts": self.restarts,
                "retries": self.flap.retries,
                "last_exit": None if self.last_exit is None else self.last_exit.returncode,
                "spawn_error": self.spawn_error,
                "pids": sorted(p.id for p in self.instances.values()),
            }
        )
        return data
