"""Process states (supervisor's) and their transitions, exit statuses, and signal names."""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass

from honcho_uv.errors import InvalidOption

__all__ = ["TRANSITIONS", "ExitStatus", "ProcessState", "parse_signal"]


class ProcessState(str, enum.Enum):  # noqa: UP042 - StrEnum would change str() of a state
    """Supervisor's states, for a template (the state of its instances as a whole)."""

    STOPPED = "STOPPED"  # not wanted; nothing running
    WAITING = "WAITING"  # wanted, waiting for its dependencies; no OS process yet
    STARTING = "STARTING"  # spawned, not yet stable
    RUNNING = "RUNNING"
    BACKOFF = "BACKOFF"  # flapping: waiting retry_in before the next start
    STOPPING = "STOPPING"  # stop signal sent, waiting for exits
    EXITED = "EXITED"  # ran and exited, not restarted (restart=never / on-failure after 0)
    FATAL = "FATAL"  # gave up (flapping, or a dependency that cannot be met); only a user start leaves it


#: Allowed transitions, checked by the Manager; a transition outside this table is a bug.
TRANSITIONS: dict[ProcessState, frozenset[ProcessState]] = {
    ProcessState.STOPPED: frozenset({ProcessState.STARTING, ProcessState.WAITING}),
    ProcessState.WAITING: frozenset({ProcessState.STARTING, ProcessState.STOPPED, ProcessState.FATAL}),
    ProcessState.STARTING: frozenset(
        {ProcessState.RUNNING, ProcessState.BACKOFF, ProcessState.STOPPING, ProcessState.EXITED,
         ProcessState.FATAL, ProcessState.STOPPED, ProcessState.WAITING}
    ),
    ProcessState.RUNNING: frozenset(
        {ProcessState.BACKOFF, ProcessState.STOPPING, ProcessState.EXITED, ProcessState.FATAL,
         ProcessState.STOPPED, ProcessState.STARTING, ProcessState.WAITING}
    ),
    ProcessState.BACKOFF: frozenset({ProcessState.STARTING, ProcessState.STOPPED, ProcessState.FATAL,
                                     ProcessState.WAITING}),
    ProcessState.STOPPING: frozenset({ProcessState.STOPPED, ProcessState.STARTING, ProcessState.WAITING}),
    ProcessState.EXITED: frozenset({ProcessState.STARTING, ProcessState.STOPPED, ProcessState.WAITING}),
    ProcessState.FATAL: frozenset({ProcessState.STARTING, ProcessState.STOPPED, ProcessState.WAITING}),
}


@dataclass(frozen=True)
class ExitStatus:
    """How a child ended: an exit code, or the signal that killed it (never both)."""

    code: int | None = None
    signal: int | None = None

    @classmethod
    def from_returncode(cls, returncode: int) -> ExitStatus:
        """asyncio's convention (negative = killed by that signal) -> ExitStatus."""
        if returncode < 0:
            return cls(None, -returncode)
        return cls(returncode, None)

    @property
    def returncode(self) -> int:
        """The shell's convention: the code, or 128 + signal number."""
        return 128 + self.signal if self.signal is not None else (self.code or 0)

    @property
    def success(self) -> bool:
        return self.signal is None and self.code == 0

    def describe(self) -> str:
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by {name}"
        return f"exited with code {self.code}"


def parse_signal(value: int | str, option: str = "signal") -> signal.Signals:
    """``"TERM"``, ``"SIGTERM"``, ``"term"``, ``15`` or ``"15"`` -> ``signal.SIGTERM``."""
    try:
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            return signal.Signals(int(value))
        name = str(value).strip().upper()
        return signal.Signals[name if name.startswith("SIG") else "SIG" + name]
    except (KeyError, ValueError):
        raise InvalidOption(option, f"unknown signal {str(value)[:20]!r}") from None
