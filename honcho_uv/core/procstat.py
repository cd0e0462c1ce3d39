"""Stats of many processes from one pass over ``/proc`` (Linux).

psutil reads several files per process and finds children by scanning the whole table once
per process: sampling 5,000 instances every 0.1 s that way is O(N^2) and many cores. Here a
pass lists ``/proc`` once, reads each ``/proc/PID/stat`` once, and every figure of a sample
(CPU time, RSS, VMS, nice, start time, parent) comes from that one line; children come from
the parents seen in the same pass. What does not change in a process's life (its user, its
executable's name) is read once per process and cached with its CPU history.

A :class:`ProcPass` is one such read; :class:`ProcSampler` turns passes into samples and
keeps the per-process history (an object its owner holds, never module state).
"""

from __future__ import annotations

import os
import pwd
import time
from typing import Any

from honcho_uv.core.procfs import stat_lines

__all__ = ["ProcPass", "ProcSampler", "available"]

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
MAX_DEPTH = 8  # children of children..., as deep as the psutil sampler went


def available() -> bool:
    """Whether this system has a Linux ``/proc`` to read."""
    return os.path.exists("/proc/self/stat")


class ProcPass:
    """One read of every ``/proc/PID/stat``: ``{pid: fields}`` and ``{ppid: [pids]}``.

    ``fields`` are the stat fields after the command name (state first; ppid at 1, utime 11,
    stime 12, nice 16, starttime 19, vsize 20, rss 21; nothing after rss is split off), and
    :meth:`name` the command name.
    """

    def __init__(self) -> None:
        self.stats: dict[int, list[bytes]] = {}
        self._lines: dict[int, bytes] = {}
        self.children: dict[int, list[int]] = {}
        self.taken = time.monotonic()
        for pid, line in stat_lines():
            fields = line[line.rfind(b")") + 2 :].split(None, 22)
            self.stats[pid] = fields
            self._lines[pid] = line
            self.children.setdefault(int(fields[1]), []).append(pid)

    def name(self, pid: int) -> str:
        """The kernel's name for *pid* (decoded only when asked: most passes never ask)."""
        line = self._lines.get(pid, b"()")
        return line[line.find(b"(") + 1 : line.rfind(b")")].decode(errors="replace")


class _History:
    """What a sample needs from earlier ones: CPU ticks at a time, and the constant fields."""

    __slots__ = ("cmdline", "cpu", "cpu_at", "ticks", "username")

    def __init__(self, username: str | None, cmdline: str):
        self.username, self.cmdline = username, cmdline
        self.ticks = -1
        self.cpu_at = 0.0
        self.cpu: float | None = None


class ProcSampler:
    """Samples from :class:`ProcPass` reads, in the format of :mod:`honcho_uv.core.stats`."""

    def __init__(self, *, boot_time: float, total_memory: int, min_cpu_interval: float, max_cpu: float):
        self.boot_time = boot_time  # psutil's, so create times match those psutil gives
        self.total_memory = total_memory
        self.min_cpu_interval = min_cpu_interval
        self.max_cpu = max_cpu
        self._history: dict[tuple[int, bytes], _History] = {}
        self._users: dict[int, str | None] = {}

    def sample_many(self, targets: list[tuple[int, float | None]]) -> list[dict[str, Any] | None]:
        """A sample for each ``(pid, create time)`` from one pass; None for a target that is
        gone or whose pid now belongs to another process (create times differ)."""
        table = ProcPass()
        out = [self._sample(table, pid, create_time, 0) for pid, create_time in targets]
        self._history = {key: h for key, h in self._history.items()
                         if key[0] in table.stats and table.stats[key[0]][19] == key[1]}
        return out

    def create_time(self, fields: list[bytes]) -> float:
        return self.boot_time + int(fields[19]) / _TICKS

    def _sample(self, table: ProcPass, pid: int, create_time: float | None, depth: int) -> dict[str, Any] | None:
        fields = table.stats.get(pid)
        if fields is None or fields[0] == b"Z":
            return None
        created = self.create_time(fields)
        if create_time is not None and abs(created - create_time) > 1.0 / _TICKS:
            return None  # a recycled pid
        history = self._history_of(pid, fields, table)
        ticks = int(fields[11]) + int(fields[12])
        rss = int(fields[21]) * _PAGE
        children = []
        if depth < MAX_DEPTH:
            for child in table.children.get(pid, ()):
                sample = self._sample(table, child, None, depth + 1)
                if sample is not None:
                    children.append(sample)
        return {
            "os_pid": pid, "create_time": created, "mem_info1": rss, "mem_info2": int(fields[20]),
            "cpu": self._cpu(history, ticks, created, table.taken),
            "mem": round(100.0 * rss / self.total_memory, 1), "ctime": round(ticks / _TICKS, 2),
            "username": history.username, "nice": int(fields[16]), "cmdline": history.cmdline,
            "children": children,
        }

    def _history_of(self, pid: int, fields: list[bytes], table: ProcPass) -> _History:
        key = (pid, fields[19])
        history = self._history.get(key)
        if history is None:
            history = self._history[key] = _History(self._user(pid), self._command(pid, table))
        return history

    def _cpu(self, history: _History, ticks: int, created: float, now: float) -> float:
        """Percent of one CPU since the previous sample; on the first, since the start."""
        if history.ticks < 0:
            wall = time.time() - created
            value = 100.0 * ticks / _TICKS / wall if wall > 0 else 0.0
        elif now - history.cpu_at < self.min_cpu_interval and history.cpu is not None:
            return history.cpu  # ticks are 10 ms: a shorter interval is noise
        else:
            value = 100.0 * (ticks - history.ticks) / _TICKS / (now - history.cpu_at)
        history.ticks, history.cpu_at = ticks, now
        history.cpu = round(min(max(value, 0.0), self.max_cpu), 1)
        return history.cpu

    def _user(self, pid: int) -> str | None:
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            return None
        if uid not in self._users:
            try:
                self._users[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                self._users[uid] = str(uid)
        return self._users[uid]

    @staticmethod
    def _command(pid: int, table: ProcPass) -> str:
        """The executable's base name (argv[0]), or the kernel's name for the process."""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0", 1)[0]
        except OSError:
            argv0 = b""
        return os.path.basename(argv0.decode(errors="replace")) if argv0 else table.name(pid)
