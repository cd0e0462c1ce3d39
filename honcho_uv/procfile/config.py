"""``hu.toml``: readiness, dependencies, health and start defaults beside the Procfile.

Read with ``tomllib`` and checked strictly (DESIGN.md "Semantics, second wave"): an unknown
table or key, a wrong type, a process name that is not in the Procfile, an unknown
dependency or a cycle is a :class:`~honcho_uv.errors.ConfigError` of one line naming
``hu.toml:LINE`` (found by looking for the key in the text; tomllib reports no positions)
and the key path. Without the file every default holds and ``hu start`` behaves as before,
except that a Procfile ``release`` entry runs first (see :func:`dependency_graph`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honcho_uv.errors import ConfigError, InvalidOption
from honcho_uv.models import RESTART_POLICIES, parse_signal
from honcho_uv.models.probes import Probe, parse_probe
from honcho_uv.models.sizes import parse_size
from honcho_uv.procfile.parse import Procfile

__all__ = ["CONFIG_NAME", "RELEASE", "HuConfig", "ProcessConfig", "StartConfig", "dependency_graph", "load_config"]

CONFIG_NAME = "hu.toml"
#: The Heroku release phase: a Procfile entry of this name runs first, to success.
RELEASE = "release"
TTY_MODES = ("auto", "always", "never")
HEALTH_KINDS = ("tcp", "http", "exec")


@dataclass(frozen=True)
class ProcessConfig:
    """``[processes.NAME]``: None means "not said" (the type keeps hu's default)."""

    ready: Probe | None = None
    ready_timeout: float | None = None
    depends_on: Mapping[str, str] = field(default_factory=dict)
    oneshot: bool | None = None
    health: Probe | None = None
    health_interval: float | None = None
    health_failures: int | None = None
    restart: str | None = None
    stop_signal: int | None = None
    tty: bool | None = None
    watch: tuple[str, ...] = ()
    watch_ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class StartConfig:
    """``[start]``: defaults for ``hu start`` options; a flag given replaces its value."""

    timeout: float | None = None
    formation: str | None = None
    port: int | None = None
    log_dir: str | None = None
    log_max_size: int | None = None  # bytes
    log_keep: int | None = None
    tty: str | None = None
    watch: bool | None = None


@dataclass(frozen=True)
class HuConfig:
    path: str | None = None
    start: StartConfig = field(default_factory=StartConfig)
    processes: Mapping[str, ProcessConfig] = field(default_factory=dict)

    def of(self, name: str) -> ProcessConfig:
        return self.processes.get(name, _NONE)


_NONE = ProcessConfig()


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise InvalidOption(where, f"expected a number of seconds >= 0, got {value!r}")
    return float(value)


def _count(value: Any, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidOption(where, f"expected a whole number >= {minimum}, got {value!r}")
    return value


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidOption(where, f"expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidOption(where, f"expected true or false, got {value!r}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidOption(where, f"expected a non-empty string, got {value!r}")
    return value


def _globs(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidOption(where, f"expected a list of glob patterns, got {value!r}")
    return tuple(value)


def _depends(value: Any, where: str) -> dict[str, str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {v: "ready" for v in value}
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        from honcho_uv.core.deps import CONDITIONS  # see load_config

        for dep, condition in value.items():
            _choice(condition, f"{where}.{dep}", CONDITIONS)
        return dict(value)
    raise InvalidOption(where, f'expected a list of names or a table like {{ db = "ready" }}, got {value!r}')


def _health(value: Any, where: str) -> Probe:
    probe = parse_probe(value, where)
    if probe.kind not in HEALTH_KINDS:
        raise InvalidOption(where, f"a health check is a tcp, http or exec probe, got {str(probe)!r}")
    return probe


_PROCESS_KEYS: dict[str, Callable[[Any, str], Any]] = {
    "ready": parse_probe,
    "ready_timeout": _seconds,
    "depends_on": _depends,
    "oneshot": _flag,
    "health": _health,
    "health_interval": _seconds,
    "health_failures": lambda v, w: _count(v, w, 1),
    "restart": lambda v, w: _choice(v, w, RESTART_POLICIES),
    "stop_signal": lambda v, w: int(parse_signal(v, w)),
    "tty": _flag,
    "watch": _globs,
    "watch_ignore": _globs,
}
_START_KEYS: dict[str, Callable[[Any, str], Any]] = {
    "timeout": _seconds,
    "formation": _text,
    "port": lambda v, w: _count(v, w, 1),
    "log_dir": _text,
    "log_max_size": lambda v, w: parse_size(v if isinstance(v, (int, str)) else repr(v), w),
    "log_keep": _count,
    "tty": lambda v, w: _choice(v, w, TTY_MODES),
    "watch": _flag,
}


class _Locator:
    """Finds the line of a key path in the TOML text (best effort; tomllib gives no positions)."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.lines = text.splitlines()

    def line(self, keys: tuple[str, ...]) -> int | None:
        table_line, table = self._table(keys)
        start = table_line or 0
        rest = keys[len(table):]
        if not rest:
            return table_line
        key = re.escape(rest[0])
        pattern = re.compile(rf'^\s*["\']?{key}["\']?\s*[=.]')
        for i in range(start, len(self.lines)):
            if i > start and self.lines[i].lstrip().startswith("["):
                break
            if pattern.match(self.lines[i]):
                return i + 1
        return table_line

    def _table(self, keys: tuple[str, ...]) -> tuple[int | None, tuple[str, ...]]:
        headers = []
        for i, line in enumerate(self.lines):
            stripped = line.strip()
            if stripped.startswith("[") and not stripped.startswith("[["):
                headers.append((i + 1, re.sub(r"[\s\"']", "", stripped.split("]", 1)[0][1:])))
        for n in range(len(keys), 0, -1):
            want = ".".join(keys[:n])
            for lineno, name in headers:
                if name == want or (n == len(keys) and name.startswith(want + ".")):
                    return lineno, keys[:n]
        return None, ()

    def error(self, keys: tuple[str, ...], message: str) -> ConfigError:
        line = self.line(keys)
        where = f"{self.path}:{line}" if line else self.path
        return ConfigError(f"{where}: {'.'.join(keys)}: {message}" if keys else f"{where}: {message}")


def _section(raw: Any, keys: tuple[str, ...], known: Mapping[str, Callable[[Any, str], Any]],
             locate: _Locator) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise locate.error(keys, f"expected a table, got {raw!r}")
    out = {}
    for key, value in raw.items():
        if key not in known:
            raise locate.error((*keys, key), f"unknown key (known: {', '.join(known)})")
        try:
            out[key] = known[key](value, ".".join((*keys, key)))
        except InvalidOption as exc:
            message = str(exc).split(": ", 1)[1] if ": " in str(exc) else str(exc)
            raise locate.error((*keys, key), message) from None
    return out


def load_config(path: str | Path, procfile: Procfile, *, display: str | None = None) -> HuConfig:
    """Read and check the ``hu.toml`` at *path* against *procfile*.

    Raises:
        ConfigError: one line naming ``FILE:LINE`` (when found) and the key path.
    """
    # Imported here, with a hu.toml to read: `hu run` in an app without one (most apps)
    # should not pay their 20 ms (tomllib, and the template models behind core.deps).
    import tomllib

    from honcho_uv.core.deps import find_cycle

    shown = display or str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{shown}: does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{shown}: cannot be read ({exc})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column \d+\)", message)
        where = f"{shown}:{match.group(1)}" if match else shown
        raise ConfigError(f"{where}: {re.sub(r' [(]at line.*', '', message)}") from None
    locate = _Locator(shown, text)
    for table in data:
        if table not in ("start", "processes"):
            raise locate.error((table,), "unknown table (known: start, processes)")
    start = StartConfig(**_section(data.get("start", {}), ("start",), _START_KEYS, locate))
    raw_processes = data.get("processes", {})
    if not isinstance(raw_processes, dict):
        raise locate.error(("processes",), "expected a table of [processes.NAME] tables")
    processes: dict[str, ProcessConfig] = {}
    for name, raw in raw_processes.items():
        if name not in procfile:
            raise locate.error(("processes", name), f"no process type {name!r} in {procfile.path} "
                                                    f"(known: {', '.join(procfile.names)})")
        processes[name] = ProcessConfig(**_section(raw, ("processes", name), _PROCESS_KEYS, locate))
    for name, process in processes.items():
        for dep in process.depends_on:
            if dep not in procfile:
                raise locate.error(("processes", name, "depends_on"), f"{dep!r} is not a process type in "
                                   f"{procfile.path} (known: {', '.join(procfile.names)})")
    config = HuConfig(shown, start, processes)
    cycle = find_cycle(dependency_graph(procfile, config))
    if cycle:
        first = next((n for n in cycle if config.of(n).depends_on), cycle[0])
        raise locate.error(("processes", first, "depends_on"), f"dependency cycle: {' -> '.join(cycle)}")
    return config


def dependency_graph(procfile: Procfile, config: HuConfig) -> dict[str, dict[str, str]]:
    """``{type: {dependency: condition}}`` of *config*, with the release phase: a Procfile
    ``release`` entry is a oneshot every other type depends on with ``succeeded``, unless
    ``[processes.release]`` says ``oneshot = false`` (or a type names its own condition)."""
    graph = {name: dict(config.of(name).depends_on) for name in procfile.names}
    if is_release_phase(procfile, config):
        for name in procfile.names:
            if name != RELEASE:
                graph[name].setdefault(RELEASE, "succeeded")
    return graph


def is_release_phase(procfile: Procfile, config: HuConfig) -> bool:
    """Whether the Procfile's ``release`` entry runs as the release phase."""
    return RELEASE in procfile and config.of(RELEASE).oneshot is not False
