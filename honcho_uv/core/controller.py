"""The Controller: a run's lifecycle, the templates' Supervisors, the control verbs, lookups.

Design note. The API is gaffer 0.4's (gaffer-spec.md §1.3): plain synchronous methods that
validate at once, schedule their work on the loop and return the ``asyncio.Task`` doing it.
What gaffer got wrong is fixed: restarts are decided by the Supervisor where the exit is
handled, never by an event subscriber; exits hu asked for never reach the restart policy or
the ``exit_policy``; every task belongs to one ``asyncio.TaskGroup`` (:mod:`.runtime`) and a
stop returns only after all of them have finished; the clock and the spawner are injected.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from honcho_uv.core.bus import OutputBus
from honcho_uv.core.clock import Clock, as_clock
from honcho_uv.core.context import SpawnTracker
from honcho_uv.core.events import EventEmitter, on_loop_thread
from honcho_uv.core.hooks import ExitPolicy
from honcho_uv.core.process import Process
from honcho_uv.core.procfs import ProcessTable
from honcho_uv.core.runtime import Runtime
from honcho_uv.core.spawn import Spawner, default_spawner
from honcho_uv.core.supervisor import Supervisor
from honcho_uv.core.terminal import Window
from honcho_uv.errors import StateError, UnknownProcess
from honcho_uv.models import ExitStatus, ProcessTemplate, parse_signal, split_instance_name

__all__ = ["Controller"]

log = logging.getLogger(__name__)


class Controller:
    """Runs process templates on an asyncio loop: lifecycle, templates, control verbs, lookups.

    :class:`Manager` adds the observation API (output, stats, events) and gaffer's aliases;
    embedders use :class:`Manager`.

    Args:
        loop: the loop to use; default: the running loop, else a new one.
        clock: a monotonic clock for decisions and timers: a ``() -> float`` (timers then run
            on the loop) or a :class:`~honcho_uv.core.clock.Clock` (tests inject a fake).
        exit_policy: see :class:`ExitPolicy`.
        subreaper: on Linux, adopt orphaned descendants, reap them, and kill them at stop.
        spawner: how children are started (default: :func:`~honcho_uv.core.spawn.default_spawner`).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, *,
                 clock: Clock | Callable[[], float] = time.monotonic, exit_policy: ExitPolicy | None = None,
                 subreaper: bool = True, spawner: Spawner | None = None):
        self.loop = loop
        self.exit_policy = exit_policy
        #: Told when a template can never run in this start (a dependency failed): (name, why).
        self.on_failure: Callable[[str, str], None] | None = None
        self.events = EventEmitter(loop)
        self.bus = OutputBus()
        self.table = ProcessTable()
        self.window = Window()  # the terminal size of tty children (Manager.resize_terminals)
        self.running: dict[int, Process] = {}  # internal id -> live (or exiting) Process
        self.apps: list[Any] = []
        self.started = False
        self._clock = clock
        self._spawner = spawner or default_spawner()
        self._subreaper = subreaper
        self._supervisors: dict[str, Supervisor] = {}  # in insertion order: the start order
        self._ids = itertools.count(1)  # internal ids: from 1, never reused
        self._spawns = SpawnTracker()
        self._idle_callbacks: list[Callable[[], None]] = []  # asked for before start()
        # Invariant: _run is the current run while started, the last one after (None before).
        self._run: Runtime | None = None
        self._owns_loop = False  # start() created the loop: run() closes it at the end

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, applications: Iterable[Any] = (), apps: Iterable[Any] | None = None) -> None:
        """Bind the loop and start *applications* in list order (gaffer's ``apps=`` also works)."""
        if self.started:
            raise StateError("manager already started")
        loop = self.loop
        if loop is None or loop.is_closed():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = asyncio.new_event_loop()
                self._owns_loop = True
        self.loop = loop
        self.events.bind(loop)
        self.bus.bind(loop)
        self.clock = as_clock(self._clock, loop)
        run = self._run = Runtime(
            loop, clock=self.clock, spawner=self._spawner, bus=self.bus, table=self.table,
            subreaper=self._subreaper, running=self.running, supervisors=self._supervisors,
            apps=self.apps, publish=self._publish, report_exit=self._report_exit,
            report_failure=self._report_failure, next_id=lambda: next(self._ids), spawns=self._spawns,
            on_finished=self._finished, window=self.window,
        )
        for sup in self._supervisors.values():
            sup.ctx = run.ctx
        self.started = True
        self.apps[:] = list(apps if apps is not None else applications)
        for app in self.apps:
            app.start(loop, self)
        callbacks, self._idle_callbacks = self._idle_callbacks, []
        for callback in callbacks:
            run.on_idle(callback)
        for sup in self._supervisors.values():
            if not sup.stopped:
                sup.manage()

    def _finished(self) -> None:
        self.bus.close()
        self.started = False

    @property
    def stopping(self) -> bool:
        """A stop has begun (and the Manager has not been started again since)."""
        return self._run is not None and self._run.stopping

    def add_application(self, app: Any) -> None:
        """Start *app* now on a running Manager; it is stopped first (reverse order) at stop.

        Raises:
            StateError: the Manager is not running (not started, or stopping).
        """
        if not self.started or self.stopping or self.loop is None:
            raise StateError("the manager is not running")
        app.start(self.loop, self)
        self.apps.append(app)

    def run(self) -> None:
        """Run the loop until :meth:`stop` has finished. Ctrl-C (KeyboardInterrupt) stops.

        A loop that :meth:`start` created is closed before returning.

        Raises:
            RuntimeError: the Manager was not started.
        """
        if not self.started or self.loop is None or self._run is None:
            raise RuntimeError("call start() before run()")
        while not self._run.stopped.done():
            try:
                self.loop.run_until_complete(self._run.stopped)
            except KeyboardInterrupt:
                self.stop()
        if self._owns_loop:
            # A loop the Manager made is closed here (left open it warns when collected); a loop
            # the caller passed in is theirs. A later start() makes a new one.
            loop, self._owns_loop = self.loop, False
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    def stop(self, callback: Callable[[Any], Any] | None = None) -> None:
        """Stop every process (in parallel), then the applications in reverse order.

        Safe from any thread. *callback(manager)* runs on the loop when everything has exited.
        """
        done = None if callback is None else (lambda: callback(self))
        if self._run is not None:
            self._on_loop(self._run.request_stop, done)

    def restart(self, callback: Callable[[Controller], Any] | None = None) -> None:
        """Restart the applications, then every running template's instances. Thread-safe."""
        self._on_loop(self._begin_restart, callback)

    def _on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self.loop
        if loop is None or not self.started:
            return
        if on_loop_thread(loop):
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    async def __aenter__(self) -> Controller:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
        await self.wait_stopped()

    async def wait_stopped(self) -> None:
        """Wait until :meth:`stop` has completed."""
        if self._run is not None:
            await asyncio.shield(self._run.stopped)

    async def wait_spawned(self) -> None:
        """Return once no spawn is in flight: every process asked for so far (by a start, a
        scale or a restart, including those whose tasks have not begun yet) has started or
        failed to. Retries scheduled for later are not waited for."""
        await self._spawns.wait()

    def _begin_restart(self, callback: Callable[[Controller], Any] | None) -> None:
        for app in self.apps:
            try:
                app.restart()
            except Exception:
                log.exception("application %r failed to restart", app)
        tasks = [sup.restart() for sup in self._supervisors.values() if not sup.stopped]

        async def finish() -> None:
            await asyncio.gather(*tasks, return_exceptions=True)
            if callback is not None:
                callback(self)

        self._own(finish())

    def kill_all(self) -> None:
        """SIGKILL every process group and stop-time snapshot now (the second Ctrl-C)."""
        for process in list(self.running.values()):
            process.kill()

    def own_task(self, coro: Any) -> asyncio.Task[Any]:
        """Run *coro* as a task this Manager owns: a stop waits for it (for applications).

        Raises:
            StateError: the Manager is not started.
        """
        return self._own(coro)

    def _own(self, coro: Any) -> asyncio.Task[Any]:
        if self._run is None:
            coro.close()
            raise StateError("the manager is not started")
        return self._run.owner.own(coro)

    @property
    def idle(self) -> bool:
        """Nothing is running, spawning, stopping or waiting for a retry."""
        return self._run.idle if self._run is not None else not self.running

    def on_idle(self, callback: Callable[[], None]) -> None:
        """Call *callback* (once) the next time the Manager becomes idle."""
        if self._run is not None and self.started:
            self._run.on_idle(callback)
        else:
            self._idle_callbacks.append(callback)

    def _report_failure(self, name: str, reason: str) -> None:
        if self.on_failure is not None:
            try:
                self.on_failure(name, reason)
            except Exception:
                log.exception("failure hook failed")

    def _report_exit(self, process: Process, status: ExitStatus, outcome: str) -> None:
        if self.exit_policy is not None:
            try:
                self.exit_policy(process, status, outcome)
            except Exception:
                log.exception("exit policy failed")

    # -- templates ------------------------------------------------------------------------

    def add_process(self, name: str, cmd: str, **settings: Any) -> asyncio.Task[Any] | None:
        """Add a template from keyword settings (see :class:`ProcessTemplate`); start it unless
        ``start=False``.

        Raises:
            InvalidOption: a bad setting (the message names it).
            StateError: a template of that name exists.
        """
        start = settings.pop("start", True)
        return self.add_template(ProcessTemplate(name=name, cmd=cmd, **settings), start=start)

    def add_template(self, template: ProcessTemplate, start: bool = True) -> asyncio.Task[Any] | None:
        """Add *template*; start its instances unless *start* is false."""
        if template.name in self._supervisors:
            raise StateError(f"a process named {template.name!r} already exists")
        self._supervisors[template.name] = Supervisor(template, None if self._run is None else self._run.ctx)
        self._publish("create", template.name)
        return self.start_process(template.name) if start else None

    def update_process(self, name: str, cmd: str | None = None, **settings: Any) -> asyncio.Task[Any] | None:
        """Replace the template's settings and restart its running instances with them."""
        sup = self.supervisor(name)
        settings.pop("start", None)
        if cmd is not None:
            settings["cmd"] = cmd
        return sup.update(sup.template.replace(**settings))

    def remove_process(self, name: str) -> asyncio.Task[Any]:
        """Stop every instance of *name* and forget the template (a pending retry is cancelled)."""
        sup = self.supervisor(name)
        stopping = sup.stop()

        async def forget() -> None:
            await stopping
            if self._supervisors.get(name) is sup:
                del self._supervisors[name]
                self._publish("delete", name)

        return self._own(forget())

    @property
    def processes(self) -> list[str]:
        """Template names, in the order they were added."""
        return list(self._supervisors)

    def supervisor(self, name: str) -> Supervisor:
        """The Supervisor of template *name*.

        Raises:
            UnknownProcess: no template of that name.
        """
        try:
            return self._supervisors[name]
        except (KeyError, TypeError):
            raise UnknownProcess(f"no process named {name!r}") from None

    # -- control verbs ----------------------------------------------------------------------

    def start_process(self, name: str) -> asyncio.Task[Any] | None:
        """Start *name* (FATAL, EXITED and held instances included); clears the flapping history.
        ``web.2`` starts that instance alone (after ``stop_process("web.2")``). Before :meth:`start`
        the template is only marked to start then (and None is returned)."""
        type_name, number = split_instance_name(name)
        sup = self.supervisor(type_name)
        if not self.started:
            sup.stopped = False
            return None
        return sup.start() if number is None else sup.start_instance(number)

    def stop_process(self, name_or_id: str | int) -> asyncio.Task[Any]:
        """Stop a template by name (it stays stopped), or one instance by id or ``web.2``
        (that number is held: not respawned until the template is started again)."""
        target = self._resolve(name_or_id)
        if isinstance(target, Supervisor):
            return target.stop()
        return self.supervisor(target.template.name).stop_instance(target)

    def restart_process(self, name_or_id: str | int) -> asyncio.Task[Any]:
        """Restart a template's instances, or one instance: each keeps its number and PORT, and
        the old process is stopped before the new one starts. Clears FATAL/BACKOFF."""
        target = self._resolve(name_or_id)
        if isinstance(target, Supervisor):
            return target.restart()
        return self.supervisor(target.template.name).restart([target.number])

    def scale(self, name: str, n: int | str) -> int:
        """Set the instance count: ``3`` or ``"3"`` or ``"=3"`` sets, ``"+2"``/``"-1"`` adjust.
        Returns the new count (never below 0). Scale-down stops the highest numbers.

        Raises:
            InvalidOption: not a count, or above ``MAX_NUMPROCESSES``.
        """
        return self.supervisor(name).scale(n)

    def send_signal(self, name_or_id: str | int, signum: int | str) -> int:
        """Signal a process or every instance of a template (each group). Returns how many."""
        sig = parse_signal(signum)
        target = self._resolve(name_or_id)
        processes = target.alive() if isinstance(target, Supervisor) else [target]
        for process in processes:
            process.send_signal(sig)
        name = target.name if isinstance(target, Supervisor) else target.template.name
        self._publish("kill", name, signum=int(sig))
        return len(processes)

    # -- lookups --------------------------------------------------------------------------

    def _resolve(self, name_or_id: str | int) -> Supervisor | Process:
        """An int is an internal id; a string is always a name (``web`` or ``web.2``), so a
        type named ``12`` is never taken for id 12."""
        if isinstance(name_or_id, int) and not isinstance(name_or_id, bool):
            process = self.running.get(name_or_id)
            if process is None:
                raise UnknownProcess(f"no running process with id {name_or_id}")
            return process
        type_name, number = split_instance_name(str(name_or_id))
        sup = self.supervisor(type_name)
        if number is None:
            return sup
        process = sup.instances.get(number)
        if process is None:
            raise UnknownProcess(f"{name_or_id} is not running")
        return process

    def get_process(self, name_or_id: str | int) -> Supervisor | Process:
        """An id or ``web.2`` gives the Process; a template name gives its Supervisor."""
        return self._resolve(name_or_id)

    # -- events ---------------------------------------------------------------------------

    def _publish(self, event: str, name: str, process: Process | None = None, **extra: Any) -> None:
        """Publish *event* once, as ``event`` and (an alias) ``proc.<name>.<event>``."""
        msg: dict[str, Any] = {"event": event, "name": name}
        if process is not None:
            msg.update({"pid": process.id, "os_pid": process.os_pid, "instance": process.name})
        msg.update(extra)
        self.events.publish(event, msg, also=(f"proc.{name}.{event}",))
