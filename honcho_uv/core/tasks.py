"""TaskOwner: every task the Manager starts is owned, and awaited before the Manager stops.

Design note. The Manager's API is gaffer's: synchronous calls that schedule work and return
the ``asyncio.Task`` doing it, callable before the loop runs (``m.start(); m.add_process(...);
m.run()``). A TaskGroup can only be entered from a running task, so the owner runs its group
in a task of its own (:meth:`run`, the Manager's lifetime), and :meth:`own`:

1. creates the work as a plain task and returns it (the caller may await it and see its
   result or exception; an exception nobody awaits is logged once, when the task ends);
2. holds a strong reference to it until it ends (the loop holds only weak ones).

When the lifetime body ends, :meth:`run`, still inside its group, awaits every owned task,
again and again until none is left (a task may own others while it ends): one wait for all
of them, not a waiter per task (5,000 instances each had a second task only to be awaited).
One failing task neither cancels its siblings nor goes unnoticed.

:meth:`run` returns only after the lifetime body ended **and** every owned task finished:
nothing the Manager started outlives its stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from honcho_uv.errors import StateError

__all__ = ["TaskOwner"]

log = logging.getLogger("honcho_uv.manager")


class TaskOwner:
    """Owns tasks (see the module docstring). ``live`` counts owned tasks not yet done."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_task_done: Callable[[], None]):
        self._loop = loop
        self._on_task_done = on_task_done
        # Invariant: _tasks holds every owned task not yet done (live == len(_tasks)); after
        # run() ended, _finished is True and nothing more can be owned.
        self._tasks: set[asyncio.Task[Any]] = set()
        self._finished = False

    @property
    def live(self) -> int:
        return len(self._tasks)

    @property
    def finished(self) -> bool:
        """The owner has finished: no task can be owned any more."""
        return self._finished

    def own(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run *coro* as an owned task; returns the task.

        Raises:
            StateError: the owner has finished (the Manager is stopped).
        """
        if self._finished:
            coro.close()
            raise StateError("the manager is stopped")
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("manager task failed", exc_info=task.exception())
        self._on_task_done()

    async def run(self, body: Callable[[], Awaitable[None]]) -> None:
        """Run *body*, then wait for every owned task to finish (see the module docstring)."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._lifetime(body))
        finally:
            self._finished = True

    async def _lifetime(self, body: Callable[[], Awaitable[None]]) -> None:
        await body()
        while self._tasks:
            await asyncio.wait(list(self._tasks))
