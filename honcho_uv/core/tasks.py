"""TaskOwner: every task the Manager starts is owned by one ``asyncio.TaskGroup`` and awaited.

Design note. The Manager's API is gaffer's: synchronous calls that schedule work and return
the ``asyncio.Task`` doing it, callable before the loop runs (``m.start(); m.add_process(...);
m.run()``). A TaskGroup can only be entered from a running task, so the owner runs the group
in a task of its own (:meth:`run`, the Manager's lifetime) and each call of :meth:`own`:

1. creates the work as a plain task and returns it (the caller may await it and see its
   result or exception; an exception nobody awaits is logged once, when the task ends);
2. has the group await it: a group child that waits for that task, never raising, so one
   failing task neither cancels its siblings nor goes unnoticed. Tasks made before the group
   was entered are adopted the same way as soon as it is.

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
        # Invariant: before run() entered its group, _early holds the tasks to adopt; after,
        # _group is that group until it has finished (then _finished is True).
        self._group: asyncio.TaskGroup | None = None
        self._early: list[asyncio.Task[Any]] = []
        self._finished = False
        self.live = 0

    @property
    def finished(self) -> bool:
        """The group has finished: no task can be owned any more."""
        return self._finished

    def own(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run *coro* as a task owned by the group; returns the task.

        Raises:
            StateError: the owner has finished (the Manager is stopped).
        """
        if self._finished:
            coro.close()
            raise StateError("the manager is stopped")
        task = self._loop.create_task(coro)
        self.live += 1
        task.add_done_callback(self._done)
        if self._group is not None:
            self._group.create_task(_settle(task))
        else:
            self._early.append(task)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.live -= 1
        if not task.cancelled() and task.exception() is not None:
            log.error("manager task failed", exc_info=task.exception())
        self._on_task_done()

    async def run(self, body: Callable[[], Awaitable[None]]) -> None:
        """Enter the group, run *body* in it, then wait for every owned task to finish."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                early, self._early = self._early, []
                for task in early:
                    group.create_task(_settle(task))
                await body()
        finally:
            self._finished = True
            self._group = None


async def _settle(task: asyncio.Task[Any]) -> None:
    """Wait for *task* to end, however it ends (its owner logs a failure)."""
    await asyncio.wait([task])
