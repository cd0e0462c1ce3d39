"""The Manager: the embedding API of honcho_uv (gaffer 0.4's, with its defects fixed).

Glossary (gaffer's words, kept for its API): a *process* in ``add_process``,
``start_process``, ``processes`` and ``/processes`` is a **template** (a Procfile type such
as ``web``), run by one :class:`~honcho_uv.core.supervisor.Supervisor`; a
:class:`~honcho_uv.core.process.Process` is one **instance** (``web.2``). ``Process.id``
(gaffer's ``pid``) is the Manager's internal id, never reused; ``os_pid`` is the OS's.

:class:`Manager` is a :class:`~honcho_uv.core.controller.Controller` (lifecycle, templates,
control verbs, lookups) plus the observation API: output and stats (the
:class:`~honcho_uv.core.bus.OutputBus`), event subscriptions, and gaffer's aliases. Everything
here is written with the Controller's public attributes only.

Only :meth:`stop` and :meth:`restart` may be called from other threads; everything else runs
on the loop thread (or before :meth:`run`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

from honcho_uv.core.bus import OutputSink
from honcho_uv.core.controller import Controller
from honcho_uv.core.gate import WaitResult, readiness
from honcho_uv.core.hooks import Application, ExitPolicy
from honcho_uv.core.process import Process
from honcho_uv.core.snapshot import template_status
from honcho_uv.core.supervisor import Supervisor
from honcho_uv.errors import StateError
from honcho_uv.models import ProcessTemplate

__all__ = ["Application", "ExitPolicy", "Manager"]


class Manager(Controller):
    """Runs process templates on an asyncio loop (see :class:`Controller` for the arguments)."""

    # -- gaffer 0.4 names ------------------------------------------------------------------

    def running_processes(self) -> dict[int, Process]:
        """gaffer's name for :attr:`running`."""
        return self.running

    def start_processes(self) -> list[asyncio.Task[Any]]:
        """Start every template (gaffer 0.4)."""
        return [t for t in (self.start_process(name) for name in self.processes) if t is not None]

    def stop_processes(self) -> list[asyncio.Task[Any]]:
        """Stop every template (gaffer 0.4); the Manager keeps running."""
        return [self.stop_process(name) for name in self.processes]

    def ttin(self, name: str, i: int = 1) -> int:
        """Add *i* instances; returns the new count."""
        return self.scale(name, f"+{int(i)}")

    def ttou(self, name: str, i: int = 1) -> int:
        """Remove *i* instances (the highest numbers); returns the new count."""
        return self.scale(name, f"-{int(i)}")

    def jobs(self) -> list[Supervisor]:
        """Every template's Supervisor, in the order they were added."""
        return [self.supervisor(name) for name in self.processes]

    def get_process_status(self, name: str) -> dict[str, Any]:
        """gaffer's status: ``active``, ``running``, ``max_processes`` (and ``numprocesses``), ``state``."""
        status = template_status(self.supervisor(name))
        return {"active": status.active, "running": status.running, "max_processes": status.max_processes,
                "numprocesses": status.numprocesses, "state": status.state}

    def get_process_info(self, name: str) -> dict[str, Any]:
        """The template's fields (env names only: values may be secrets), its state and counters."""
        data = self.supervisor(name).template.to_dict()
        data["env"] = sorted(data["env"])
        data.update(asdict(template_status(self.supervisor(name))))
        return data

    def get_template(self, name: str) -> ProcessTemplate:
        return self.supervisor(name).template

    def pids(self, name: str | None = None) -> list[int]:
        return [p.id for p in self.list(name)]

    # -- readiness ------------------------------------------------------------------------

    async def wait_ready(self, names: Iterable[str] | None = None, timeout: float = 60.0) -> WaitResult:
        """Wait until the templates *names* (default: all) are ready, one has failed, or
        *timeout* seconds pass; returns what was seen last. Woken by changes, never polling.

        Raises:
            UnknownProcess: a name that is not a template.
            StateError: the Manager is not started.
        """
        wanted = list(names) if names else self.processes
        sups = [self.supervisor(name) for name in wanted]
        if self._run is None or not self.started:
            raise StateError("the manager is not started")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            verdicts = {sup.name: readiness(sup) for sup in sups}
            result = WaitResult([n for n, (v, _) in verdicts.items() if v == "ready"],
                                [n for n, (v, _) in verdicts.items() if v == "waiting"],
                                {n: why for n, (v, why) in verdicts.items() if v == "failed"})
            remaining = deadline - loop.time()
            if result.failed or not result.waiting or remaining <= 0:
                return result
            await self._run.gate.wait_change(remaining)

    # -- output and stats (the OutputBus) ----------------------------------------------------

    def add_output_sink(self, sink: OutputSink) -> None:
        """Call ``sink(process, label, data)`` for every chunk any process writes (no dict per
        chunk). Used by the console printer and the log buffer."""
        self.bus.add_sink(sink)

    def remove_output_sink(self, sink: OutputSink) -> None:
        self.bus.remove_sink(sink)

    def monitor_io(self, name: str, label: str, listener: Callable[..., Any]) -> None:
        """``listener(label, msg)`` for output *label* (``"."`` = all) of every process of
        template *name* (``"."`` = all templates), including processes started later."""
        if name != ".":
            self.supervisor(name)
        self.bus.monitor_template(name, label, listener)

    def unmonitor_io(self, name: str, label: str, listener: Callable[..., Any]) -> None:
        self.bus.unmonitor_template(name, label, listener)

    def resize_terminals(self, columns: int, rows: int) -> None:
        """Give every tty child, running or started later, a terminal of *columns* x *rows*
        (the kernel sends SIGWINCH to each running one whose size changed)."""
        self.window.resize((columns, rows))

    def pause_output(self) -> None:
        """Stop reading every child's output (backpressure). Calls nest; each needs a resume."""
        self.bus.pause_all()

    def resume_output(self) -> None:
        self.bus.resume_all()

    def monitor(self, name: str | int, listener: Callable[..., Any]) -> None:
        """``listener("stat", msg)`` every 0.1 s (less often for thousands: see
        :class:`~honcho_uv.core.stats.StatsTicker`) for each process of template *name* (later
        ones included), or for one process given by id or ``web.2`` (as gaffer's ``name_or_id``)."""
        target = self.get_process(name)
        if isinstance(target, Supervisor):
            self.bus.monitor_stats(target.name, listener, target.alive())
        else:
            target.monitor(listener)

    def unmonitor(self, name: str | int, listener: Callable[..., Any]) -> None:
        target = self.get_process(name)
        if isinstance(target, Supervisor):
            self.bus.unmonitor_stats(target.name, listener)
        else:
            target.unmonitor(listener)

    def stats(self, name: str) -> dict[str, Any]:
        """Per-process samples of template *name* plus sums/maxima (None-safe)."""
        return self._summary(name, self.bus.sample_many(self.supervisor(name).alive()))

    def _summary(self, name: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
        cpus = [s["cpu"] for s in samples if s.get("cpu") is not None]
        mems = [s["mem_info1"] for s in samples if s.get("mem_info1") is not None]
        return {"name": name, "stats": samples, "cpu": sum(cpus) if cpus else None,
                "max_cpu": max(cpus, default=None), "mem_info1": sum(mems) if mems else None,
                "max_mem_info1": max(mems, default=None)}

    def get_process_stats(self, name_or_id: str | int) -> dict[str, Any] | None:
        """Stats of a template (:meth:`stats`) or of one process (id or ``web.2``)."""
        target = self.get_process(name_or_id)
        return target.stats() if isinstance(target, Process) else self.stats(target.name)

    def processes_stats(self) -> list[dict[str, Any]]:
        """:meth:`stats` of every template, all read in one pass."""
        samples = self.bus.sample_many([p for name in self.processes for p in self.supervisor(name).alive()])
        by_type: dict[str, list[dict[str, Any]]] = {name: [] for name in self.processes}
        for sample in samples:
            by_type[sample["name"].rpartition(".")[0]].append(sample)
        return [self._summary(name, by_type[name]) for name in self.processes]

    # -- events ---------------------------------------------------------------------------

    def subscribe(self, evtype: str, listener: Callable[..., Any]) -> None:
        self.events.subscribe(evtype, listener)

    def subscribe_once(self, evtype: str, listener: Callable[..., Any]) -> None:
        self.events.subscribe_once(evtype, listener)

    def unsubscribe(self, evtype: str, listener: Callable[..., Any]) -> None:
        self.events.unsubscribe(evtype, listener)

    # Last in the class: a method named ``list`` shadows the builtin in what follows it.
    def list(self, name: str | None = None) -> list[Process]:
        """Live processes, of one template or all (in template then number order)."""
        sups = [self.supervisor(name)] if name is not None else self._supervisors.values()
        return [p for sup in sups for p in sup.alive()]
