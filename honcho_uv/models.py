"""Plain data: the name grammar, process templates, flapping settings, exit statuses and states.

Leaf module (layer L0): it imports nothing of honcho_uv but :mod:`errors`, so every layer can
use it. The one place the process-name grammar is written (``NAME_PATTERN``): the Procfile
parser, the CLI and the HTTP API all check names through :func:`validate_name` and
:func:`split_instance_name`.
"""

from __future__ import annotations

import enum
import grp
import math
import pwd
import re
import shlex
import signal
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from honcho_uv.errors import InvalidOption

__all__ = [
    "MAX_NUMPROCESSES",
    "NAME_PATTERN",
    "RESTART_POLICIES",
    "ExitStatus",
    "FlappingInfo",
    "ProcessState",
    "ProcessTemplate",
    "check_count",
    "parse_signal",
    "split_instance_name",
    "validate_name",
]

#: A process type name. Instance names add ``.N`` (N >= 1, at most six digits).
NAME_PATTERN = r"[A-Za-z0-9_-]+"
_NAME_RE = re.compile(rf"\A{NAME_PATTERN}\Z")
_INSTANCE_RE = re.compile(rf"\A({NAME_PATTERN})(?:\.([1-9][0-9]{{0,5}}))?\Z")


def validate_name(name: str, what: str = "process name") -> str:
    """Return *name* if it is a valid process type name, else raise :class:`InvalidOption`
    naming *what*."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidOption(what, f"invalid name {str(name)[:60]!r} (use letters, digits, '_' and '-')")
    return name


def split_instance_name(name: str, what: str = "process name") -> tuple[str, int | None]:
    """``"web.2"`` -> ``("web", 2)``; ``"web"`` -> ``("web", None)``.

    Raises:
        InvalidOption: if *name* is not a type name with an optional ``.N`` suffix (N >= 1).
    """
    match = _INSTANCE_RE.match(name) if isinstance(name, str) else None
    if match is None:
        raise InvalidOption(what, f"invalid name {str(name)[:60]!r} (expected NAME or NAME.N)")
    type_name, number = match.groups()
    return type_name, int(number) if number else None

RESTART_POLICIES = ("always", "on-failure", "never")
DEFAULT_GRACEFUL_TIMEOUT_S = 10.0
#: A bound on instances per template: a typo or a hostile ``_scale`` must not fork-bomb the host.
MAX_NUMPROCESSES = 10000


def _seconds(value: Any) -> bool:
    """A finite number of seconds >= 0 (JSON's NaN and Infinity are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


class ProcessState(str, enum.Enum):
    """Supervisor's states, for a template (the state of its instances as a whole)."""

    STOPPED = "STOPPED"  # not wanted; nothing running
    STARTING = "STARTING"  # spawned, not yet stable
    RUNNING = "RUNNING"
    BACKOFF = "BACKOFF"  # flapping: waiting retry_in before the next start
    STOPPING = "STOPPING"  # stop signal sent, waiting for exits
    EXITED = "EXITED"  # ran and exited, not restarted (restart=never / on-failure after 0)
    FATAL = "FATAL"  # gave up after max_retry flaps; only a user start leaves it


#: Allowed transitions, checked by the Manager; a transition outside this table is a bug.
TRANSITIONS: dict[ProcessState, frozenset[ProcessState]] = {
    ProcessState.STOPPED: frozenset({ProcessState.STARTING}),
    ProcessState.STARTING: frozenset(
        {ProcessState.RUNNING, ProcessState.BACKOFF, ProcessState.STOPPING, ProcessState.EXITED,
         ProcessState.FATAL, ProcessState.STOPPED}
    ),
    ProcessState.RUNNING: frozenset(
        {ProcessState.BACKOFF, ProcessState.STOPPING, ProcessState.EXITED, ProcessState.FATAL,
         ProcessState.STOPPED, ProcessState.STARTING}
    ),
    ProcessState.BACKOFF: frozenset({ProcessState.STARTING, ProcessState.STOPPED, ProcessState.FATAL}),
    ProcessState.STOPPING: frozenset({ProcessState.STOPPED, ProcessState.STARTING}),
    ProcessState.EXITED: frozenset({ProcessState.STARTING, ProcessState.STOPPED}),
    ProcessState.FATAL: frozenset({ProcessState.STARTING, ProcessState.STOPPED}),
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


@dataclass(frozen=True)
class FlappingInfo:
    """gaffer's flapping rule: *attempts* unexpected exits within *window* seconds is a flap.

    A flap puts the template in BACKOFF for *retry_in* seconds; the flap after *max_retry*
    retries makes it FATAL. Retries reset after *stable_after* seconds with no unexpected exit
    (gaffer reset them on any slow crash, so it never gave up; see gaffer-spec.md §2.4).
    """

    attempts: int = 2
    window: float = 1.0
    retry_in: float = 7.0
    max_retry: int = 5
    stable_after: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or isinstance(self.attempts, bool) or self.attempts < 1:
            raise InvalidOption("flapping.attempts", "must be a whole number >= 1")
        if not isinstance(self.max_retry, int) or isinstance(self.max_retry, bool) or self.max_retry < 0:
            raise InvalidOption("flapping.max_retry", "must be a whole number >= 0")
        for name in ("window", "retry_in", "stable_after"):
            if not _seconds(getattr(self, name)):
                raise InvalidOption(f"flapping.{name}", "must be a finite number of seconds >= 0")

    @classmethod
    def coerce(cls, value: Any) -> FlappingInfo | None:
        """Accept a FlappingInfo, a dict, a sequence ``(attempts, window, retry_in, max_retry)``,
        a string ``"2 1 7 5"`` (the gafferd ini form), True (defaults) or None/False (off)."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, FlappingInfo):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {f.name for f in fields(cls)}
            if unknown:
                raise InvalidOption("flapping", f"unknown key(s) {', '.join(sorted(unknown))}")
            return cls(**value)
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if isinstance(value, Sequence) and 1 <= len(value) <= 5:
            try:
                # Each position takes the type of its field's default (attempts and max_retry
                # are whole numbers), so adding a field never shifts another's type.
                kw = {f.name: type(f.default)(float(v)) for f, v in zip(fields(cls), value)}
            except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf); ValueError: int(nan)
                raise InvalidOption("flapping", "expected 'attempts window retry_in max_retry' (finite numbers)") from None
            return cls(**kw)
        raise InvalidOption("flapping", f"cannot read {value!r}")


def _resolve_uid(value: int | str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return pwd.getpwuid(int(value)).pw_uid if str(value).isdigit() else pwd.getpwnam(str(value)).pw_uid
    except (KeyError, ValueError, OverflowError):
        raise InvalidOption("uid", f"unknown user {value!r}") from None


def _resolve_gid(value: int | str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return grp.getgrgid(int(value)).gr_gid if str(value).isdigit() else grp.getgrnam(str(value)).gr_gid
    except (KeyError, ValueError, OverflowError):
        raise InvalidOption("gid", f"unknown group {value!r}") from None


@dataclass(frozen=True)
class ProcessTemplate:
    """Everything needed to run *numprocesses* instances of one command.

    Construction validates every field and raises :class:`~honcho_uv.errors.InvalidOption`
    naming it. ``uid``/``gid`` are resolved to numbers (names are looked up once, here).

    Fields:
        name: the template (process type) name, ``[A-Za-z0-9_-]+``.
        cmd: the command. Split with shlex unless *args* is given or *shell* is true.
        args: extra arguments: a list, or a string split with shlex.
        env: variables for the child; with *os_env* they override the OS environment.
        uid, gid: drop to this user/group (int or name) before exec.
        cwd: working directory.
        detach: launch without monitoring; the child survives ``Manager.stop()``.
        shell: run ``cmd`` (plus *args*) through ``/bin/sh -c``.
        os_env: start from the Manager's OS environment (template env wins on shared keys).
        numprocesses: how many instances to keep running.
        flapping: a :class:`FlappingInfo` (default on with gaffer's values), or None for off.
        redirect_output: up to two labels for stdout and stderr; the same label twice merges the
            streams (``2>&1``); a missing slot discards that stream.
        redirect_input: give the child a stdin pipe (``write``); otherwise stdin is /dev/null.
        graceful_timeout: seconds between the stop signal and SIGKILL.
        stop_signal: the signal a stop sends first (SIGCONT follows it).
        restart: ``always``, ``on-failure`` or ``never`` for unexpected exits.
        port: a base port; instance N of a type at Procfile index k gets
            ``port + 100 * k + N - 1`` in PORT (k from *port_index*), plus PS and HU_PROCESS_NAME.
        port_index: k in the rule above (the type's index in its Procfile).
        priority: start order (lower first) when several templates start together.
    """

    name: str
    cmd: str
    args: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    uid: int | None = None
    gid: int | None = None
    cwd: str | None = None
    detach: bool = False
    shell: bool = False
    os_env: bool = False
    numprocesses: int = 1
    flapping: FlappingInfo | None = field(default_factory=FlappingInfo)
    redirect_output: tuple[str, ...] = ()
    redirect_input: bool = False
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT_S
    stop_signal: int = signal.SIGTERM
    restart: str = "always"
    port: int | None = None
    port_index: int = 0
    priority: int = 0

    def __post_init__(self) -> None:
        # Normalised in place (the dataclass is frozen: object.__setattr__), one group of
        # fields per helper; each raises InvalidOption naming its field.
        validate_name(self.name, "name")
        self._set("args", _checked_args(self.cmd, self.args))
        self._set("env", _checked_env(self.env))
        self._set("uid", _resolve_uid(self.uid))
        self._set("gid", _resolve_gid(self.gid))
        if self.cwd is not None and (not isinstance(self.cwd, str) or "\0" in self.cwd):
            raise InvalidOption("cwd", "must be a path")
        for flag in ("detach", "shell", "os_env", "redirect_input"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidOption(flag, "must be true or false")
        if not _whole(self.numprocesses):
            raise InvalidOption("numprocesses", f"must be a whole number >= 0, got {str(self.numprocesses)[:20]!r}")
        check_count(self.numprocesses, "numprocesses")
        self._set("flapping", FlappingInfo.coerce(self.flapping))
        self._set("redirect_output", _checked_labels(self.redirect_output))
        if not _seconds(self.graceful_timeout):
            raise InvalidOption("graceful_timeout", "must be a finite number of seconds >= 0")
        self._set("stop_signal", int(parse_signal(self.stop_signal, "stop_signal")))
        if self.restart not in RESTART_POLICIES:
            raise InvalidOption("restart", f"must be one of {', '.join(RESTART_POLICIES)}, got {self.restart!r}")
        if self.port is not None and (not _whole(self.port) or not 1 <= self.port <= 65535):
            raise InvalidOption("port", f"must be a port number, got {self.port!r}")
        if not _whole(self.port_index):
            raise InvalidOption("port_index", "must be a whole number >= 0")
        if not isinstance(self.priority, int) or isinstance(self.priority, bool):
            raise InvalidOption("priority", "must be a whole number")
        self.argv()  # a cmd that shlex cannot split is a config error now, not a spawn error later

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def argv(self) -> list[str]:
        """The argument vector to exec (before any privilege-dropping wrapper)."""
        if self.shell:
            line = self.cmd if not self.args else " ".join([self.cmd, *map(shlex.quote, self.args)])
            return ["/bin/sh", "-c", line]
        if self.args is not None:
            return [self.cmd, *self.args]
        return _shlex_split(self.cmd, "cmd")

    def replace(self, **changes: Any) -> ProcessTemplate:
        """A copy with *changes* applied (and validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the inverse of :meth:`from_dict`)."""
        data = asdict(self)
        data["args"] = list(self.args) if self.args is not None else None
        data["redirect_output"] = list(self.redirect_output)
        data["stop_signal"] = signal.Signals(self.stop_signal).name
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessTemplate:
        """Build from a dict such as an HTTP body; unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidOption(sorted(unknown)[0], "unknown template field")
        if "name" not in data or "cmd" not in data:
            raise InvalidOption("name" if "name" not in data else "cmd", "is required")
        return cls(**data)


def _shlex_split(value: str, option: str) -> list[str]:
    try:
        parts = shlex.split(value)
    except ValueError as exc:
        raise InvalidOption(option, f"cannot split {value[:60]!r}: {exc}") from None
    if not parts:
        raise InvalidOption(option, "is empty")
    return parts


def _whole(value: Any) -> bool:
    """An int >= 0 that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_count(n: int, option: str) -> int:
    """*n* if it is an allowed instance count (0..MAX_NUMPROCESSES), else InvalidOption."""
    if n > MAX_NUMPROCESSES:
        raise InvalidOption(option, f"at most {MAX_NUMPROCESSES} instances, got {n}")
    if n < 0:
        raise InvalidOption(option, f"must be >= 0, got {n}")
    return n


def _checked_args(cmd: Any, args: Any) -> tuple[str, ...] | None:
    if not isinstance(cmd, str) or not cmd.strip():
        raise InvalidOption("cmd", "must be a non-empty command")
    if isinstance(args, str):
        args = tuple(_shlex_split(args, "args"))
    elif args is not None:
        if not isinstance(args, (list, tuple)) or not all(isinstance(a, str) for a in args):
            raise InvalidOption("args", "must be a list of strings")
        args = tuple(args)
    if "\0" in cmd or any("\0" in a for a in args or ()):
        raise InvalidOption("cmd", "must not contain a NUL byte")  # exec would raise ValueError at spawn
    return args


def _checked_env(env: Any) -> dict[str, str]:
    if not isinstance(env, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise InvalidOption("env", "must map names to strings")
    if any(not k or "=" in k or "\0" in k or "\0" in v for k, v in env.items()):
        raise InvalidOption("env", "names must be non-empty without '=' or NUL; values without NUL")
    return dict(env)


def _checked_labels(labels: Any) -> tuple[str, ...]:
    if isinstance(labels, str):
        labels = [part.strip() for part in labels.split(",") if part.strip()]
    if labels and not isinstance(labels, (list, tuple)):
        raise InvalidOption("redirect_output", "must be a list of up to 2 labels")
    labels = tuple(labels or ())
    if len(labels) > 2:
        raise InvalidOption("redirect_output", f"at most 2 labels (stdout, stderr), got {len(labels)}")
    for label in labels:
        if not isinstance(label, str) or not label or label in (".", "stdin"):
            raise InvalidOption("redirect_output", f"invalid label {label!r}")
    return labels
