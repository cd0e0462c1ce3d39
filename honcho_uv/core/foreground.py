"""The foreground lifecycle (foreman's rules), shared by ``hu start`` and ``hu run --with``.

An :class:`~honcho_uv.core.hooks.ExitPolicy` that embedders can use too.

DESIGN.md "Foreground lifecycle": the first unexpected exit stops the rest and its code
becomes hu's (128+n for a signal death); a oneshot's exit 0 is success, not an unexpected
exit; an instance whose ready probe failed counts as exited (code 1 when hu stopped it); a template whose dependencies
cannot be met stops everything (exit 1), and :attr:`Foreground.failure` says why;
``--can-die`` types may exit alone; ``--restart``
types restart under the flapping policy and count as exited once FATAL; when nothing is left
running or scheduled hu exits with the first unexpected code, else 0. SIGINT/SIGTERM/SIGHUP
stop everything and exit 130/143/129; a second SIGINT kills at once. USR1/USR2 are
forwarded to every process group (as foreman does).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterable
from typing import Any

from honcho_uv.core.manager import Manager
from honcho_uv.models import ExitStatus

__all__ = ["Foreground"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FORWARDED_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


class Foreground:
    """Decides when a foreground hu stops and with which exit code.

    Use as the Manager's ``exit_policy`` (:meth:`attach`); :meth:`install_signals` wires the
    stop signals; ``await done`` gives the exit code once the Manager has stopped. *say* prints
    a system line (the console's). *say_exit(process, line)*, if given, says *line* in place
    of the console's line for that process's exit (``Printer.exit_line``), so the exit that
    stops everything is one line, ``web.1 exited with code 3: stopping all processes``;
    without it, that line follows the exit's own.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, say: Callable[[str], None], *, can_die: Iterable[str] = (),
                 say_exit: Callable[[Any, str], None] | None = None):
        self.loop = loop
        self.say = say
        self.say_exit = say_exit
        self.manager: Manager | None = None
        self.can_die = set(can_die)
        self.done: asyncio.Future[int] = loop.create_future()
        self.first_unexpected: int | None = None
        self.stopping = False
        #: Why hu stopped, when a readiness or dependency failure did it (``hu: ...`` on
        #: stderr); a plain exit is on the console already, as foreman prints it.
        self.failure: str | None = None

    def attach(self, manager: Manager) -> None:
        self.manager = manager
        manager.exit_policy = self
        manager.on_failure = self.dependency_failed

    def __call__(self, process: Any, status: ExitStatus, outcome: str) -> None:
        if outcome in ("restart", "backoff", "succeeded"):
            return
        code = status.returncode
        if process.failure:  # it never became ready
            # hu stopped it (its probe timed out): exit 1, as for an unmet dependency; the 143
            # of hu's own SIGTERM would say nothing. It exited by itself: its code (1 for a 0).
            code = 1 if process.requested_stop else code or 1
        if self.first_unexpected is None:
            self.first_unexpected = code
        if outcome == "exited" and ("all" in self.can_die or process.template.name in self.can_die):
            return
        reason = process.failure or f"{process.name} {status.describe()}"
        if not self.stopping and process.failure:
            self.failure = reason
        self.shutdown(code, reason, process=process)

    def dependency_failed(self, name: str, reason: str) -> None:
        """A template can never start in this run: stop everything, exit 1."""
        if self.first_unexpected is None:
            self.first_unexpected = 1
        if not self.stopping:
            self.failure = reason
        self.shutdown(1, reason)

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
                self.say(f"{name} received again: killing all processes now")
                assert self.manager is not None, "attach() first"
                self.manager.kill_all()
            return
        self.shutdown(128 + sig, f"{name} received")

    def forward(self, sig: int) -> None:
        if self.manager is not None:
            for process in self.manager.list():
                process.send_signal(sig)
            self.say(f"{signal.Signals(sig).name} forwarded to all processes")

    def shutdown(self, code: int, reason: str, quiet: bool = False, process: Any = None) -> None:
        """Stop everything (once); ``done`` then resolves to *code*. *process* is the one whose
        exit caused it, if one did."""
        if self.stopping:
            return
        self.stopping = True
        if not quiet:
            line = f"{reason}: stopping all processes"
            if process is not None and self.say_exit is not None:
                self.say_exit(process, line)  # its exit event is still queued: this line replaces its own
            else:
                # After the event lines already queued (the exit that caused this comes first).
                self.loop.call_soon(self.say, line)
        assert self.manager is not None, "attach() first"

        def finished(_: object) -> None:
            if not self.done.done():
                self.done.set_result(code)

        self.manager.stop(callback=finished)
