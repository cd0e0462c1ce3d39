"""The process model of ``hu.toml`` in the terms the formats share.

Readiness, health, dependencies and oneshots (DESIGN.md "Exports carry the model") reach
the exporters on each :class:`~honcho_uv.export.base.ProcessType`; this module holds what
more than one format needs to write them:

* :func:`start_levels`: each type's place in the start order (0 = no dependencies), the
  same order ``hu start`` uses (:mod:`honcho_uv.core.deps`);
* :func:`probe_host`: the host a tcp/http probe names, None for the instance itself
  (a loopback address is the instance's own host in every format that runs one copy per
  network namespace or machine);
* :func:`whole_seconds` and :func:`duration` (from :mod:`honcho_uv.export.durations`): hu's
  float seconds as a format's integers or ``"1.5s"`` strings;
* :class:`Notes`: what a format could not carry, per type, written as comments into the
  files (and listed in docs/export.rst), so nothing is dropped silently.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable

from honcho_uv.core.deps import start_levels as _levels
from honcho_uv.export.base import ExportContext, ProcessType
from honcho_uv.export.durations import duration, whole_seconds
from honcho_uv.models import Probe

__all__ = ["LOOPBACK", "Notes", "duration", "has_dependencies", "probe_host", "signal_name", "start_levels",
           "whole_seconds"]

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"})


def start_levels(ctx: ExportContext) -> dict[str, int]:
    """``{type: level}``: 0 without dependencies, else one more than its deepest dependency."""
    graph = {t.name: t.depends_on for t in ctx.types}
    return _levels(graph, [t.name for t in ctx.types])


def has_dependencies(ctx: ExportContext) -> bool:
    return any(t.depends_on for t in ctx.types)


def probe_host(probe: Probe) -> str | None:
    """The host a tcp/http probe targets, None for "the instance itself" (default or loopback)."""
    if probe.host is None or probe.host.lower() in LOOPBACK:
        return None
    return probe.host


def signal_name(number: int, prefix: bool = True) -> str:
    """``SIGINT`` (or ``INT`` without *prefix*) for a signal number."""
    name = signal.Signals(number).name
    return name if prefix else name[3:]


def _one_line(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", "?", text)


class Notes:
    """What an export leaves out, per process type: ``add(ptype, "ready", "http:/healthz",
    "needs curl in the image")`` -> ``ready = http:/healthz: needs curl in the image``."""

    def __init__(self) -> None:
        self._by_type: dict[str, list[str]] = {}

    def add(self, ptype: ProcessType, key: str, value: object, why: str) -> None:
        self._by_type.setdefault(ptype.name, []).append(_one_line(f"{key} = {value}: {why}"))

    def of(self, name: str) -> list[str]:
        return list(self._by_type.get(name, ()))

    def all(self, names: Iterable[str]) -> list[str]:
        return [f"{name}: {line}" for name in names for line in self._by_type.get(name, ())]

    def unready(self, ptype: ProcessType, dep: ProcessType, waits_for: str) -> None:
        """*ptype* depends on *dep* being ready, whose ready probe the format cannot carry."""
        if dep.ready is not None and dep.ready.kind != "started":
            self.add(ptype, "depends_on", f"{dep.name}:ready", f"{dep.name}'s ready probe ({dep.ready}) is not "
                                                                 f"expressible here, so this waits for {waits_for}")

    def dependencies(self, ptype: ProcessType, why: str) -> None:
        if ptype.depends_on:
            deps = " ".join(f"{dep}:{cond}" for dep, cond in ptype.depends_on.items())
            self.add(ptype, "depends_on", deps, why)
