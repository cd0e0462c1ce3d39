"""The foreground lifecycle shared by ``hu start`` and ``hu run --with``.

DESIGN.md "Foreground lifecycle": the first unexpected exit stops the rest and its code
becomes hu's (128+n for a signal death); ``--can-die`` types may exit alone; ``--restart``
types restart under the flapping policy and count as exited once FATAL; when nothing is left
running or scheduled hu exits with the first unexpected code, else 0. SIGINT/SIGTERM/SIGHUP
stop everything and exit 130/143/129; a second SIGINT kills at once. USR1/USR2 are
forwarded to every process group (as foreman does).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable
from typing import Any

from honcho_uv.environ import App
from honcho_uv.manager import Manager
from honcho_uv.models import ExitStatus, FlappingInfo, ProcessTemplate
from honcho_uv.printer import Printer
from honcho_uv.shellcmd import exec_command

__all__ = ["Foreground", "app_templates"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FORWARDED_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


def app_templates(app: App, counts: dict[str, int], *, timeout: float, restart: Iterable[str] = (),
                  flapping: FlappingInfo | None = None, stdin: Iterable[str] = ()) -> list[ProcessTemplate]:
    """One template per Procfile entry (in order), run through ``/bin/sh -c`` in the app root.

    The child env is the OS env, then the app's env files, then PORT/PS/HU_PROCESS_NAME (added
    at spawn from ``port``/``port_index``). A single simple command is run as ``exec CMD`` so
    the app itself is the process hu watches, signals and reports (not a ``sh`` above it); a
    compound command (``cd x && y``) runs exactly as written (see shellcmd.py). ``PYTHONUNBUFFERED=1`` is set unless the env sets it,
    so Python children's output is not held back in a pipe buffer (honcho #136, #167).
    Types in *restart* (or all, with ``"all"``) restart with the flapping policy; the others never.
    Types in *stdin* get a stdin pipe (``hu send``); the others read /dev/null.
    """
    restart, stdin = set(restart), set(stdin)
    env = {"PYTHONUNBUFFERED": "1", **app.env}
    templates = []
    for index, entry in enumerate(app.procfile.entries):
        restarts = "all" in restart or entry.name in restart
        templates.append(
            ProcessTemplate(
                name=entry.name, cmd=exec_command(entry.command), shell=True, env=env, os_env=True, cwd=str(app.root),
                numprocesses=counts.get(entry.name, 0), redirect_output=("out", "out"),
                graceful_timeout=timeout, restart="always" if restarts else "never",
                flapping=(flapping or FlappingInfo()) if restarts else None, port=app.port_base, port_index=index,
                redirect_input="all" in stdin or entry.name in stdin,
            )
        )
    return templates


class Foreground:
    """Decides when a foreground hu stops and with which exit code.

    Use as the Manager's ``exit_policy``; :meth:`install_signals` wires the stop signals;
    ``await done`` gives the exit code once the Manager has stopped.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, printer: Printer, *, can_die: Iterable[str] = ()):
        self.loop = loop
        self.printer = printer
        self.manager: Manager | None = None
        self.can_die = set(can_die)
        self.done: asyncio.Future[int] = loop.create_future()
        self.first_unexpected: int | None = None
        self.stopping = False

    def attach(self, manager: Manager) -> None:
        self.manager = manager
        manager.exit_policy = self

    def __call__(self, process: Any, status: ExitStatus, outcome: str) -> None:
        if outcome in ("restart", "backoff"):
            return
        if self.first_unexpected is None:
            self.first_unexpected = status.returncode
        if outcome == "exited" and ("all" in self.can_die or process.template.name in self.can_die):
            return
        self.shutdown(status.returncode, f"{process.name} {status.describe()}")

    def watch_idle(self) -> None:
        """Exit once nothing is running or scheduled."""
        assert self.manager is not None, "attach() first"
        self.manager.on_idle(self._idle)

    def _idle(self) -> None:
        self.shutdown(self.first_unexpected or 0, "no process left running", quiet=True)

    def install_signals(self) -> None:
        for sig in STOP_SIGNALS:
            self.loop.add_signal_handler(sig, self.on_stop_signal, sig)
        for sig in FORWARDED_SIGNALS:
            self.loop.add_signal_handler(sig, self.forward, sig)

    def remove_signals(self) -> None:
        for sig in (*STOP_SIGNALS, *FORWARDED_SIGNALS):
            self.loop.remove_signal_handler(sig)

    def on_stop_signal(self, sig: int) -> None:
        name = signal.Signals(sig).name
        if self.stopping:
            # A second Ctrl-C means "now"; repeated TERM/HUP (a supervisor's burst) change nothing.
            if sig == signal.SIGINT:
                self.printer.system(f"{name} received again: killing all processes now")
                assert self.manager is not None, "attach() first"
                self.manager.kill_all()
            return
        self.shutdown(128 + sig, f"{name} received")

    def forward(self, sig: int) -> None:
        if self.manager is not None:
            for process in self.manager.list():
                process.send_signal(sig)
            self.printer.system(f"{signal.Signals(sig).name} forwarded to all processes")

    def shutdown(self, code: int, reason: str, quiet: bool = False) -> None:
        """Stop everything (once); ``done`` then resolves to *code*."""
        if self.stopping:
            return
        self.stopping = True
        if not quiet:
            # After the event lines already queued (the exit that caused this comes first).
            self.loop.call_soon(self.printer.system, f"{reason}: stopping all processes")
        assert self.manager is not None, "attach() first"

        def finished(_: Manager) -> None:
            if not self.done.done():
                self.done.set_result(code)

        self.manager.stop(callback=finished)
