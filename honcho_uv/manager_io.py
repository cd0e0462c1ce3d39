"""The Manager's output and stats fan-out: who hears what the processes write and how they fare.

A mixin of :class:`~honcho_uv.manager.Manager`, kept apart so the Manager reads as lifecycle
and policy. It owns ``_sinks``, ``_io_listeners``, ``_stat_listeners`` and ``_output_paused``
(initialised by the Manager) and reads ``running`` and the jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from honcho_uv.process import Process

if TYPE_CHECKING:
    from honcho_uv.job import Job

__all__ = ["OutputFanout", "OutputSink"]

OutputSink = Callable[["Process", str, bytes], None]


class OutputFanout:
    """Output sinks and listeners, backpressure, and stats listeners of a Manager."""

    running: dict[int, Process]
    _sinks: dict[OutputSink, None]
    _io_listeners: dict[tuple[str, str], dict[Callable[..., Any], None]]
    _stat_listeners: dict[str, dict[Callable[..., Any], None]]
    _output_paused: int  # pause_output() calls not yet matched by resume_output()
    _jobs: dict[str, Job]
    _job: Callable[[str], Job]  # provided by the Manager
    _resolve: Callable[[str | int], Any]  # provided by the Manager: a Job or a Process

    # -- output and stats -----------------------------------------------------------------

    def add_output_sink(self, sink: OutputSink) -> None:
        """Call ``sink(process, label, data)`` for every chunk any process writes (fast path:
        no dict per chunk). Used by the console printer and the log buffer."""
        self._sinks[sink] = None

    def remove_output_sink(self, sink: OutputSink) -> None:
        self._sinks.pop(sink, None)

    def monitor_io(self, name: str, label: str, listener: Callable[..., Any]) -> None:
        """``listener(label, msg)`` for output *label* (``"."`` = all) of every process of
        template *name* (``"."`` = all templates), including processes started later."""
        if name != ".":
            self._job(name)
        self._io_listeners.setdefault((name, label), {})[listener] = None

    def unmonitor_io(self, name: str, label: str, listener: Callable[..., Any]) -> None:
        listeners = self._io_listeners.get((name, label))
        if listeners is not None:
            listeners.pop(listener, None)

    def _dispatch_output(self, process: Process, label: str, data: bytes) -> None:
        for sink in self._sinks:
            sink(process, label, data)
        if self._io_listeners:
            msg = None
            for key in ((process.template.name, label), (process.template.name, "."), (".", label), (".", ".")):
                for listener in self._io_listeners.get(key, ()):
                    if msg is None:
                        msg = {"event": label, "name": process.template.name, "process": process.name,
                               "pid": process.id, "os_pid": process.os_pid, "data": data}
                    listener(label, msg)

    def pause_output(self) -> None:
        """Stop reading every child's output (backpressure). Calls nest; each needs a resume."""
        self._output_paused += 1
        if self._output_paused == 1:
            for process in self.running.values():
                process.pause_reading()

    def resume_output(self) -> None:
        if self._output_paused == 0:
            return
        self._output_paused -= 1
        if self._output_paused == 0:
            for process in self.running.values():
                process.resume_reading()

    def monitor(self, name: str | int, listener: Callable[..., Any]) -> None:
        """``listener("stat", msg)`` every 0.1 s for each process of template *name* (later ones
        included), or for one process given by id or ``web.2`` (as gaffer's ``name_or_id``)."""
        if isinstance(name, int) or not str(name).replace("_", "").replace("-", "").isalnum():
            self._resolve(name).monitor(listener)  # type: ignore[union-attr]
            return
        job = self._job(name)
        self._stat_listeners.setdefault(name, {})[listener] = None
        for process in job.alive():
            process.monitor(listener)

    def unmonitor(self, name: str | int, listener: Callable[..., Any]) -> None:
        if isinstance(name, int) or not str(name).replace("_", "").replace("-", "").isalnum():
            self._resolve(name).unmonitor(listener)  # type: ignore[union-attr]
            return
        self._stat_listeners.get(name, {}).pop(listener, None)
        if name in self._jobs:
            for process in self._jobs[name].instances.values():
                process.unmonitor(listener)

    def _attach_listeners(self, process: Process) -> None:
        for listener in self._stat_listeners.get(process.template.name, ()):
            process.monitor(listener)

    def stats(self, name: str) -> dict[str, Any]:
        """Per-process samples of template *name* plus sums/maxima (None-safe)."""
        samples = []
        for process in self._job(name).alive():
            sample = process.stats()
            if sample is not None:
                sample.update({"pid": process.id, "os_pid": process.os_pid, "name": process.name})
                samples.append(sample)
        cpus = [s["cpu"] for s in samples if s.get("cpu") is not None]
        mems = [s["mem_info1"] for s in samples if s.get("mem_info1") is not None]
        return {"name": name, "stats": samples, "cpu": sum(cpus) if cpus else None,
                "max_cpu": max(cpus, default=None), "mem_info1": sum(mems) if mems else None,
                "max_mem_info1": max(mems, default=None)}

    def get_process_stats(self, name_or_id: str | int) -> dict[str, Any] | None:
        """Stats of a template (:meth:`stats`) or of one process (id or ``web.2``)."""
        target = self._resolve(name_or_id)
        return target.stats() if isinstance(target, Process) else self.stats(target.name)

    def processes_stats(self) -> list[dict[str, Any]]:
        """:meth:`stats` of every template."""
        return [self.stats(name) for name in self._jobs]
