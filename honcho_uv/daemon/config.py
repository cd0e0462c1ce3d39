"""The gafferd ini file -> binds, daemon settings and process templates.

Format (DESIGN.md "Daemon"; docs/gafferd.rst): ``[gaffer]`` with ``bind`` (comma-separated
``unix:/path`` and ``tcp://host:port``), ``pidfile``, ``loglevel``, ``logfile``, ``include``,
``log_dir`` (each instance's output in ``LOG_DIR/NAME.N.log``), ``log_max_size``, ``log_keep``
(space-separated files, relative to the including file), and gaffer 0.4's ``http_endpoints``
naming ``[endpoint:NAME]`` sections with a ``bind``; ``[process:NAME]`` with every template
key; ``[env:NAME]`` sections adding variables to that process.

Parsing guarantees: ``delimiters=("=",)``, no interpolation and case-preserving keys, so
``%``, ``$``, ``:`` and case in keys and values reach the process exactly as written. Every
error is a :class:`ConfigError` naming the file, the section and the key.
One default differs from the embedding API: ``redirect_output = stdout, stderr`` (so ``/logs``
and the output streams have something), as for ``POST /processes``.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honcho_uv.console.logfiles import DEFAULT_KEEP, DEFAULT_MAX_SIZE, parse_size
from honcho_uv.core.deps import check_graph
from honcho_uv.errors import ConfigError, HuError, InvalidOption
from honcho_uv.models import ProcessTemplate, validate_name

__all__ = ["DaemonConfig", "TemplateSpec", "load_config"]

_BOOL = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
_STRINGS = ("cmd", "args", "uid", "gid", "cwd", "restart", "stop_signal", "redirect_output", "ready", "health",
            "depends_on")
_BOOLS = ("shell", "os_env", "redirect_input", "tty", "detach", "start", "oneshot")
_INTS = ("numprocesses", "port", "port_index", "priority", "health_failures")
_FLOATS = ("graceful_timeout", "ready_timeout", "health_interval")
_DEFAULTS: dict[str, Any] = {"restart": "always", "os_env": True, "redirect_output": ("stdout", "stderr")}


@dataclass(frozen=True)
class TemplateSpec:
    template: ProcessTemplate
    start: bool = True


@dataclass
class DaemonConfig:
    path: str | None = None
    binds: list[str] = field(default_factory=list)
    pidfile: str | None = None
    loglevel: str | None = None
    logfile: str | None = None
    log_dir: str | None = None  # instances' output files (console/logfiles.py), relative to the ini
    log_max_size: int = DEFAULT_MAX_SIZE  # bytes, checked at load
    log_keep: int = DEFAULT_KEEP
    processes: dict[str, TemplateSpec] = field(default_factory=dict)  # in priority, then file order


def _parser() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=True,
                                       comment_prefixes=("#", ";"), inline_comment_prefixes=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep the case of keys
    return parser


def _read(parser: configparser.ConfigParser, path: Path, seen: set[Path]) -> None:
    real = path.resolve()
    if real in seen:
        raise ConfigError(f"{path}: included twice (include loop?)")
    seen.add(real)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from exc
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ConfigError(f"{path}: {exc.message if hasattr(exc, 'message') else exc}".replace("\n", " ")) from None
    if parser.has_option("gaffer", "include"):
        includes = parser.get("gaffer", "include").split()
        parser.remove_option("gaffer", "include")
        for name in includes:
            _read(parser, path.parent / name, seen)


def _value(where: str, key: str, raw: str) -> Any:
    raw = raw.strip()
    try:
        if key in _BOOLS:
            if raw.lower() not in _BOOL:
                raise ValueError("must be true or false")
            return _BOOL[raw.lower()]
        if key in _INTS:
            return int(raw)
        if key in _FLOATS:
            return float(raw)
    except ValueError as exc:
        what = "a whole number" if key in _INTS else "a number" if key in _FLOATS else None
        raise ConfigError(f"{where} {key}: {'must be ' + what if what else exc}, got {raw!r}") from None
    if key == "flapping":
        return None if raw.lower() in ("off", "false", "no", "none", "0") else raw
    if key == "redirect_output":
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    if key == "depends_on":  # "db:ready migrate:succeeded" (a name alone means ready)
        deps = {}
        for item in raw.replace(",", " ").split():
            name, _, condition = item.partition(":")
            deps[name] = condition or "ready"
        return deps
    return raw


def _process(parser: configparser.ConfigParser, section: str, source: str) -> TemplateSpec:
    name = section.split(":", 1)[1]
    where = f"{source}: [{section}]"
    try:
        validate_name(name)
    except InvalidOption as exc:
        raise ConfigError(f"{where}: {exc}") from None
    settings: dict[str, Any] = dict(_DEFAULTS)
    env: dict[str, str] = {}
    if parser.has_section(f"env:{name}"):
        env.update(parser.items(f"env:{name}"))
    for key, raw in parser.items(section):
        if key.startswith("env:"):
            env[key[4:]] = raw
        elif key in (*_STRINGS, *_BOOLS, *_INTS, *_FLOATS, "flapping"):
            settings[key] = _value(where, key, raw)
        else:
            raise ConfigError(f"{where} {key}: unknown key")
    if "cmd" not in settings:
        raise ConfigError(f"{where} cmd: is required")
    start = settings.pop("start", True)
    try:
        template = ProcessTemplate(name=name, env=env, **settings)
    except InvalidOption as exc:
        raise ConfigError(f"{where} {exc}") from None
    except HuError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return TemplateSpec(template, start)


def _log_rotation(config: DaemonConfig, section: configparser.SectionProxy, where: str) -> None:
    """``log_max_size`` and ``log_keep`` of *section* into *config*, checked now so a bad value
    is a ConfigError naming the file and key, not a failure at start."""
    try:
        if section.get("log_max_size", "").strip():
            config.log_max_size = parse_size(section["log_max_size"].strip(), "log_max_size")
        if section.get("log_keep", "").strip():
            config.log_keep = int(section["log_keep"])
    except InvalidOption as exc:
        raise ConfigError(f"{where} {exc}") from None
    except ValueError:
        raise ConfigError(f"{where} log_keep: must be a whole number, got {section['log_keep'].strip()!r}") from None
    if config.log_keep < 0:
        raise ConfigError(f"{where} log_keep: must be >= 0, got {config.log_keep}")


def load_config(path: str | Path) -> DaemonConfig:
    """Read *path* (and its includes).

    Raises:
        ConfigError: unreadable file, syntax error, unknown or malformed key; the message
            names the file, section and key.
    """
    parser = _parser()
    source = str(path)
    _read(parser, Path(path), set())
    config = DaemonConfig(path=source)
    if parser.has_section("gaffer"):
        g = parser["gaffer"]
        binds = [b.strip() for b in g.get("bind", "").split(",") if b.strip()]
        for endpoint in (e.strip() for e in g.get("http_endpoints", "").split(",") if e.strip()):
            if not parser.has_option(f"endpoint:{endpoint}", "bind"):
                raise ConfigError(f"{source}: [gaffer] http_endpoints: no [endpoint:{endpoint}] with a bind")
            binds.extend(b.strip() for b in parser.get(f"endpoint:{endpoint}", "bind").split(",") if b.strip())
        config.binds = binds
        config.pidfile = g.get("pidfile") or None
        config.loglevel = g.get("loglevel") or g.get("log_level") or None
        config.logfile = g.get("logfile") or g.get("error_log") or None
        if g.get("log_dir"):
            config.log_dir = str(Path(source).parent / g["log_dir"])
        _log_rotation(config, g, f"{source}: [gaffer]")
    specs = [_process(parser, s, source) for s in parser.sections() if s.startswith(("process:", "job:"))]
    for spec in sorted(specs, key=lambda s: s.template.priority):  # stable: file order within a priority
        if spec.template.name in config.processes:
            raise ConfigError(f"{source}: [process:{spec.template.name}] defined twice")
        config.processes[spec.template.name] = spec
    for section in parser.sections():
        if section.startswith("env:") and section[4:] not in config.processes:
            raise ConfigError(f"{source}: [{section}]: no [process:{section[4:]}] to apply it to")
    check_graph({name: spec.template.depends_on for name, spec in config.processes.items()}, config.processes,
                f"{source}: depends_on")
    return config
