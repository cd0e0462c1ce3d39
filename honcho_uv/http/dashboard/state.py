"""What the dashboard shows, computed once for every open page: the process table, the CPU
and memory history of each instance, and the recent events.

Guarantees:

* one sampling timer per dashboard, every :data:`TICK_S` seconds from start (so a page opened
  later still sees the last minutes), however many pages are open: a page costs a send,
  not a scan of ``/proc``;
* the history is bounded: :data:`HISTORY_POINTS` points per instance name (5 minutes), and
  the names of instances that are gone are forgotten at the next tick;
* the rows are those of ``hu ps --json`` (same fields, same order), plus ``type``;
* events are kept as the console's system lines (:func:`describe_event`), the last
  :data:`EVENTS_KEPT`, and handed to every page as they happen;
* after an action, :meth:`Hub.poke` refreshes the table at once (at most every
  :data:`MIN_REFRESH_S` s), so a click shows its effect without waiting for the next tick.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Any

from honcho_uv.console.messages import describe_event
from honcho_uv.http.wire import describe_template

__all__ = ["EVENTS_KEPT", "HISTORY_POINTS", "TICK_S", "Hub", "rows_of"]

log = logging.getLogger(__name__)

TICK_S = 1.0
HISTORY_POINTS = 300
EVENTS_KEPT = 200
MIN_REFRESH_S = 0.2
#: Events worth a warning colour on the page.
BAD_EVENTS = frozenset({"fatal", "backoff", "unhealthy", "spawn_error", "not_ready", "dependency_failed", "escalate"})

Listener = Callable[[dict[str, Any]], None]


class Hub:
    """Samples *manager* every :data:`TICK_S` seconds and tells its listeners (the open pages)."""

    def __init__(self, manager: Any, *, tick_s: float = TICK_S):
        self.manager = manager
        self.tick_s = tick_s
        # Invariant: each deque holds at most HISTORY_POINTS [time, cpu, mem] points, oldest first.
        self.history: dict[str, collections.deque[list[Any]]] = {}
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=EVENTS_KEPT)
        self.rows: list[dict[str, Any]] = []
        self.types: list[dict[str, Any]] = []
        self.listeners: dict[Listener, None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._soon: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.manager.subscribe(".", self._on_event)
        self._timer = loop.call_later(0, self._tick)

    def stop(self) -> None:
        for timer in (self._timer, self._soon):
            if timer is not None:
                timer.cancel()
        self._timer = self._soon = None
        self.manager.unsubscribe(".", self._on_event)
        self.listeners.clear()

    def snapshot(self) -> dict[str, Any]:
        """The ``state`` message: the table as of the last tick."""
        return {"type": "state", "time": self._last, "rows": self.rows, "types": self.types}

    def welcome(self) -> dict[str, Any]:
        """The first message a page gets: the history of every instance and the recent events."""
        return {"type": "hello", "tick": self.tick_s, "points": HISTORY_POINTS,
                "history": {name: list(points) for name, points in self.history.items()},
                "events": list(self.events)}

    def poke(self) -> None:
        """Refresh the table soon (an action changed it)."""
        if self._loop is None or self._soon is not None:
            return
        delay = max(0.0, self._last + MIN_REFRESH_S - time.monotonic())
        self._soon = self._loop.call_later(delay, self._refresh)

    # -- sampling ---------------------------------------------------------------------------

    def _tick(self) -> None:
        assert self._loop is not None, "start() first"
        self._timer = self._loop.call_later(self.tick_s, self._tick)
        try:
            self._sample(record=True)
        except Exception:  # a bug here must not end the timer: the next tick tries again
            log.exception("dashboard: sampling failed")

    def _refresh(self) -> None:
        self._soon = None
        self._sample(record=False)

    def table(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The rows and the types as of now (one stats pass; nothing recorded or sent)."""
        manager = self.manager
        jobs = [describe_template(manager, sup) for sup in manager.jobs()]
        stats = {s["pid"]: s for t in manager.processes_stats() for s in t["stats"]}
        types = [{"name": job["name"], "state": job["state"], "wanted": job.get("numprocesses", 0),
                  "running": len([i for i in job["instances"] if i["state"] == "RUNNING"])} for job in jobs]
        return rows_of(jobs, stats), types

    def _sample(self, *, record: bool) -> None:
        if self.manager.stopping and not self.manager.processes:
            return
        self.rows, self.types = self.table()
        self._last = time.monotonic()
        now = time.time()
        if record:
            seen = set()
            for row in self.rows:
                if row["id"] is None:
                    continue
                seen.add(row["name"])
                points = self.history.get(row["name"])
                if points is None:
                    points = self.history[row["name"]] = collections.deque(maxlen=HISTORY_POINTS)
                points.append([round(now, 1), row["cpu"], row["mem"]])
            for gone in self.history.keys() - seen:
                del self.history[gone]
        message = self.snapshot()
        message["sampled"] = record
        for listener in list(self.listeners):
            listener(message)

    def _on_event(self, event: str, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        text = describe_event(event, msg)
        if not text:
            return
        item = {"type": "event", "time": time.time(), "event": event, "text": text,
                "name": msg.get("instance") or msg.get("name"),
                "bad": event in BAD_EVENTS or (event == "exit" and not msg.get("requested"))}
        self.events.append(item)
        for listener in list(self.listeners):
            listener(item)
        if event in ("spawn", "exit", "ready", "fatal", "backoff"):
            self.poke()


def rows_of(jobs: list[dict[str, Any]], stats: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of ``hu ps --json`` (cli/tables.py ``ps_rows``) from the API's views, with the
    type of each row added: one per instance, or one for a type without instances."""
    rows = []
    for job in jobs:
        if not job["instances"]:
            rows.append({"name": job["name"], "state": job["state"], "ready": job.get("ready"), "id": None,
                         "os_pid": None, "uptime": None, "restarts": job["restarts"], "cpu": None, "mem": None,
                         "type": job["name"]})
        for inst in job["instances"]:
            sample = stats.get(inst["id"], {})
            rows.append({"name": inst["name"], "state": inst["state"], "ready": inst.get("ready"), "id": inst["id"],
                         "os_pid": inst["os_pid"], "uptime": inst["uptime"], "restarts": job["restarts"],
                         "cpu": sample.get("cpu"), "mem": sample.get("mem_info1"), "type": job["name"]})
    return rows
