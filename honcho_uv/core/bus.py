"""The OutputBus: who hears what the processes write, how they fare, and when they come and go.

One registry for each kind of subscriber, and one pause counter per process:

* **sinks** (``add_output_sink``): ``sink(process, label, data)`` for every chunk of every
  process, no dict per chunk (the console, the log buffer, readiness probes);
* **output listeners**: ``listener(label, msg)`` for a template (``"."`` = all, later processes
  included) or one process, with ``msg = {"event": label, "name", "process", "pid", "os_pid",
  "data"}``; a per-process subscription may ask to be told when that process's output ends;
* **pauses**: a consumer that cannot keep up pauses one process or all (the children block in
  ``write``; nothing is lost). Pauses nest: each pause is matched by its own resume, and a
  process reads while neither it nor everything is paused;
* **stats**: ``listener("stat", sample)`` for a template's or one process's instances,
  sampled by one :class:`~honcho_uv.core.stats.StatsTicker` for all of them (every 0.1 s, or
  less often for thousands);
* **lifecycle hooks**: ``hook(kind, process)`` with ``"spawn"`` / ``"exit"``, called
  synchronously. Unlike events (which a bounded queue may drop), they drive what must happen:
  the daemon's state file, the end of a stream.

Everything here runs on the loop thread. :meth:`deliver` is the hot path: one call per chunk
read, looping over the sinks, and doing nothing more when nobody listens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from honcho_uv.core.stats import StatsSampler, StatsTicker

if TYPE_CHECKING:
    from honcho_uv.core.process import Process

__all__ = ["LifecycleHook", "OutputBus", "OutputSink"]

log = logging.getLogger(__name__)

OutputSink = Callable[["Process", str, bytes], None]
Listener = Callable[..., Any]
LifecycleHook = Callable[[str, "Process"], None]


class _ProcessSubscription:
    """One process's own output listener, and what to call when its output ends."""

    __slots__ = ("label", "listener", "on_end")

    def __init__(self, label: str, listener: Listener, on_end: Callable[[], None] | None):
        self.label, self.listener, self.on_end = label, listener, on_end


