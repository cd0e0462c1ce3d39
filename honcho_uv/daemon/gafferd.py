"""gafferd: the Manager headless, loaded from an ini file, controlled over the HTTP API.

Lifecycle guarantees:

* the pidfile (if any) is created before anything listens and removed at exit only if ours;
  a live owner makes startup fail (:class:`StateError`);
* every bind is listened on before any process starts; a bind that cannot be had aborts the
  start (the pidfile is removed again);
* SIGTERM / SIGINT (and ``POST /_quit``) stop every process gracefully, then exit 0;
* SIGHUP re-reads the file and applies only the difference: new sections are added (and
  started unless ``start = false``), removed ones are stopped and removed, edited ones are
  updated (a change of ``numprocesses`` alone scales without restarting), and untouched
  templates keep running with the same pids. A file that does not parse is logged and the
  running configuration is kept. Binds, pidfile and logging are read at start only.

* a state file (:mod:`.state`) lists every live managed process (pid, create time, group,
  session), a journal appended at spawns and exits (driven by the OutputBus's lifecycle hook, never
  by an event a full queue could drop); its lock refuses a second daemon for the same
  pidfile / config file;
* SIGHUP reloads run one at a time: a SIGHUP during a reload asks for one more reload after it.

If the daemon is killed with SIGKILL nothing can clean up at that moment: the children live
in their own sessions and keep running. The next start for the same pidfile (else config
file) reads the state file and stops those leftovers (pid + create time verified, via their
groups) before starting anything; see docs/gafferd.rst "kill -9".
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honcho_uv.console.logbuffer import LogBuffer
from honcho_uv.console.logfiles import LogFiles, prepare_log_dir
from honcho_uv.console.messages import describe_event
from honcho_uv.core.fdlimit import ensure_open_files
from honcho_uv.core.manager import Manager
from honcho_uv.daemon.config import DaemonConfig, load_config
from honcho_uv.daemon.pidfile import Pidfile
from honcho_uv.daemon.state import DaemonState, StateRecorder, state_path, stop_leftovers
from honcho_uv.errors import HuError
from honcho_uv.http.app import HttpHandler
from honcho_uv.rundir import runtime_dir

__all__ = ["Daemon", "DaemonOptions", "default_bind"]

log = logging.getLogger("honcho_uv.daemon")



def default_bind() -> str:
    """Where a daemon with no bind listens: a unix socket in the private runtime directory
    (never gaffer's 0.0.0.0:5000)."""
    return f"unix:{runtime_dir() / 'gafferd.sock'}"


@dataclass
class DaemonOptions:
    """Command-line settings; those that are None fall back to the ini's."""

    config: str | None = None
    binds: list[str] = field(default_factory=list)
    pidfile: str | None = None
    token: str | None = None
    allow_remote: bool = False
    allow_exec: bool = False
    ui: str | None = None  # the dashboard's [HOST:]PORT (--ui)


class Daemon:
    def __init__(self, options: DaemonOptions):
        self.options = options
        self.config = load_config(options.config) if options.config else DaemonConfig()
        self.binds = options.binds or self.config.binds or [default_bind()]
        pidfile = options.pidfile or self.config.pidfile
        self.pidfile = Pidfile(pidfile) if pidfile else None
        self.state = DaemonState(state_path(self.config.path, pidfile))
        self.manager: Manager | None = None
        self.http: HttpHandler | None = None
        self.dashboard: Any = None
        # Invariant: at most one reload runs (_reloading); _reload_again asks for one more after it.
        self._reloading: asyncio.Task[None] | None = None
        self._reload_again = False

    async def run(self) -> int:
        """Serve until stopped; returns the exit code (0)."""
        loop = asyncio.get_running_loop()
        ensure_open_files(sum(s.template.numprocesses for s in self.config.processes.values() if s.start))
        manager = self.manager = Manager()
        # One ring buffer for the API's /logs and the dashboard's log pane.
        logs = LogBuffer(log_dir=None if self.config.log_dir is None else Path(self.config.log_dir))
        self.dashboard = self._dashboard(logs)
        self.http = HttpHandler(self.binds, token=self.options.token, allow_remote=self.options.allow_remote,
                                allow_exec=self.options.allow_exec, on_quit=manager.stop, logs=logs,
                                ui_url=None if self.dashboard is None else lambda: self.dashboard.url)
        if self.pidfile is not None:
            self.pidfile.create()
        try:
            self.state.acquire()  # before anything listens: a live socket is never touched
        except BaseException:
            if self.pidfile is not None:
                self.pidfile.remove()
            raise
        recorder: StateRecorder | None = None
        try:
            await stop_leftovers(*self.state.read())
            self.state.write([])
            manager.subscribe(".", self._log_event)
            recorder = StateRecorder(self.state, lambda: manager.running.values())
            manager.bus.add_lifecycle_hook(recorder)
            dashboard = [] if self.dashboard is None else [self.dashboard]
            manager.start(applications=[logs, self.http, *dashboard, *self._log_files()])
            await self.http.wait_started()
            log.info("gafferd listening on %s", ", ".join(self.http.addresses))
            if self.dashboard is not None:
                log.info("dashboard on %s (`hu ui --socket PATH` prints its URL with the token)",
                         self.dashboard.address)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._on_stop_signal, sig)
            loop.add_signal_handler(signal.SIGHUP, self._on_hup)
            for spec in self.config.processes.values():
                manager.add_template(spec.template, start=spec.start)
            await manager.wait_stopped()
            await self.http.wait_closed()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            if manager.started:
                manager.stop()
                await manager.wait_stopped()
            if self._reloading is not None:  # ours: awaited however run() ends
                await asyncio.gather(self._reloading, return_exceptions=True)
            await self.http.wait_closed()
            if self.dashboard is not None:
                await self.dashboard.wait_closed()
            if recorder is not None:
                recorder.close()
            self.state.remove()
            self.state.release()
            if self.pidfile is not None:
                self.pidfile.remove()
        log.info("gafferd stopped")
        return 0

    def _dashboard(self, logs: LogBuffer) -> Any:
        """The dashboard of ``--ui``, listening from now on, or None."""
        if self.options.ui is None:
            return None
        from honcho_uv.http.dashboard import Dashboard  # only with --ui

        return Dashboard(self.options.ui, logs=logs, allow_remote=self.options.allow_remote)

    def _log_files(self) -> list[LogFiles]:
        """The instances' log files of ``[gaffer] log_dir``, if set (checked at start)."""
        config = self.config
        if config.log_dir is None:
            return []
        directory = prepare_log_dir(config.log_dir, f"{config.path}: [gaffer] log_dir")
        return [LogFiles(directory, max_size=config.log_max_size, keep=config.log_keep,
                         say=lambda line: log.warning("%s", line))]

    def _on_stop_signal(self, sig: int) -> None:
        log.info("%s received: stopping every process", signal.Signals(sig).name)
        assert self.manager is not None, "run() first"
        self.manager.stop()

    def _on_hup(self) -> None:
        log.info("SIGHUP received: reloading %s", self.options.config or "(no config file)")
        if self.options.config is None or self.manager is None or self.manager.stopping:
            return
        if self._reloading is not None and not self._reloading.done():
            self._reload_again = True  # after the running reload, read the file once more
            return
        self._reloading = asyncio.get_running_loop().create_task(self._reload())

    async def _reload(self) -> None:
        """Read the file and apply it, again while SIGHUPs came in meanwhile (serialised)."""
        while True:
            self._reload_again = False
            assert self.options.config is not None, "checked by _on_hup"
            try:
                new = load_config(self.options.config)
            except HuError as exc:
                log.error("reload failed, keeping the running configuration: %s", exc)
            else:
                await self.apply(new)
            if not self._reload_again or self.manager is None or self.manager.stopping:
                return

    async def apply(self, new: DaemonConfig) -> dict[str, list[str]]:
        """Make the Manager match *new*; returns the names added, removed, updated, scaled."""
        manager = self.manager
        assert manager is not None, "run() first"
        old = self.config.processes
        changes: dict[str, list[str]] = {"added": [], "removed": [], "updated": [], "scaled": []}
        tasks: list[Any] = []
        for name in old:
            if name not in new.processes and name in manager.processes:
                tasks.append(manager.remove_process(name))
                changes["removed"].append(name)
        for name, spec in new.processes.items():
            if name not in manager.processes:
                tasks.append(manager.add_template(spec.template, start=spec.start))
                changes["added"].append(name)
                continue
            before = old[name].template if name in old else manager.get_template(name)
            if spec.template == before:
                continue
            if dataclasses.replace(before, numprocesses=spec.template.numprocesses) == spec.template:
                manager.scale(name, spec.template.numprocesses)
                changes["scaled"].append(name)
            else:
                diff = {f.name: getattr(spec.template, f.name) for f in dataclasses.fields(spec.template)
                        if getattr(spec.template, f.name) != getattr(before, f.name)}
                tasks.append(manager.update_process(name, **diff))
                changes["updated"].append(name)
        self.config.processes = new.processes
        log.info("reload: %s", ", ".join(f"{k} {' '.join(v)}" for k, v in changes.items() if v) or "no change")
        await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)
        return changes

    @staticmethod
    def _log_event(event: str, msg: dict[str, Any]) -> None:
        line = describe_event(event, msg)
        if line:
            (log.error if event == "spawn_error" else log.info)("%s", line)
