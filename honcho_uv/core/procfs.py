"""Reading the process table: who is whose child, group and session, and process identities.

A stop must reach every process a child started, including those that left its process
group (setsid, double fork), so it needs the process table. One read of ``/proc`` costs
about 1 ms per 100 processes, so it is taken once per *stop wave* and shared: a
:class:`ProcessTable` (an object its owner holds, never a module global, so two Managers in
one interpreter do not share state) hands out a :class:`TableView` that is reused while it is
younger than ``max_age``, and a view builds each index once, so the snapshots of N stopping
processes cost one read and O(N + members) work, not N reads and N^2 work.

Snapshot members are ``psutil.Process`` objects bound to their create time, whose
``send_signal`` checks pid + create time, so a recycled pid is never signalled
(reliability-anchors.md §6.6, Cacti #7425).
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Iterable, Iterator
from functools import cached_property

import psutil

__all__ = ["ProcessTable", "TableView", "create_time", "handles", "listening_inodes", "owns_socket", "stat_lines"]

#: A view younger than this is reused (a stop wave of many processes reads /proc once).
TABLE_MAX_AGE_S = 0.05


_TICKS = os.sysconf("SC_CLK_TCK")


@functools.cache
def _boot_time() -> float:
    return float(psutil.boot_time())  # read once, as psutil itself does for create times


def create_time(pid: int) -> float | None:
    """The create time of *pid* (psutil's identity stamp: boot time + start ticks, computed as
    psutil does), or None if it is gone. One read of ``/proc/PID/stat``, no psutil object: it
    is read for every instance hu starts (the state file)."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        with contextlib.suppress(psutil.Error):  # no /proc: psutil's way
            return float(psutil.Process(pid).create_time())
        return None
    try:
        line = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    fields = line[line.rfind(b")") + 2 :].split(None, 20)
    return _boot_time() + int(fields[19]) / _TICKS


class TableView:
    """One read of the process table: ``{pid: (ppid, pgid, sid)}`` with lazily built indexes."""

    def __init__(self, entries: dict[int, tuple[int, int, int]], taken: float):
        self.entries = entries
        self.taken = taken

    @cached_property
    def _children(self) -> dict[int, list[int]]:
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in self.entries.items():
            children.setdefault(ppid, []).append(pid)
        return children

    @cached_property
    def _groups(self) -> dict[int, set[int]]:
        """pgid or sid -> the pids in that group or session."""
        groups: dict[int, set[int]] = {}
        for pid, (_, pgid, sid) in self.entries.items():
            groups.setdefault(pgid, set()).add(pid)
            if sid != pgid:
                groups.setdefault(sid, set()).add(pid)
        return groups

    def tree_pids(self, leader: int) -> set[int]:
        """The leader's descendants plus the members of its group and session, leader excluded."""
        members: set[int] = set()
        todo = list(self._children.get(leader, ()))
        while todo:
            pid = todo.pop()
            if pid not in members:
                members.add(pid)
                todo.extend(self._children.get(pid, ()))
        # Members that left the tree by ppid (adopted by us or init) but kept the session/group.
        members.update(self._groups.get(leader, ()))
        members.discard(leader)
        return members

    def children_of(self, pid: int) -> list[int]:
        return list(self._children.get(pid, ()))