class OutputBus:
    """Output, stats and lifecycle fan-out of one Manager (see the module docstring)."""

    def __init__(self, sampler: StatsSampler | None = None):
        self.sampler = sampler or StatsSampler()
        self._sinks: dict[OutputSink, None] = {}
        # (template name or ".", label or ".") -> listeners; every key is non-empty.
        self._io_listeners: dict[tuple[str, str], dict[Listener, None]] = {}
        # process id -> that process's own subscriptions (removed at detach).
        self._process_io: dict[int, list[_ProcessSubscription]] = {}
        # Invariant: a process reads iff _paused_all == 0 and _pauses.get(id, 0) == 0.
        self._paused_all = 0
        self._pauses: dict[int, int] = {}
        self._attached: dict[int, Process] = {}  # id -> Process, from creation to detach
        self._stat_templates: dict[str, dict[Listener, None]] = {}
        self._stat_processes: dict[int, dict[Listener, None]] = {}
        self._ticker: StatsTicker | None = None  # made by bind(): it needs the loop
        self._hooks: dict[LifecycleHook, None] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Sample stats on *loop* from now on (the Manager binds it at start)."""
        if self._ticker is not None:
            self._ticker.close()
        self._ticker = StatsTicker(loop, self.sampler, self._on_sample, self._on_sample_gone)

    # -- the hot path -----------------------------------------------------------------------

    def deliver(self, process: Process, label: str, data: bytes) -> None:
        """A chunk read from *process*'s output *label*: hand it to every subscriber."""
        for sink in self._sinks:
            sink(process, label, data)
        if not self._io_listeners and not self._process_io:
            return  # the common case: no dict per chunk
        msg: dict[str, Any] | None = None
        name = process.template.name
        targets: list[Listener] = []
        for key in ((name, label), (name, "."), (".", label), (".", ".")):
            targets.extend(self._io_listeners.get(key, ()))
        for sub in self._process_io.get(process.id, ()):
            if sub.label in (label, "."):
                targets.append(sub.listener)
        for listener in targets:
            if msg is None:
                msg = {"event": label, "name": name, "process": process.name, "pid": process.id,
                       "os_pid": process.os_pid, "data": data}
            listener(label, msg)

    # -- sinks and listeners ------------------------------------------------------------------

    def add_sink(self, sink: OutputSink) -> None:
        self._sinks[sink] = None

    def remove_sink(self, sink: OutputSink) -> None:
        self._sinks.pop(sink, None)

    def monitor_template(self, name: str, label: str, listener: Listener) -> None:
        """*listener* for output *label* of every process of template *name* (``"."`` = all)."""
        self._io_listeners.setdefault((name, label), {})[listener] = None

    def unmonitor_template(self, name: str, label: str, listener: Listener) -> None:
        listeners = self._io_listeners.get((name, label))
        if listeners is not None:
            listeners.pop(listener, None)
            if not listeners:
                del self._io_listeners[(name, label)]

    def monitor_process(self, process: Process, label: str, listener: Listener,
                        on_end: Callable[[], None] | None = None) -> None:
        """*listener* for output *label* (``"."`` = all) of *process*; *on_end()* once its output
        has ended (at once if it already has)."""
        if process.id not in self._attached:
            if on_end is not None:
                on_end()
            return
        self._process_io.setdefault(process.id, []).append(_ProcessSubscription(label, listener, on_end))

    def unmonitor_process(self, process: Process, label: str, listener: Listener) -> None:
        subs = self._process_io.get(process.id)
        if subs:
            subs[:] = [s for s in subs if not (s.label == label and s.listener == listener)]
            if not subs:
                del self._process_io[process.id]

    def add_lifecycle_hook(self, hook: LifecycleHook) -> None:
        """``hook("spawn" | "exit", process)``, synchronously, for every process."""
        self._hooks[hook] = None

    def remove_lifecycle_hook(self, hook: LifecycleHook) -> None:
        self._hooks.pop(hook, None)

    # -- pauses -------------------------------------------------------------------------------

    def pause(self, process: Process) -> None:
        """Stop reading *process*'s output until the matching :meth:`resume`."""
        count = self._pauses.get(process.id, 0) + 1
        self._pauses[process.id] = count
        if count == 1 and not self._paused_all:
            process.set_reading(False)

    def resume(self, process: Process) -> None:
        count = self._pauses.get(process.id, 0)
        if count == 0:
            return
        if count == 1:
            del self._pauses[process.id]
            if not self._paused_all:
                process.set_reading(True)
        else:
            self._pauses[process.id] = count - 1

    def is_paused(self, process: Process) -> bool:
        return bool(self._paused_all or self._pauses.get(process.id))

    def pause_all(self) -> None:
        """Stop reading every process's output (later ones included) until :meth:`resume_all`."""
        self._paused_all += 1
        if self._paused_all == 1:
            for process in self._attached.values():
                if not self._pauses.get(process.id):
                    process.set_reading(False)

    def resume_all(self) -> None:
        if self._paused_all == 0:
            return
        self._paused_all -= 1
        if self._paused_all == 0:
            for process in self._attached.values():
                if not self._pauses.get(process.id):
                    process.set_reading(True)

    # -- stats --------------------------------------------------------------------------------

    def monitor_stats(self, name: str, listener: Listener, processes: list[Process]) -> None:
        """``listener("stat", sample)`` for each instance of template *name*, later ones included
        (*processes*: its instances alive now)."""
        self._stat_templates.setdefault(name, {})[listener] = None
        for process in processes:
            self._watch(process)

    def unmonitor_stats(self, name: str, listener: Listener) -> None:
        listeners = self._stat_templates.get(name)
        if listeners is not None:
            listeners.pop(listener, None)
            if not listeners:
                del self._stat_templates[name]
        for process in list(self._attached.values()):
            if process.template.name == name:
                self._unwatch_if_unheard(process)

    def monitor_process_stats(self, process: Process, listener: Listener) -> None:
        self._stat_processes.setdefault(process.id, {})[listener] = None
        self._watch(process)

    def unmonitor_process_stats(self, process: Process, listener: Listener) -> None:
        listeners = self._stat_processes.get(process.id)
        if listeners is not None:
            listeners.pop(listener, None)
            if not listeners:
                del self._stat_processes[process.id]
        self._unwatch_if_unheard(process)

    def sampled(self) -> frozenset[int]:
        """Ids of the processes being sampled now (none: no stats timer is armed)."""
        if self._ticker is None:
            return frozenset()
        assert self._ticker.armed == bool(self._ticker.keys), "the ticker's timer runs iff it has targets"
        return self._ticker.keys

    def sample(self, process: Process) -> dict[str, Any] | None:
        """One stats sample of *process* now (None if it is not alive)."""
        if not process.alive or process.os_pid is None:
            return None
        sample = self.sampler.sample(process.os_pid, process.create_time)
        if sample is not None:
            sample.update(pid=process.id, name=process.name)
        return sample

    def sample_many(self, processes: list[Process]) -> list[dict[str, Any]]:
        """A sample of each live process of *processes*, all read in one pass; those gone are
        left out. No identity check is needed: a live child is unreaped, so its pid is its own."""
        alive = [p for p in processes if p.alive and p.os_pid is not None]
        samples = self.sampler.sample_many([(p.os_pid, None) for p in alive if p.os_pid is not None])
        out = []
        for process, sample in zip(alive, samples, strict=True):
            if sample is not None:
                sample.update(pid=process.id, name=process.name)
                out.append(sample)
        return out

    def _heard(self, process: Process) -> bool:
        return bool(self._stat_processes.get(process.id) or self._stat_templates.get(process.template.name))

    def _watch(self, process: Process) -> None:
        ticker = self._ticker
        if ticker is not None and process.alive and process.os_pid is not None and process.id not in ticker:
            ticker.add(process.id, process.os_pid, process.create_time, {"pid": process.id, "name": process.name})

    def _unwatch_if_unheard(self, process: Process) -> None:
        if not self._heard(process) and self._ticker is not None:
            self._ticker.remove(process.id)

    def _on_sample(self, key: int, sample: dict[str, Any]) -> None:
        process = self._attached.get(key)
        if process is None:
            return
        for listener in [*self._stat_processes.get(key, ()), *self._stat_templates.get(process.template.name, ())]:
            try:
                listener("stat", sample)
            except Exception:
                log.exception("stats listener %r failed", listener)

    def _on_sample_gone(self, key: int) -> None:
        self._stat_processes.pop(key, None)

    # -- lifecycle ----------------------------------------------------------------------------

    def attach(self, process: Process) -> None:
        """A process was created: pauses in force apply to it from its first read."""
        self._attached[process.id] = process
        if self._paused_all:
            process.set_reading(False)

    def spawned(self, process: Process) -> None:
        """*process* is running (its OS pid is known)."""
        if self._heard(process):
            self._watch(process)
        self._run_hooks("spawn", process)

    def detach(self, process: Process) -> None:
        """*process* has exited and its output ended: drop its subscriptions, pauses and stats
        sampling, and tell its per-process subscribers and the lifecycle hooks."""
        if self._attached.pop(process.id, None) is None:
            return
        self._pauses.pop(process.id, None)
        if self._ticker is not None:
            self._ticker.remove(process.id)
        self._stat_processes.pop(process.id, None)
        for sub in self._process_io.pop(process.id, ()):
            if sub.on_end is not None:
                sub.on_end()
        if process.os_pid is not None:
            self.sampler.forget(process.os_pid, process.create_time)
            self._run_hooks("exit", process)

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.close()

    def _run_hooks(self, kind: str, process: Process) -> None:
        for hook in list(self._hooks):
            try:
                hook(kind, process)
            except Exception:
                log.exception("lifecycle hook %r failed", hook)
