"""Plain-data snapshots of instances and templates, for the API's views and gaffer's dicts.

Data, not a wire format: ``http/wire.py`` alone decides what the HTTP API sends. No
environment is included: it may hold secrets (an instance's PORT is the one exception).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from honcho_uv.core.process import Process
    from honcho_uv.core.supervisor import Supervisor

__all__ = ["InstanceInfo", "TemplateStatus", "describe", "template_status"]


@dataclass(frozen=True)
class InstanceInfo:
    """A plain-data description of an instance (no environment: it may hold secrets)."""

    id: int
    name: str
    type: str
    number: int
    os_pid: int | None
    cmd: str
    args: list[str] | None
    create_time: float | None
    started_at: float | None
    uptime: float | None
    alive: bool
    redirect_output: list[str]
    redirect_input: bool
    tty: bool
    exit_status: int | None
    term_signal: int | None
    port: str | None


def describe(process: Process) -> InstanceInfo:
    """*process* as an :class:`InstanceInfo`."""
    status, template = process.exit_status, process.template
    return InstanceInfo(
        id=process.id, name=process.name, type=template.name, number=process.number, os_pid=process.os_pid,
        cmd=template.cmd, args=list(template.args) if template.args is not None else None,
        create_time=process.create_time, started_at=process.started_at, uptime=process.uptime(), alive=process.alive,
        redirect_output=list(template.redirect_output), redirect_input=template.redirect_input,
        tty=template.tty, exit_status=None if status is None else status.code,
        term_signal=None if status is None else status.signal, port=process.env.get("PORT"),
    )


@dataclass(frozen=True)
class TemplateStatus:
    """A template's state and counts (gaffer's ``get_process_status`` plus hu's counters)."""

    name: str
    state: str
    active: bool
    running: int
    max_processes: int
    numprocesses: int
    restarts: int
    retries: int
    last_exit: int | None
    spawn_error: str | None
    pids: list[int]


def template_status(sup: Supervisor) -> TemplateStatus:
    """*sup* as a :class:`TemplateStatus`."""
    running = len(sup.alive())
    return TemplateStatus(
        name=sup.name, state=sup.state.value, active=running > 0, running=running, max_processes=sup.wanted,
        numprocesses=sup.wanted, restarts=sup.restarts, retries=sup.flap.retries,
        last_exit=None if sup.last_exit is None else sup.last_exit.returncode, spawn_error=sup.spawn_error,
        pids=sorted(p.id for p in sup.instances.values()),
    )
