"""Watching one instance: until its ready probe passes, then (with a health probe) its health.

One :class:`InstanceWatch` per instance whose template has a ``ready`` or ``health`` probe,
run as a task the Manager owns. It ends when the instance exits (every wait races the exit),
when readiness fails, or after reporting the instance unhealthy. Its guarantees
(DESIGN.md "Probes", "Health"):

* polled probes (tcp, http, exec) retry every 100 ms, backing off to 1 s, until they pass or
  ``ready_timeout`` ends; ``log:`` and ``notify`` are pure waits (no polling);
* once ready there is no periodic work at all, unless a health probe is set: it runs every
  ``health_interval`` seconds, and ``health_failures`` failures in a row report the instance
  unhealthy (the Supervisor restarts it); health checks start only once it is ready.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from honcho_uv.core.framing import LineFramer
from honcho_uv.core.notify import NotifySocket
from honcho_uv.core.probes import ProbeError, check
from honcho_uv.models.probes import Probe

if TYPE_CHECKING:
    from honcho_uv.core.context import SupervisorContext
    from honcho_uv.core.process import Process
    from honcho_uv.core.reaper import Reaper
    from honcho_uv.core.spawn import Spawner

__all__ = ["RETRY_FIRST_S", "RETRY_MAX_S", "InstanceWatch", "ready_after", "watch_instance"]

RETRY_FIRST_S = 0.1
RETRY_MAX_S = 1.0


class InstanceWatch:
    """Readiness, then health, of one instance (see the module docstring).

    Callbacks run on the loop: ``on_ready()`` once the probe passed; ``on_not_ready(reason)``
    if it cannot pass (timeout, or a probe that cannot apply); ``on_unhealthy(message)`` after
    ``health_failures`` failed health checks in a row.
    """

    def __init__(self, process: Process, *, spawner: Spawner, reaper: Reaper | None,
                 notify: NotifySocket | None, on_ready: Callable[[], None],
                 on_not_ready: Callable[[str], None], on_unhealthy: Callable[[str], None]):
        self.process = process
        self._spawner = spawner
        self._reaper = reaper
        self._notify = notify
        self._on_ready = on_ready
        self._on_not_ready = on_not_ready
        self._on_unhealthy = on_unhealthy

    def close(self) -> None:
        """Release what the watch holds without running it (the spawn failed)."""
        if self._notify is not None:
            self._notify.close()

    async def run(self) -> None:
        template = self.process.template
        exited = asyncio.ensure_future(self.process.wait_exit())
        try:
            if template.ready is not None:
                try:
                    passed = await self._race(self._until_ready(template.ready), exited, template.ready_timeout)
                except ProbeError as exc:
                    self._on_not_ready(str(exc))
                    return
                if exited.done():
                    return  # exited before it was ready: the Supervisor reports that exit
                if not passed:
                    self._on_not_ready(f"not ready within {template.ready_timeout:g}s ({template.ready})")
                    return
                self._on_ready()
            if template.health is not None:
                await self._race(self._health(template.health), exited, None)
        finally:
            exited.cancel()
            if self._notify is not None:
                self._notify.close()

    @staticmethod
    async def _race(work: Any, exited: asyncio.Future[Any], timeout: float | None) -> bool:
        """Run *work* until it returns, the instance exits, or *timeout*: what it returned,
        else False. An exception of *work* (a ProbeError) is raised here."""
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait([task, exited], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        return bool(task.result()) if task in done else False

    async def _until_ready(self, probe: Probe) -> bool:
        if probe.kind == "started":
            return True
        if probe.kind == "alive":
            await asyncio.sleep(probe.seconds or 0.0)
            return True
        if probe.kind == "log":
            return await self._log(probe)
        if probe.kind == "notify":
            assert self._notify is not None, "a notify probe has its socket"
            await self._notify.ready
            return True
        delay = RETRY_FIRST_S
        while not await check(probe, self.process, spawner=self._spawner, reaper=self._reaper):
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        return True

    async def _log(self, probe: Probe) -> bool:
        assert probe.pattern is not None, "a log probe has a pattern"
        pattern = re.compile(probe.pattern.encode())
        found: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        framer = LineFramer(max_line=64 << 10)

        def on_output(label: str, msg: dict[str, Any]) -> None:
            lines = framer.feed(label, msg["data"])
            if not found.done() and lines and any(pattern.search(line) for line in lines.split(b"\n")):
                found.set_result(True)

        self.process.monitor_io(".", on_output)
        try:
            return await found
        finally:
            self.process.unmonitor_io(".", on_output)

    async def _health(self, probe: Probe) -> bool:
        template = self.process.template
        failures = 0
        while True:
            await asyncio.sleep(template.health_interval)
            try:
                healthy = await check(probe, self.process, spawner=self._spawner, reaper=self._reaper)
            except ProbeError:
                healthy = False
            failures = 0 if healthy else failures + 1
            if failures >= template.health_failures:
                self._on_unhealthy(f"{probe} failed {failures} times: restarting")
                return False


def watch_instance(ctx: SupervisorContext, process: Process, on_ready: Callable[[Process], None],
                   on_not_ready: Callable[[Process, str], None],
                   on_unhealthy: Callable[[Process, str], None]) -> InstanceWatch:
    """An :class:`InstanceWatch` for *process*, made before its spawn: a ``notify`` probe's
    socket must exist then, since ``$NOTIFY_SOCKET`` is in the child's environment."""
    notify = None
    if process.template.ready is not None and process.template.ready.kind == "notify":
        notify = NotifySocket.for_instance(ctx.loop, process.id, process.template.uid)
        process.env["NOTIFY_SOCKET"] = notify.address
    return InstanceWatch(process, spawner=ctx.spawner, reaper=ctx.reaper, notify=notify,
                         on_ready=lambda: on_ready(process), on_not_ready=lambda why: on_not_ready(process, why),
                         on_unhealthy=lambda why: on_unhealthy(process, why))


async def ready_after(process: Process, seconds: float, on_ready: Callable[[Process], None]) -> None:
    """The ``N`` probe: *process* is ready once it has been alive *seconds*."""
    exited = asyncio.ensure_future(process.wait_exit())
    try:
        done, _ = await asyncio.wait([exited], timeout=seconds)
    finally:
        exited.cancel()
    if not done:
        on_ready(process)
