"""psutil sampling of a process and its children, in raw units, and a batched sampling timer.

A sample (:meth:`StatsSampler.sample`) is::

    {"os_pid": OS pid, "mem_info1": RSS bytes, "mem_info2": VMS bytes, "cpu": CPU percent
     (since the previous sample of the same process; on the first, since it started: 0.0
     where there is no /proc), "mem": memory percent,
     "ctime": user + system CPU seconds, "username", "nice", "cmdline": executable basename,
     "create_time", "children": [the same dict for each child, recursively]}

``pid`` is deliberately absent: in every message hu sends, ``pid`` is the Manager's internal
id and ``os_pid`` the operating system's (the owner of a sample adds ``pid`` and ``name``).
A field psutil may not read (AccessDenied) is None. A process that vanishes mid-sample is left
out (a child) or gives None (the process itself); nothing here raises psutil errors.

A :class:`StatsSampler` is an object its owner holds (never module state). On Linux it reads
every sample of a round from one pass over ``/proc`` (:mod:`honcho_uv.core.procstat`), so a
round of 5,000 processes costs 5,000 small reads, not psutil's whole-table scan per process;
elsewhere it caches one ``psutil.Process`` per (pid, create time). Either way a process's CPU
history is keyed by pid and create time, so a recycled pid never inherits another's.
:class:`StatsTicker` samples every subscribed target on **one** timer every 0.1 s, in one
batch, and only while something is subscribed. A round runs on the loop, and reading 5,000
``/proc/PID/stat`` lines alone takes about 75 ms of CPU here (the kernel formats each line),
so the ticker waits at least three times as long as its last round took before the next:
sampling never takes more than a quarter of a core or of the loop's time, whatever the number
of processes (about every 0.55 s for 5,000; every 0.1 s up to about 1,000).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from honcho_uv.core import procstat

__all__ = ["MAX_SAMPLING_SHARE", "SAMPLE_INTERVAL_S", "StatsSampler", "StatsTicker"]

log = logging.getLogger(__name__)
SAMPLE_INTERVAL_S = 0.1
#: The most of the loop's time (and of a core) that stats rounds may take (module docstring).
MAX_SAMPLING_SHARE = 0.25
#: CPU time is counted in clock ticks (10 ms), so a percentage over a few milliseconds is
#: noise (272 % on two cores was seen under load). Samples closer than this reuse the last
#: value; every value is clamped to [0, 100 * CPUs].
MIN_CPU_INTERVAL_S = 0.1
_CPUS = psutil.cpu_count() or 1


@dataclass
class _Entry:
    """A cached handle and its CPU history (monotonic time and percent of the last reading)."""

    proc: psutil.Process
    cpu_at: float = -1.0
    cpu: float | None = None


class StatsSampler:
    """Samples processes (see the module docstring); at most *max_cache* handles are kept."""

    def __init__(self, max_cache: int = 4096, use_proc: bool | None = None):
        self.max_cache = max_cache
        self._cache: dict[tuple[int, float], _Entry] = {}
        use_proc = procstat.available() if use_proc is None else use_proc
        self._proc = procstat.ProcSampler(
            boot_time=psutil.boot_time(), total_memory=psutil.virtual_memory().total,
            min_cpu_interval=MIN_CPU_INTERVAL_S, max_cpu=100.0 * _CPUS) if use_proc else None

    def sample_many(self, targets: list[tuple[int, float | None]]) -> list[dict[str, Any] | None]:
        """A sample for each ``(pid, create time)`` (None: gone, or the pid was recycled), all
        read in one pass where the system allows."""
        if self._proc is not None:
            return self._proc.sample_many(targets)
        return [self.sample(pid, create_time) for pid, create_time in targets]

    def sample(self, pid: int, create_time: float | None = None) -> dict[str, Any] | None:
        """One sample of *pid* (identity-checked against *create_time*); None if it is gone."""
        if self._proc is not None:
            return self._proc.sample_many([(pid, create_time)])[0]
        entry = self._entry(pid, create_time)
        if entry is None:
            return None
        try:
            return self._read(entry)
        except psutil.Error:
            return None

    def forget(self, pid: int, create_time: float | None) -> None:
        """Drop the cached handle of a process that is gone."""
        if create_time is not None:
            self._cache.pop((pid, create_time), None)

    def _entry(self, pid: int, create_time: float | None) -> _Entry | None:
        try:
            if create_time is None:
                create_time = psutil.Process(pid).create_time()
            key = (pid, create_time)
            entry = self._cache.get(key)
            if entry is None:
                proc = psutil.Process(pid)
                if proc.create_time() != create_time:
                    return None  # the pid now belongs to another process
                if len(self._cache) >= self.max_cache:
                    self._cache.clear()
                entry = self._cache[key] = _Entry(proc)
            return entry
        except psutil.Error:
            return None

    def _read(self, entry: _Entry, depth: int = 0) -> dict[str, Any] | None:
        proc = entry.proc
        out: dict[str, Any] = {"os_pid": proc.pid}
        try:
            with proc.oneshot():
                out["create_time"] = _field(proc.create_time)
                mem = _field(proc.memory_info)
                out["mem_info1"] = mem.rss if mem else None
                out["mem_info2"] = mem.vms if mem else None
                out["cpu"] = self._cpu_percent(entry)
                mem_pct = _field(proc.memory_percent)
                out["mem"] = round(mem_pct, 1) if mem_pct is not None else None
                times = _field(proc.cpu_times)
                out["ctime"] = round(times.user + times.system, 2) if times else None
                out["username"] = _field(proc.username)
                out["nice"] = _field(proc.nice)
                exe = _field(proc.cmdline)
                out["cmdline"] = os.path.basename(exe[0]) if exe else _field(proc.name)
                children = (_field(proc.children) or []) if depth < 8 else []
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return None
        out["children"] = []
        for child in children:
            cached = self._entry(child.pid, None)
            sample = self._read(cached, depth + 1) if cached else None
            if sample is not None:
                out["children"].append(sample)
        return out

    @staticmethod
    def _cpu_percent(entry: _Entry) -> float | None:
        now = time.monotonic()
        if entry.cpu is not None and now - entry.cpu_at < MIN_CPU_INTERVAL_S:
            return entry.cpu
        value = _field(entry.proc.cpu_percent, None)
        if value is None:
            return None
        entry.cpu, entry.cpu_at = min(max(value, 0.0), 100.0 * _CPUS), now
        return entry.cpu


def _field(getter: Callable[..., Any], *args: Any) -> Any:
    try:
        return getter(*args)
    except psutil.AccessDenied:
        return None


#: What a ticker samples: a key (the owner's), the OS pid and create time, and what to add.
Target = tuple[int, float | None, dict[str, Any]]


class StatsTicker:
    """Samples every target on one timer, every :data:`SAMPLE_INTERVAL_S`, while it has targets.

    ``on_sample(key, sample)`` is called on the loop for each target each round; a target whose
    process is gone gets ``on_gone(key)`` once and is dropped. Idle (no targets) means no timer.
    After a round that took *t* seconds the next one starts no sooner than ``3 * t`` later
    (:data:`MAX_SAMPLING_SHARE`); *now* is the clock that measures rounds (a seam for tests).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sampler: StatsSampler,
                 on_sample: Callable[[Any, dict[str, Any]], None], on_gone: Callable[[Any], None],
                 now: Callable[[], float] = time.perf_counter):
        self._loop = loop
        self._now = now
        self._sampler = sampler
        self._on_sample = on_sample
        self._on_gone = on_gone
        # Invariant: _timer is armed iff _targets is non-empty (and the ticker is not closed).
        self._targets: dict[Any, Target] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, key: Any, pid: int, create_time: float | None, tags: dict[str, Any]) -> None:
        self._targets[key] = (pid, create_time, tags)
        if self._timer is None:
            self._timer = self._loop.call_later(SAMPLE_INTERVAL_S, self._tick)

    def remove(self, key: Any) -> None:
        self._targets.pop(key, None)
        if not self._targets and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def __contains__(self, key: object) -> bool:
        return key in self._targets

    @property
    def keys(self) -> frozenset[Any]:
        """The keys sampled now (the timer is armed exactly when this is not empty)."""
        return frozenset(self._targets)

    @property
    def armed(self) -> bool:
        return self._timer is not None

    def close(self) -> None:
        self._targets.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = None
        started = self._now()
        targets = list(self._targets.items())
        samples = self._sampler.sample_many([(pid, create_time) for _, (pid, create_time, _) in targets])
        for (key, (pid, create_time, tags)), sample in zip(targets, samples, strict=True):
            if sample is None:
                self._targets.pop(key, None)
                self._sampler.forget(pid, create_time)
                self._on_gone(key)
                continue
            sample.update(tags)
            try:
                self._on_sample(key, sample)
            except Exception:
                log.exception("stats listener failed")
        if self._targets:
            took = self._now() - started
            delay = max(SAMPLE_INTERVAL_S, took * (1 - MAX_SAMPLING_SHARE) / MAX_SAMPLING_SHARE)
            self._timer = self._loop.call_later(delay, self._tick)