class ProcessTable:
    """The process table of this host, read at most once per ``max_age`` seconds.

    ``reads`` counts the reads of ``/proc`` (the 5,000-process test counts them per stop wave).
    """

    def __init__(self, max_age: float = TABLE_MAX_AGE_S):
        self.max_age = max_age
        self.reads = 0
        self._view: TableView | None = None
        # While a stop wave runs (:meth:`pinned`), every non-fresh view is this one, however old.
        self._pinned: TableView | None = None

    def view(self, fresh: bool = False) -> TableView:
        """A view of the table: the pinned one during a stop wave, else the current one if
        younger than ``max_age``; *fresh* always reads the table again."""
        if not fresh and self._pinned is not None:
            return self._pinned
        now = time.monotonic()
        if not fresh and self._view is not None and now - self._view.taken < self.max_age:
            return self._view
        self.reads += 1
        self._view = TableView(_read_table(), now)
        return self._view

    @contextlib.contextmanager
    def pinned(self) -> Iterator[TableView]:
        """One read of the table for a whole stop wave: the snapshots of the N processes it
        stops all come from it, so the wave costs one pass over ``/proc`` however long it takes
        to signal them all (an age limit would read the table again every ``max_age``)."""
        outer = self._pinned
        self._pinned = outer or self.view(fresh=True)
        try:
            yield self._pinned
        finally:
            self._pinned = outer

    def snapshot(self, leader: int, fresh: bool = False) -> list[psutil.Process]:
        """The leader's tree (:meth:`TableView.tree_pids`) as identity-bound ``psutil.Process``
        objects. Never raises: processes that vanish or deny access while we look are skipped."""
        return handles(self.view(fresh).tree_pids(leader))

    def split_snapshot(self, leader: int) -> tuple[list[psutil.Process], list[psutil.Process]]:
        """:meth:`snapshot`, and the part of it outside the leader's process group."""
        view = self.view()
        members = handles(view.tree_pids(leader))
        return members, [p for p in members if view.entries.get(p.pid, (0, 0, 0))[1] != leader]

    def adopted_orphans(self, exclude_sessions: Iterable[int] = ()) -> list[psutil.Process]:
        """Our children (and their descendants) that we did not start: orphans re-parented to us
        as subreaper. Children in our own session, or in *exclude_sessions*, are not included.
        Zombies are left out (the reaper takes them)."""
        view = self.view(fresh=True)
        found = []
        for root in self.adopted_pids(view, exclude_sessions):
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(root)
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                found.append(proc)
                found.extend(handles(view.tree_pids(root)))
        return found

    @staticmethod
    def adopted_pids(view: TableView, exclude_sessions: Iterable[int] = ()) -> list[int]:
        """Pids of our children outside our own session and *exclude_sessions*."""
        me = os.getpid()
        excluded = {*exclude_sessions, os.getsid(0)}
        return [pid for pid in view.children_of(me) if view.entries[pid][2] not in excluded]


def handles(pids: Iterable[int]) -> list[psutil.Process]:
    """``psutil.Process`` objects for *pids* (each bound to its create time); vanished ones skipped."""
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            found.append(psutil.Process(pid))
    return found


def _read_table() -> dict[int, tuple[int, int, int]]:
    table: dict[int, tuple[int, int, int]] = {}
    if not os.path.isdir("/proc/self"):
        for proc in psutil.process_iter(["ppid"]):
            with contextlib.suppress(OSError, psutil.Error):
                table[proc.pid] = (proc.info["ppid"], os.getpgid(proc.pid), os.getsid(proc.pid))
        return table
    for pid, stat in stat_lines():
        # Fields after the command (which may hold spaces and parentheses): state ppid pgrp session
        fields = stat[stat.rfind(b")") + 2 :].split(None, 4)
        table[pid] = (int(fields[1]), int(fields[2]), int(fields[3]))
    return table


def stat_lines() -> Iterator[tuple[int, bytes]]:
    """``(pid, /proc/PID/stat)`` for every process, one read each (Linux); vanished ones skipped.

    Raw ``os.open``/``os.read`` relative to an fd of ``/proc``: a third cheaper than ``open()``,
    which builds a buffered file object per process (5,000 of them every stats round).
    """
    proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for entry in os.listdir(proc):
            if not entry.isdigit():
                continue
            try:
                fd = os.open(f"{entry}/stat", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)
            except OSError:
                continue  # exited since the listing
            try:
                line = os.read(fd, 4096)  # one line, well under a page
            except OSError:
                continue
            finally:
                os.close(fd)
            yield int(entry), line
    finally:
        os.close(proc)


def listening_inodes(port: int) -> set[int]:
    """Socket inodes of the TCP listeners on *port* (IPv4 and IPv6), from /proc/net."""
    inodes: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, "rb") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; inode is field 9
            if len(fields) > 9 and fields[3] == b"0A" and int(fields[1].rsplit(b":", 1)[1], 16) == port:
                inodes.add(int(fields[9]))
    return inodes


def owns_socket(pids: Iterable[int], inodes: set[int]) -> bool:
    """Whether one of *pids* holds a file descriptor on one of the socket *inodes*."""
    if not inodes:
        return False
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    return True
    return False
