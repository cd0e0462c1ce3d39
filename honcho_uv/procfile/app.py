"""An app root -> an :class:`App`: its Procfile, env files and port base, loaded and checked.

Decided in DESIGN.md ("App root", "Env"):

* the Procfile, the ``-e`` files and ``PROCFILE`` from the env files are resolved against the
  app root (``-d``, default: the current directory);
* ``PROCFILE`` and ``PORT`` from the env files (then from the OS env) are defaults for ``-f``
  and ``-p``; flags win; an empty ``PORT=`` (a common template line) counts as unset;
* a bad value is reported against the file and line that set it;
* ``hu.toml`` beside the Procfile (or ``--config FILE``, or ``HU_CONFIG``) is read and checked
  against the Procfile; a named file must exist, the default one may not;
* a missing Procfile names the directory searched and the way out (``-f``, ``-d``), or, for a
  name taken from ``PROCFILE``, where that name came from;
* every instance's PORT fits in 65535 (:func:`check_ports`), or the error names where the
  base came from.

Everything here is pure apart from reading the files it is given.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from honcho_uv.errors import InvalidOption
from honcho_uv.procfile.config import CONFIG_NAME, HuConfig, load_config
from honcho_uv.procfile.dotenv import env_file_problems, read_env_files, split_env_option
from honcho_uv.procfile.formation import (
    DEFAULT_PORT,
    MAX_PORT,
    Instance,
    instance_env,
    instance_port,
    parse_port,
    type_port,
)
from honcho_uv.procfile.parse import Procfile, load_procfile

__all__ = ["App", "app_env", "check_ports", "env_file_paths", "env_problems", "expand_instances", "load_app"]


@dataclass(frozen=True)
class App:
    """Everything read from an app root: the Procfile, the env files and the port base.

    Invariant: ``env`` holds only what the env files say (not the OS environment), so exports
    can write it without leaking the exporting user's environment.
    """

    root: Path
    procfile: Procfile
    env: dict[str, str]
    port_base: int
    env_files: tuple[str, ...]
    #: ``path:line: warning: ...`` lines for ``hu check`` (the Procfile's, then the env files').
    warnings: tuple[str, ...] = field(default=())
    #: Which env file and line set each of ``env`` (``".env:3"``), for errors about a value.
    env_origins: dict[str, str] = field(default_factory=dict)
    #: ``hu.toml`` (empty when there is none).
    config: HuConfig = field(default_factory=HuConfig)
    #: Where :func:`load_app` took ``port_base`` from (``--port``, ``.env:2: PORT``) and the
    #: base it gave; see :meth:`port_origin`.
    port_from: tuple[str, int] = ("the default port base", DEFAULT_PORT)

    def port_origin(self) -> str:
        """The flag, file line or setting the port base came from, for errors about a port.
        A base replaced after loading (``hu start`` applies ``[start] port``) is named as such."""
        where, base = self.port_from
        if base == self.port_base:
            return where
        if self.config.start.port == self.port_base:
            return f"{self.config.path or CONFIG_NAME}: start.port"
        return "port base"

    @property
    def name(self) -> str:
        return self.root.name

    def child_env(self, os_environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """OS env, then the app env (the per-instance values are added at spawn)."""
        base = dict(os.environ if os_environ is None else os_environ)
        base.update(self.env)
        return base


def env_file_paths(root: Path, env_files: Iterable[str] | None) -> tuple[list[str], bool]:
    """The env files to read for ``-e`` *env_files* (default ``.env``), resolved against *root*,
    and whether they are required (named files are; the default ``.env`` is not)."""
    named = split_env_option(env_files)
    return ([str(root / f) for f in named] if named else [str(root / ".env")]), bool(named)


def _shown(root: Path, path: str) -> str:
    """A path as errors show it: relative to the current directory when it is the app root."""
    p = Path(path)
    return p.name if p.parent == root and root == Path.cwd().resolve() else path


def load_app(
    app_root: str | Path | None = None,
    procfile: str | None = None,
    env_files: Iterable[str] | None = None,
    port: int | str | None = None,
    os_environ: Mapping[str, str] | None = None,
    config: str | None = None,
) -> App:
    """Read the Procfile and env files of *app_root* (default: the current directory).

    Raises:
        ProcfileError, EnvFileError, InvalidOption: with the file, line or flag named.
    """
    environ = os.environ if os_environ is None else os_environ
    root = Path(app_root or ".").resolve()
    if not root.is_dir():
        raise InvalidOption("--app-root", f"{app_root} is not a directory")
    files, required = env_file_paths(root, env_files)
    env = read_env_files(files, required=required, display={f: _shown(root, f) for f in files})
    procfile_name = procfile or env.values.get("PROCFILE") or environ.get("PROCFILE") or "Procfile"
    if procfile:
        hint = ""
    elif env.values.get("PROCFILE"):
        hint = f" (the name is PROCFILE from {env.origin('PROCFILE')}; -f FILE overrides it)"
    elif environ.get("PROCFILE"):
        hint = " (the name is PROCFILE from the environment; -f FILE overrides it)"
    else:
        hint = " (use -f FILE or -d DIR)"
    procfile_path = root / procfile_name
    relative = root == Path.cwd().resolve() and not Path(procfile_name).is_absolute()
    display = procfile_name if relative or Path(procfile_name).is_absolute() else str(procfile_path)
    parsed = load_procfile(procfile_path, display, searched=root if relative else None, hint=hint)
    hu_config = _load_hu_config(root, procfile_path, parsed, config or environ.get("HU_CONFIG") or None)
    if port is not None:
        port_from = "--port"
        port_base = parse_port(port, port_from)
    elif env.values.get("PORT", "").strip():
        port_from = f"{env.origin('PORT')}: PORT"
        port_base = parse_port(env.values["PORT"], port_from)
    elif environ.get("PORT", "").strip():
        port_from = "PORT (environment)"
        port_base = parse_port(environ["PORT"], port_from)
    else:
        port_from, port_base = "the default port base", DEFAULT_PORT
    return App(root, parsed, env.values, port_base, tuple(files), (*parsed.warnings, *env.odd_names()),
               env.origins, hu_config, (port_from, port_base))


def app_env(app_root: str | Path | None, env_files: Iterable[str] | None) -> dict[str, str]:
    """Only the env files' variables of *app_root* (what :func:`load_app` reads, without the
    Procfile), named in errors as :func:`load_app` names them.

    Raises:
        EnvFileError: as :func:`~honcho_uv.procfile.dotenv.read_env_files`.
    """
    root = Path(app_root or ".").resolve()
    files, required = env_file_paths(root, env_files)
    return read_env_files(files, required=required, display={f: _shown(root, f) for f in files}).values


def env_problems(app_root: str | Path | None, env_files: Iterable[str] | None) -> list[str]:
    """Every problem of the env files :func:`load_app` would read (each bad line, ``FILE:LINE:
    ...``), for ``hu check``; empty when they load."""
    root = Path(app_root or ".").resolve()
    files, required = env_file_paths(root, env_files)
    return [str(e) for e in env_file_problems(files, required=required, display={f: _shown(root, f) for f in files})]


def check_ports(app: App, counts: Mapping[str, int]) -> None:
    """Every instance of *counts* gets a PORT of at most 65535 by the PORT rule.

    Raises:
        InvalidOption: named after where the base came from (``--port``, ``.env:1: PORT``), for
            the first instance (in Procfile order) past the limit.
    """
    for index, entry in enumerate(app.procfile.entries):
        count = counts.get(entry.name, 0)
        first = type_port(app.port_base, index)
        if count > 0 and instance_port(app.port_base, index, count) > MAX_PORT:
            number = max(1, MAX_PORT - first + 2)
            port = instance_port(app.port_base, index, number)
            raise InvalidOption(app.port_origin(), f"{entry.name}.{number} would get port {port} (base "
                                f"{app.port_base} + 100 * {index} + {number - 1}), past {MAX_PORT}: use a lower base")


def _load_hu_config(root: Path, procfile_path: Path, procfile: Procfile, named: str | None) -> HuConfig:
    """The named config file (it must exist), else ``hu.toml`` beside the Procfile (if any)."""
    if named:
        path = root / named
        return load_config(path, procfile, display=_shown(root, str(path)) if not Path(named).is_absolute() else named)
    path = procfile_path.parent / CONFIG_NAME
    if not path.is_file():
        return HuConfig()
    return load_config(path, procfile, display=_shown(root, str(path)))


def expand_instances(app: App, counts: Mapping[str, int]) -> list[Instance]:
    """Every instance of *counts* (a ``resolve_formation`` result), with its app env + PORT/PS."""
    out = []
    for type_index, entry in enumerate(app.procfile.entries):
        for number in range(1, counts.get(entry.name, 0) + 1):
            port = instance_port(app.port_base, type_index, number)
            env = {**app.env, **instance_env(entry.name, number, port)}
            out.append(Instance(entry.name, number, entry.command, port, env))
    return out
