"""JSON views of templates and instances. The environment is never included (names only)."""

from __future__ import annotations

from typing import Any

from honcho_uv.job import Job
from honcho_uv.process import Process

__all__ = ["describe_instance", "describe_job"]


def describe_instance(process: Process, job: Job | None = None) -> dict[str, Any]:
    """``process.info()`` plus the instance's state; it carries ``id``, ``name`` and ``os_pid``."""
    info = process.info()
    if process.alive:
        info["state"] = "STOPPING" if process.requested_stop else "RUNNING"
    else:
        info["state"] = job.state.value if job is not None else "STOPPED"
    info["restarts"] = job.restarts if job is not None else 0
    return info


def describe_job(job: Job) -> dict[str, Any]:
    """The template (env names only), its state and counts, and its instances."""
    data = job.info()
    data["instances"] = [describe_instance(job.instances[n], job) for n in sorted(job.instances)]
    data["os_pids"] = [p.os_pid for p in job.alive()]
    return data
