"""ProcessTemplate: everything needed to run N instances of one command, validated."""

from __future__ import annotations

import grp
import pwd
import shlex
import signal
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from honcho_uv.errors import InvalidOption
from honcho_uv.models.flapping import FlappingInfo, is_seconds
from honcho_uv.models.names import validate_name
from honcho_uv.models.probes import Probe, parse_probe
from honcho_uv.models.states import parse_signal

__all__ = [
    "CONDITIONS",
    "DEFAULT_GRACEFUL_TIMEOUT_S",
    "DEFAULT_READY_TIMEOUT_S",
    "DEFAULT_STOP_SIGNAL",
    "MAX_NUMPROCESSES",
    "RESTART_POLICIES",
    "ProcessTemplate",
    "check_count",
]

RESTART_POLICIES = ("always", "on-failure", "never")
DEFAULT_GRACEFUL_TIMEOUT_S = 10.0
#: A bound on instances per template: a typo or a hostile ``_scale`` must not fork-bomb the host.
MAX_NUMPROCESSES = 10000
DEFAULT_READY_TIMEOUT_S = 60.0
DEFAULT_STOP_SIGNAL = int(signal.SIGTERM)
#: What a dependent waits for (DESIGN.md "Dependencies").
CONDITIONS = ("started", "ready", "exited", "succeeded")


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
        env: variables for the child; with *os_env* (the default) they override the OS
            environment, without it they are the whole environment.
        uid, gid: drop to this user/group (int or name) before exec.
        cwd: working directory.
        detach: launch without monitoring; the child survives ``Manager.stop()``.
        shell: run ``cmd`` (plus *args*) through ``/bin/sh -c``.
        os_env: start from the Manager's OS environment (template env wins on shared keys).
            Default true, as in the daemon's ini: a child without it has no PATH, so a bare
            ``python`` is not found. False gives a child exactly *env*.
        numprocesses: how many instances to keep running.
        flapping: a :class:`FlappingInfo` (default on with gaffer's values), or None for off.
        redirect_output: up to two labels for stdout and stderr; the same label twice merges the
            streams (``2>&1``); a missing slot discards that stream.
        redirect_input: give the child a stdin pipe (``write``); otherwise stdin is /dev/null.
        tty: give the child a pseudo-terminal as stdin, stdout, stderr and controlling terminal
            (output post-processing off, so its bytes arrive as written); stdout and stderr
            then share the first ``redirect_output`` label, and ``write`` types into it.
        graceful_timeout: seconds between the stop signal and SIGKILL.
        stop_signal: the signal a stop sends first (SIGCONT follows it).
        restart: ``always``, ``on-failure`` or ``never`` for unexpected exits.
        port: a base port; instance N of a type at Procfile index k gets
            ``port + 100 * k + N - 1`` in PORT (k from *port_index*), plus PS and HU_PROCESS_NAME.
        port_index: k in the rule above (the type's index in its Procfile).
        priority: start order (lower first) when several templates start together.
        ready: a :class:`~honcho_uv.models.probes.Probe` (or its text) that tells an instance
            is ready; None: ready once spawned (``ready`` is then None in the API).
        ready_timeout: seconds for the ready probe to pass; past it the instance is stopped
            and that counts as its unexpected exit.
        depends_on: ``{template: condition}`` (``started``, ``ready``, ``exited``,
            ``succeeded``), or a list of names (``ready``); the template waits (WAITING, no
            OS process) until every condition holds.
        oneshot: the command is meant to finish: exit 0 is success, not an unexpected exit.
        health: a tcp, http or exec probe run every *health_interval* seconds once ready;
            *health_failures* failures in a row restart the instance.
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
    os_env: bool = True
    numprocesses: int = 1
    flapping: FlappingInfo | None = field(default_factory=FlappingInfo)
    redirect_output: tuple[str, ...] = ()
    redirect_input: bool = False
    tty: bool = False
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT_S
    stop_signal: int = DEFAULT_STOP_SIGNAL
    restart: str = "always"
    port: int | None = None
    port_index: int = 0
    priority: int = 0
    ready: Probe | None = None
    ready_timeout: float = DEFAULT_READY_TIMEOUT_S
    depends_on: Mapping[str, str] = field(default_factory=dict)
    oneshot: bool = False
    health: Probe | None = None
    health_interval: float = 10.0
    health_failures: int = 3

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
        for flag in ("detach", "shell", "os_env", "redirect_input", "tty"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidOption(flag, "must be true or false")
        if not _whole(self.numprocesses):
            raise InvalidOption("numprocesses", f"must be a whole number >= 0, got {str(self.numprocesses)[:20]!r}")
        check_count(self.numprocesses, "numprocesses")
        self._set("flapping", FlappingInfo.coerce(self.flapping))
        self._set("redirect_output", _checked_labels(self.redirect_output))
        if not is_seconds(self.graceful_timeout):
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
        self._check_readiness()
        self.argv()  # a cmd that shlex cannot split is a config error now, not a spawn error later

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _check_readiness(self) -> None:
        ready: object = self.ready  # a Probe, or its text (or number) to parse
        if ready is not None and not isinstance(ready, Probe):
            self._set("ready", parse_probe(ready, "ready"))
        given: object = self.health
        if given is not None:
            health = given if isinstance(given, Probe) else parse_probe(given, "health")
            if health.kind not in ("tcp", "http", "exec"):
                raise InvalidOption("health", f"a health check is a tcp, http or exec probe, got {str(health)!r}")
            self._set("health", health)
        for name in ("ready_timeout", "health_interval"):
            if not is_seconds(getattr(self, name)):
                raise InvalidOption(name, "must be a finite number of seconds >= 0")
        if not _whole(self.health_failures) or self.health_failures < 1:
            raise InvalidOption("health_failures", "must be a whole number >= 1")
        if not isinstance(self.oneshot, bool):
            raise InvalidOption("oneshot", "must be true or false")
        self._set("depends_on", _checked_depends(self.name, self.depends_on))

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
        data["ready"] = None if self.ready is None else str(self.ready)
        data["health"] = None if self.health is None else str(self.health)
        data["depends_on"] = dict(self.depends_on)
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
    checked: tuple[str, ...] | None = args
    return checked


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
    checked: tuple[str, ...] = tuple(labels or ())
    if len(checked) > 2:
        raise InvalidOption("redirect_output", f"at most 2 labels (stdout, stderr), got {len(checked)}")
    for label in checked:
        if not isinstance(label, str) or not label or label in (".", "stdin"):
            raise InvalidOption("redirect_output", f"invalid label {label!r}")
    return checked


def _checked_depends(name: str, value: Any) -> dict[str, str]:
    if isinstance(value, (list, tuple)):
        value = {v: "ready" for v in value}
    if not isinstance(value, Mapping):
        raise InvalidOption("depends_on", 'must map names to conditions, like {"db": "ready"}, or list names')
    out = {}
    for dep, condition in value.items():
        validate_name(dep, "depends_on")
        if dep == name:
            raise InvalidOption("depends_on", f"{name} cannot depend on itself")
        if condition not in CONDITIONS:
            raise InvalidOption("depends_on", f"{dep}: expected one of {', '.join(CONDITIONS)}, got {condition!r}")
        out[dep] = condition
    return out
