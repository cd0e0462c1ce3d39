"""The Manager: templates, instances, scaling, restarts, flapping and applications.

Design note. The API is gaffer 0.4's (gaffer-spec.md §1.3): plain synchronous methods that
validate at once, schedule their work on the loop and return (each returns the
``asyncio.Task`` doing the work, which async callers may await). Listeners are called on the
loop as ``listener(event, msg)``. What gaffer got wrong is fixed here:

* restarts are decided by the Manager right where the exit is handled, never by an event
  subscriber (a dropped event cannot lose a restart);
* exits hu asked for (stop, restart, scale-down, Manager stop) are told apart from unexpected
  ones, and only the latter reach the restart policy and the ``exit_policy`` hook;
* a pending BACKOFF retry is cancelled by stop and remove; retries accumulate until the
  template is stable (policy.py);
* every long-lived task is owned by the Manager (``_tasks``) and awaited by :meth:`stop`;
* the clock is injected (``clock=``) and monotonic.

Only ``stop()`` and ``restart()`` may be called from other threads. Everything else runs on
the loop thread (or before :meth:`run`).

The class is split by noun: spawning and exit handling live in :mod:`supervision`, output and
stats fan-out in :mod:`manager_io`, detached launches in :mod:`detach`; this module holds the
lifecycle, the public control verbs and the lookups.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol


from honcho_uv import _tree
from honcho_uv.errors import InvalidOption, StateError, UnknownProcess
from honcho_uv.events import EventEmitter
from honcho_uv.job import Job
from honcho_uv.manager_io import OutputFanout, OutputSink
from honcho_uv.supervision import Supervision
from honcho_uv.models import ExitStatus, ProcessState, ProcessTemplate, parse_signal
from honcho_uv.procfile import split_instance_name
from honcho_uv.process import Process
from honcho_uv.reaper import Reaper

__all__ = ["Application", "ExitPolicy", "Manager"]

log = logging.getLogger(__name__)


# argv[1:] is the command: fork it with stdio on /dev/null and no other fd, print its pid, exit.


class Application(Protocol):
    """An object the Manager starts and stops with itself (HttpHandler, the console printer)."""

    def start(self, loop: asyncio.AbstractEventLoop, manager: Manager) -> None: ...
    def stop(self) -> None: ...
    def restart(self) -> None: ...


class ExitPolicy(Protocol):
    """Called synchronously for every unexpected exit, after the restart decision.

    *outcome* is ``"restart"`` (respawned now), ``"backoff"`` (flapping; retried later),
    ``"fatal"`` (flapping; given up) or ``"exited"`` (the restart policy said no).
    """

    def __call__(self, process: Process, status: ExitStatus, outcome: str) -> None: ...


class Manager(Supervision, OutputFanout):
    """Runs process templates on an asyncio loop.

    Args:
        loop: the loop to use; default: the running loop, else a new one.
        clock: a monotonic clock for restart decisions (tests inject a fake).
        exit_policy: see :class:`ExitPolicy`.
        subreaper: on Linux, adopt orphaned descendants, reap them, and kill them at stop.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        exit_policy: ExitPolicy | None = None,
        subreaper: bool = True,
    ):
        self.loop = loop
        self.clock = clock
        self.exit_policy = exit_policy
        self.events = EventEmitter(loop)
        self.running: dict[int, Process] = {}  # internal id -> live (or exiting) Process
        self.apps: list[Any] = []
        self.started = False
        self.stopping = False
        self._subreaper = subreaper
        self._reaper: Reaper | None = None
        self._jobs: dict[str, Job] = {}  # in insertion order: the start order
        self._tasks: set[asyncio.Task[Any]] = set()  # every task the Manager started; awaited at stop
        self._sinks: dict[OutputSink, None] = {}
        self._io_listeners: dict[tuple[str, str], dict[Callable[..., Any], None]] = {}
        self._stat_listeners: dict[str, dict[Callable[..., Any], None]] = {}
        self._output_paused = 0
        self._idle_callbacks: list[Callable[[], None]] = []
        self._detached_sessions: set[int] = set()
        # Spawns asked for and not yet finished (see Supervision); waiters of wait_spawned().
        self._spawns_in_flight = 0
        self._spawn_waiters: list[asyncio.Future[None]] = []
        self._stopped: asyncio.Future[None] | None = None
        self._owns_loop = False  # start() created the loop: run() closes it at the end

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, applications: Iterable[Any] = (), apps: Iterable[Any] | None = None) -> None:
        """Bind the loop and start *applications* in list order (gaffer's ``apps=`` also works)."""
        if self.started:
            raise StateError("manager already started")
        if self.loop is None:
            try:
                self.loop = asyncio.get_running_loop()
            except RuntimeError:
                self.loop = asyncio.new_event_loop()
                self._owns_loop = True
        self.events.bind(self.loop)
        self._stopped = self.loop.create_future()
        if self._subreaper:
            self._reaper = Reaper.acquire()
        self.started = True
        self.apps = list(apps if apps is not None else applications)
        for app in self.apps:
            app.start(self.loop, self)
        for job in self._jobs.values():
            if not job.stopped:
                self._manage(job)

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
        if not self.started or self.loop is None or self._stopped is None:
            raise RuntimeError("call start() before run()")
        while not self._stopped.done():
            try:
                self.loop.run_until_complete(self._stopped)
            except KeyboardInterrupt:
                self.stop()
        if self._owns_loop:
            # A loop the Manager made is closed here (left open it warns when collected); a loop
            # the caller passed in is theirs. A later start() makes a new one.
            loop, self.loop, self._owns_loop = self.loop, None, False
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    def stop(self, callback: Callable[[Manager], Any] | None = None) -> None:
        """Stop every process (in parallel), then the applications in reverse order.

        Safe from any thread. *callback(manager)* runs on the loop when everything has exited.
        """
        loop = self.loop
        if loop is None or not self.started:
            return
        if _on_thread_of(loop):
            self._begin_stop(callback)
        else:
            loop.call_soon_threadsafe(self._begin_stop, callback)

    def restart(self, callback: Callable[[Manager], Any] | None = None) -> None:
        """Restart the applications, then every running template's instances. Thread-safe."""
        loop = self.loop
        if loop is None or not self.started:
            return
        if _on_thread_of(loop):
            self._begin_restart(callback)
        else:
            loop.call_soon_threadsafe(self._begin_restart, callback)

    async def __aenter__(self) -> Manager:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
        await self.wait_stopped()

    async def wait_stopped(self) -> None:
        """Wait until :meth:`stop` has completed."""
        if self._stopped is not None:
            await asyncio.shield(self._stopped)

    def _begin_stop(self, callback: Callable[[Manager], Any] | None) -> None:
        if self.stopping:
            return
        self.stopping = True
        self._own(self._stop_all(callback))

    async def _stop_all(self, callback: Callable[[Manager], Any] | None) -> None:
        for job in self._jobs.values():
            job.cancel_retry()
            job.stopped = True
        await asyncio.gather(*(p.stop() for p in list(self.running.values())), return_exceptions=True)
        await self._kill_adopted()
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]
        if others:
            await asyncio.gather(*others, return_exceptions=True)
        for job in self._jobs.values():
            for process in job.instances.values():
                process.close()
            job.instances.clear()
            if job.state is not ProcessState.STOPPED:
                job.state = ProcessState.STOPPED
        for app in reversed(self.apps):
            try:
                app.stop()
            except Exception:
                log.exception("application %r failed to stop", app)
        if self._reaper is not None:
            self._reaper.release()
        self.started = False
        if callback is not None:
            callback(self)
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    async def _kill_adopted(self) -> None:
        """Stop and kill the orphans we adopted as subreaper, and reap every adopted zombie.

        After return no adopted orphan is left a zombie: the Reaper stops reaping when this
        Manager releases it, and members of a stopped tree may have died (and re-parented to
        us) while the Reaper thread was still waiting on the loop's own children.
        """
        if self._reaper is None:
            return
        adopted = _tree.adopted_orphans(exclude_sessions=self._detached_sessions)
        if adopted:
            log.info("stopping %d adopted orphan(s): %s", len(adopted), ", ".join(str(p.pid) for p in adopted))
            _tree.signal_all(adopted, signal.SIGTERM)
            _tree.signal_all(adopted, signal.SIGCONT)
            survivors = await _tree.wait_gone(adopted, 1.0)
            _tree.signal_all(survivors, signal.SIGKILL)
            await _tree.wait_gone(survivors, 1.0)
        _tree.reap_adopted_zombies(exclude_sessions=self._detached_sessions)

    def _begin_restart(self, callback: Callable[[Manager], Any] | None) -> None:
        for app in self.apps:
            try:
                app.restart()
            except Exception:
                log.exception("application %r failed to restart", app)
        tasks = [self.restart_process(name) for name, job in self._jobs.items() if not job.stopped]

        async def finish() -> None:
            await asyncio.gather(*tasks, return_exceptions=True)
            if callback is not None:
                callback(self)

        self._own(finish())

    def kill_all(self) -> None:
        """SIGKILL every process group and stop-time snapshot now (the second Ctrl-C)."""
        for process in list(self.running.values()):
            process.kill()

    # -- tasks, idleness -----------------------------------------------------------------

    def _own(self, coro: Any) -> asyncio.Task[Any]:
        assert self.loop is not None, "manager not started"
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("manager task failed", exc_info=task.exception())
        self._check_idle()

    @property
    def idle(self) -> bool:
        """Nothing is running, spawning, stopping or waiting for a retry."""
        return not self.running and not self._tasks and all(j.retry is None for j in self._jobs.values())

    def on_idle(self, callback: Callable[[], None]) -> None:
        """Call *callback* (once) the next time the Manager becomes idle."""
        self._idle_callbacks.append(callback)
        if self.loop is not None:
            self.loop.call_soon(self._check_idle)

    def _check_idle(self) -> None:
        if self._idle_callbacks and self.idle and not self.stopping:
            callbacks, self._idle_callbacks = self._idle_callbacks, []
            for cb in callbacks:
                cb()

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
        if template.name in self._jobs:
            raise StateError(f"a process named {template.name!r} already exists")
        self._jobs[template.name] = Job(template, template.numprocesses)
        self._publish("create", template.name)
        if start:
            return self.start_process(template.name)
        return None

    def update_process(self, name: str, cmd: str | None = None, **settings: Any) -> asyncio.Task[Any] | None:
        """Replace the template's settings and restart its running instances with them."""
        job = self._job(name)
        changes = dict(settings)
        changes.pop("start", None)
        if cmd is not None:
            changes["cmd"] = cmd
        template = job.template.replace(**changes)
        job.template = template
        job.wanted = template.numprocesses
        self._publish("update", name)
        return self.restart_process(name) if not job.stopped else None

    def remove_process(self, name: str) -> asyncio.Task[Any]:
        """Stop every instance of *name* and forget the template (a pending retry is cancelled)."""
        job = self._job(name)
        task = self._stop_job(job)

        async def forget() -> None:
            await task
            if self._jobs.get(name) is job:
                del self._jobs[name]
                self._publish("delete", name)

        return self._own(forget())

    def get_template(self, name: str) -> ProcessTemplate:
        return self._job(name).template

    @property
    def processes(self) -> list[str]:
        """Template names, in the order they were added."""
        return list(self._jobs)

    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def _job(self, name: str) -> Job:
        try:
            return self._jobs[name]
        except (KeyError, TypeError):
            raise UnknownProcess(f"no process named {name!r}") from None

    # -- starting, stopping, restarting --------------------------------------------------

    def start_process(self, name: str) -> asyncio.Task[Any]:
        """Start *name* (FATAL, EXITED and held instances included); clears the flapping history."""
        job = self._job(name)
        job.cancel_retry()
        job.stopped = False
        job.held.clear()
        job.exited.clear()
        job.flap.reset()
        job.spawn_error = None
        if job.state is not ProcessState.STOPPING:
            job.set_state(ProcessState.STARTING)
        self._publish("start", name)
        self._spawns_in_flight += 1  # until _manage has scheduled (and counted) the spawns
        return self._own(self._manage_soon(job))

    async def _manage_soon(self, job: Job) -> None:
        try:
            self._manage(job)
        finally:
            self._spawn_settled()

    def stop_process(self, name_or_id: str | int) -> asyncio.Task[Any]:
        """Stop a template by name (it stays stopped), or one instance by id or ``web.2``
        (that number is held: not respawned until the template is started again)."""
        target = self._resolve(name_or_id)
        if isinstance(target, Job):
            return self._stop_job(target)
        job = self._jobs[target.template.name]
        job.held.add(target.number)
        self._publish("stop_pid", target.template.name, process=target)
        return self._request_stop([target])

    def _stop_job(self, job: Job) -> asyncio.Task[Any]:
        job.cancel_retry()
        job.stopped = True
        if job.state in (ProcessState.BACKOFF, ProcessState.FATAL, ProcessState.EXITED):
            job.set_state(ProcessState.STOPPED)
        elif job.state is not ProcessState.STOPPED:
            job.set_state(ProcessState.STOPPING)
        self._publish("stop", job.name)

        async def stop() -> None:
            await self._stop_processes(list(job.instances.values()))
            if job.stopped and job.state is ProcessState.STOPPING:
                job.set_state(ProcessState.STOPPED)

        return self._own(stop())

    async def _stop_processes(self, processes: list[Process]) -> None:
        await asyncio.gather(*(p.stop() for p in processes), return_exceptions=True)

    def _request_stop(self, processes: list[Process]) -> asyncio.Task[Any]:
        """Stop *processes* in a task, marking them requested now: an exit that beats the task
        to it must not count as unexpected (and be restarted or reach the exit policy)."""
        for process in processes:
            process.requested_stop = True
        return self._own(self._stop_processes(processes))

    def restart_process(self, name_or_id: str | int) -> asyncio.Task[Any]:
        """Restart a template's instances, or one instance: each keeps its number and PORT, and
        the old process is stopped before the new one starts. Clears FATAL/BACKOFF."""
        target = self._resolve(name_or_id)
        if isinstance(target, Job):
            job, numbers = target, None
        else:
            job, numbers = self._jobs[target.template.name], [target.number]
        job.cancel_retry()
        job.flap.reset()
        job.stopped = False
        if job.state in (ProcessState.FATAL, ProcessState.BACKOFF):
            job.set_state(ProcessState.STARTING)
        if numbers is None:
            job.held.clear()
            job.exited.clear()
        else:
            job.held.difference_update(numbers)
            job.exited.difference_update(numbers)
        self._publish("restart", job.name)

        async def restart() -> None:
            olds = [p for n, p in job.instances.items() if numbers is None or n in numbers]
            await asyncio.gather(*(self._restart_one(job, p) for p in olds), return_exceptions=True)
            self._manage(job)

        return self._own(restart())

    async def _restart_one(self, job: Job, process: Process) -> None:
        await process.stop()
        await process.wait()
        if not job.stopped and job.instances.get(process.number) is None and process.number <= job.wanted:
            self._spawn(job, process.number)

    # -- scaling --------------------------------------------------------------------------

    def scale(self, name: str, n: int | str) -> int:
        """Set the instance count: ``3`` or ``"3"`` or ``"=3"`` sets, ``"+2"``/``"-1"`` adjust.
        Returns the new count (never below 0). Scale-down stops the highest numbers."""
        job = self._job(name)
        current = job.wanted
        if isinstance(n, bool):
            raise InvalidOption("scale", "expected a count")
        if isinstance(n, int):
            new = n
        else:
            text = str(n).strip()
            try:
                if text.startswith(("+", "-")):
                    new = current + int(text)
                else:
                    new = int(text.lstrip("="))
            except ValueError:
                raise InvalidOption("scale", f"expected N, =N, +N or -N, got {text[:20]!r}") from None
        new = max(0, new)
        job.wanted = new
        job.exited = {x for x in job.exited if x <= new}
        self._publish("update", name)
        self._manage(job)
        return new

    def ttin(self, name: str, i: int = 1) -> int:
        """Add *i* instances; returns the new count."""
        return self.scale(name, f"+{int(i)}")

    def ttou(self, name: str, i: int = 1) -> int:
        """Remove *i* instances (the highest numbers); returns the new count."""
        return self.scale(name, f"-{int(i)}")

    # -- lookups --------------------------------------------------------------------------

    def _resolve(self, name_or_id: str | int) -> Job | Process:
        if isinstance(name_or_id, int) and not isinstance(name_or_id, bool):
            process = self.running.get(name_or_id)
            if process is None:
                raise UnknownProcess(f"no running process with id {name_or_id}")
            return process
        text = str(name_or_id)
        if text.isdigit():
            return self._resolve(int(text))
        type_name, number = split_instance_name(text)
        job = self._job(type_name)
        if number is None:
            return job
        process = job.instances.get(number)
        if process is None:
            raise UnknownProcess(f"{text} is not running")
        return process

    def get_process(self, name_or_id: str | int) -> Job | Process:
        """An id or ``web.2`` gives the Process; a template name gives its Job."""
        return self._resolve(name_or_id)

    def get_process_info(self, name: str) -> dict[str, Any]:
        return self._job(name).info()

    def get_process_status(self, name: str) -> dict[str, Any]:
        return self._job(name).status()

    def list(self, name: str | None = None) -> list[Process]:
        """Live processes, of one template or all (in template then number order)."""
        jobs = [self._job(name)] if name is not None else list(self._jobs.values())
        return [j.instances[n] for j in jobs for n in sorted(j.instances) if j.instances[n].alive]

    def pids(self, name: str | None = None) -> list[int]:
        return [p.id for p in self.list(name)]

    def send_signal(self, name_or_id: str | int, signum: int | str) -> int:
        """Signal a process or every instance of a template (each group). Returns how many."""
        sig = parse_signal(signum)
        target = self._resolve(name_or_id)
        processes = target.alive() if isinstance(target, Job) else [target]
        for process in processes:
            process.send_signal(sig)
        self._publish("kill", processes[0].template.name if processes else str(name_or_id), signum=int(sig))
        return len(processes)

    # -- gaffer 0.4 names ------------------------------------------------------------------

    def running_processes(self) -> dict[int, Process]:
        """gaffer's name for :attr:`running`."""
        return self.running

    def start_processes(self) -> list[asyncio.Task[Any]]:
        """Start every template (gaffer 0.4)."""
        return [self.start_process(name) for name in self._jobs]

    def stop_processes(self) -> list[asyncio.Task[Any]]:
        """Stop every template (gaffer 0.4); the Manager keeps running."""
        return [self.stop_process(name) for name in self._jobs]

    # -- events ---------------------------------------------------------------------------

    def subscribe(self, evtype: str, listener: Callable[..., Any]) -> None:
        self.events.subscribe(evtype, listener)

    def subscribe_once(self, evtype: str, listener: Callable[..., Any]) -> None:
        self.events.subscribe_once(evtype, listener)

    def unsubscribe(self, evtype: str, listener: Callable[..., Any]) -> None:
        self.events.unsubscribe(evtype, listener)

    def _publish(self, event: str, name: str, process: Process | None = None, **extra: Any) -> None:
        msg: dict[str, Any] = {"event": event, "name": name}
        if process is not None:
            msg.update({"pid": process.id, "os_pid": process.os_pid, "instance": process.name})
        msg.update(extra)
        self.events.publish(event, msg)
        self.events.publish(f"proc.{name}.{event}", {**msg, "event": f"proc.{name}.{event}"})


def _on_thread_of(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return not loop.is_running()
