"""psutil sampling of a process and its children, in raw units.

A sample (``sample_process``) is::

    {"pid": os pid, "mem_info1": RSS bytes, "mem_info2": VMS bytes, "cpu": CPU percent
     (since the previous sample of the same process; 0.0 on the first), "mem": memory percent,
     "ctime": user + system CPU seconds, "username", "nice", "cmdline": executable basename,
     "create_time", "children": [the same dict for each child, recursively]}

A field psutil may not read (AccessDenied) is None. A process that vanishes mid-sample is
left out (a child) or gives None (the process itself); nothing here raises psutil errors.
``psutil.Process`` objects are cached per (pid, create time) so ``cpu_percent`` compares two
samples of the same process and a recycled pid never inherits another's history.

:class:`StatsWatcher` samples every 0.1 s only while it has listeners.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from honcho_uv.process import Process

__all__ = ["SAMPLE_INTERVAL_S", "StatsWatcher", "sample_process"]

log = logging.getLogger(__name__)
SAMPLE_INTERVAL_S = 0.1
_MAX_CACHE = 4096
_cache: dict[tuple[int, float], psutil.Process] = {}


def _handle(pid: int, create_time: float | None) -> psutil.Process | None:
    try:
        if create_time is None:
            create_time = psutil.Process(pid).create_time()
        key = (pid, create_time)
        proc = _cache.get(key)
        if proc is None:
            proc = psutil.Process(pid)
            if proc.create_time() != create_time:
                return None  # the pid now belongs to another process
            if len(_cache) >= _MAX_CACHE:
                _cache.clear()
                _last_cpu.clear()  # keyed by id() of cached objects, which die with the cache
            _cache[key] = proc
        return proc
    except psutil.Error:
        return None


def _read(proc: psutil.Process, depth: int = 0) -> dict[str, Any] | None:
    out: dict[str, Any] = {"pid": proc.pid}
    try:
        with proc.oneshot():
            out["create_time"] = _field(proc.create_time)
            mem = _field(proc.memory_info)
            out["mem_info1"] = mem.rss if mem else None
            out["mem_info2"] = mem.vms if mem else None
            out["cpu"] = _cpu_percent(proc)
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
        cached = _handle(child.pid, None)
        sample = _read(cached, depth + 1) if cached else None
        if sample is not None:
            out["children"].append(sample)
    return out


#: CPU time is counted in clock ticks (10 ms), so a percentage over a few milliseconds is
#: noise (272 % on two cores was seen under load). Samples closer than this reuse the last
#: value; every value is clamped to [0, 100 * CPUs].
MIN_CPU_INTERVAL_S = 0.1
_CPUS = psutil.cpu_count() or 1
_last_cpu: dict[int, tuple[float, float]] = {}  # id(psutil.Process) -> (monotonic time, percent)


def _cpu_percent(proc: psutil.Process) -> float | None:
    now = time.monotonic()
    last = _last_cpu.get(id(proc))
    if last is not None and now - last[0] < MIN_CPU_INTERVAL_S:
        return last[1]
    value = _field(proc.cpu_percent, None)
    if value is None:
        return None
    value = min(max(value, 0.0), 100.0 * _CPUS)
    if len(_last_cpu) >= _MAX_CACHE:
        _last_cpu.clear()
    _last_cpu[id(proc)] = (now, value)
    return value


def _field(getter: Callable[..., Any], *args: Any) -> Any:
    try:
        return getter(*args)
    except psutil.AccessDenied:
        return None


def sample_process(pid: int, create_time: float | None = None) -> dict[str, Any] | None:
    """One sample of *pid* (identity-checked against *create_time*); None if it is gone."""
    proc = _handle(pid, create_time)
    if proc is None:
        return None
    try:
        return _read(proc)
    except psutil.Error:
        return None


class StatsWatcher:
    """Samples one process every 0.1 s while at least one listener is subscribed.

    Listeners are called on the loop as ``listener("stat", msg)`` with a sample plus ``pid``
    (internal id), ``os_pid`` and ``name``. The timer stops when the last listener leaves or
    the process vanishes; a closed watcher ignores further use.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, process: Process):
        self._loop = loop
        self._process = process
        self._listeners: dict[Callable[..., Any], None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False

    def add(self, listener: Callable[..., Any]) -> None:
        if self.closed:
            return
        self._listeners[listener] = None
        if self._timer is None:
            self._timer = self._loop.call_later(SAMPLE_INTERVAL_S, self._tick)

    def remove(self, listener: Callable[..., Any]) -> None:
        self._listeners.pop(listener, None)
        if not self._listeners and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self.closed = True
        self._listeners.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = None
        process = self._process
        sample = sample_process(process.os_pid, process.create_time) if process.os_pid else None
        if sample is None:
            self.close()  # the process is gone: end quietly
            return
        sample.update({"os_pid": process.os_pid, "pid": process.id, "name": process.name})
        for listener in list(self._listeners):
            try:
                listener("stat", sample)
            except Exception:
                log.exception("stats listener %r failed", listener)
        if self._listeners and not self.closed:
            self._timer = self._loop.call_later(SAMPLE_INTERVAL_S, self._tick)
