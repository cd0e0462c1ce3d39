"""The app's environment: .env files, formations, instance numbering and ports.

Decided in DESIGN.md ("App root", "Env", "Formation, instances and ports"):

* child env = OS env, then each ``-e`` file in order (default ``.env``; a missing default
  is fine, a missing named file is an error), then ``PORT``, ``PS`` and ``HU_PROCESS_NAME``;
* ``PROCFILE`` and ``PORT`` from the env files are defaults for ``-f`` and ``-p``; flags win;
* ``PORT = base + 100 * k + (N - 1)`` with k the type's index in the *whole* Procfile, so
  ports do not move when a subset runs.

Everything here is pure apart from reading the files it is given.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv.parser import parse_stream
from dotenv.variables import parse_variables

from honcho_uv.errors import EnvFileError, InvalidOption
from honcho_uv.models import MAX_NUMPROCESSES
from honcho_uv.procfile import Procfile, load_procfile, validate_name

__all__ = [
    "DEFAULT_PORT",
    "App",
    "Instance",
    "expand_instances",
    "instance_env",
    "instance_port",
    "load_app",
    "load_env_files",
    "parse_env_text",
    "parse_formation",
    "parse_port",
    "resolve_formation",
    "split_env_option",
]

log = logging.getLogger(__name__)

DEFAULT_PORT = 5000
PORT_STEP_PER_TYPE = 100


def split_env_option(values: Iterable[str] | None) -> list[str]:
    """``["a.env,b.env", "c.env"]`` -> ``["a.env", "b.env", "c.env"]`` (repeatable and comma lists)."""
    out: list[str] = []
    for value in values or ():
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def load_env_files(paths: Iterable[str | Path], *, required: bool = True) -> dict[str, str]:
    """Read .env files in order with python-dotenv; later files win.

    Each file may use ``${VAR}`` expansion against the OS env and its own earlier lines.
    A key without a value (``FOO`` alone) is skipped.

    Raises:
        EnvFileError: a file is missing (when *required*), is a directory, or cannot be read.
    """
    merged: dict[str, str] = {}
    for path in paths:
        p = Path(path)
        if not p.exists():
            if required:
                raise EnvFileError("env file does not exist", str(path))
            continue
        if not p.is_file():
            raise EnvFileError("env file is not a regular file", str(path))
        try:
            text = p.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise EnvFileError(f"cannot be read ({exc.strerror})", str(path)) from exc
        merged.update(parse_env_text(text))
    return merged


def parse_env_text(text: str) -> dict[str, str]:
    """Parse .env *text* with python-dotenv (quotes, ``export``, multi-line values, ``${VAR}``).

    ``${VAR}`` expands from the values above it in the same text and from the OS environment;
    single-quoted values stay literal. A key with no ``=`` is skipped.
    """
    # dotenv_values() would expand ${VAR} inside single quotes too; foreman, docker compose and
    # shells keep those literal, so expansion is done here from python-dotenv's own parser.
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            log.warning("could not parse .env statement starting at line %d", binding.original.line)
            continue
        if binding.key is None or binding.value is None:
            continue
        _, _, rhs = binding.original.string.partition("=")
        if rhs.lstrip().startswith("'"):
            values[binding.key] = binding.value
        else:
            scope = {**os.environ, **values}
            values[binding.key] = "".join(atom.resolve(scope) for atom in parse_variables(binding.value))
    return values


def parse_port(value: object, option: str) -> int:
    """Validate a port base; *option* names the flag or file for the error."""
    try:
        port = int(str(value).strip())
    except ValueError:
        raise InvalidOption(option, f"port must be a number, got {str(value)[:40]!r}") from None
    if not 1 <= port <= 65535:
        raise InvalidOption(option, f"port must be between 1 and 65535, got {port}")
    return port


def instance_port(base: int, type_index: int, number: int) -> int:
    """``base + 100 * type_index + (number - 1)``: web.1=5000, web.2=5001, worker.1=5100."""
    return base + PORT_STEP_PER_TYPE * type_index + (number - 1)


def instance_env(type_name: str, number: int, port: int | None) -> dict[str, str]:
    """The per-instance variables every child gets: ``PS``, ``HU_PROCESS_NAME`` and ``PORT``."""
    name = f"{type_name}.{number}"
    env = {"PS": name, "HU_PROCESS_NAME": name}
    if port is not None:
        env["PORT"] = str(port)
    return env


def parse_formation(specs: str | Iterable[str] | None, option: str = "--concurrency") -> dict[str, int]:
    """``"web=3,worker=0,all=1"`` (or a list of such strings) -> ``{"web": 3, "worker": 0, "all": 1}``.

    Names are syntax-checked here; whether they exist is :func:`resolve_formation`'s job.

    Raises:
        InvalidOption: an item without ``=``, a bad name, or a count that is not a whole number >= 0.
    """
    if specs is None:
        return {}
    if isinstance(specs, str):
        specs = [specs]
    out: dict[str, int] = {}
    for spec in specs:
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            name, eq, count = item.partition("=")
            name, count = name.strip(), count.strip()
            if not eq:
                raise InvalidOption(option, f"expected NAME=COUNT, got {item[:40]!r}")
            validate_name(name, option)
            if not count.isdigit() or not count.isascii():
                raise InvalidOption(option, f"count for {name!r} must be a whole number >= 0, got {count[:20]!r}")
            # checked before int(): a 5000-digit count raised ValueError (int's digit limit)
            if len(count.lstrip("0")) > len(str(MAX_NUMPROCESSES)) or int(count) > MAX_NUMPROCESSES:
                raise InvalidOption(option, f"count for {name!r} is over the limit of {MAX_NUMPROCESSES}")
            out[name] = int(count)
    return out


def resolve_formation(
    procfile: Procfile,
    formation: Mapping[str, int] | None = None,
    *,
    only: Iterable[str] = (),
    exclude: Iterable[str] = (),
    option: str = "--concurrency",
) -> dict[str, int]:
    """How many instances of each type run, in Procfile order.

    ``all=N`` sets the default (1 otherwise); named types override it; *only* limits the run to
    those types; *exclude* sets types to 0.

    Raises:
        InvalidOption: a name in the formation, *only* or *exclude* that is not in the Procfile.
    """
    formation = dict(formation or {})
    default = formation.pop("all", 1)
    only, exclude = list(only), list(exclude)
    for name in [*formation, *only, *exclude]:
        if name not in procfile:
            what = option if name in formation else ("--exclude" if name in exclude else "process")
            known = ", ".join(procfile.names)
            raise InvalidOption(what, f"no process type {name!r} in {procfile.path} (known: {known})")
    counts = {}
    for name in procfile.names:
        selected = (not only or name in only) and name not in exclude
        counts[name] = formation.get(name, default) if selected else 0
    return counts


@dataclass(frozen=True)
class Instance:
    """One process to run: ``web.2`` with its command, port and full environment."""

    type_name: str
    number: int
    command: str
    port: int
    env: dict[str, str] = field(repr=False)

    @property
    def name(self) -> str:
        return f"{self.type_name}.{self.number}"


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

    @property
    def name(self) -> str:
        return self.root.name

    def child_env(self, os_environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """OS env, then the app env (the per-instance values are added at spawn)."""
        base = dict(os.environ if os_environ is None else os_environ)
        base.update(self.env)
        return base


def load_app(
    app_root: str | Path | None = None,
    procfile: str | None = None,
    env_files: Iterable[str] | None = None,
    port: int | str | None = None,
    os_environ: Mapping[str, str] | None = None,
) -> App:
    """Read the Procfile and env files of *app_root* (default: the current directory).

    Paths are resolved against the app root. ``PROCFILE`` and ``PORT`` in the env files
    (then in the OS env) are defaults for *procfile* and *port*; given arguments win.

    Raises:
        ProcfileError, EnvFileError, InvalidOption: with the file, line or flag named.
    """
    environ = os.environ if os_environ is None else os_environ
    root = Path(app_root or ".").resolve()
    if not root.is_dir():
        raise InvalidOption("--app-root", f"{app_root} is not a directory")
    named = split_env_option(env_files)
    files = [str(root / f) for f in named] if named else [str(root / ".env")]
    env = load_env_files(files, required=bool(named))
    procfile_name = procfile or env.get("PROCFILE") or environ.get("PROCFILE") or "Procfile"
    procfile_path = root / procfile_name
    display = procfile_name if (root == Path.cwd().resolve() or Path(procfile_name).is_absolute()) else str(procfile_path)
    parsed = load_procfile(procfile_path, display)
    if port is not None:
        port_base = parse_port(port, "--port")
    elif "PORT" in env:
        port_base = parse_port(env["PORT"], f"{Path(files[-1]).name}: PORT")
    elif "PORT" in environ:
        port_base = parse_port(environ["PORT"], "PORT (environment)")
    else:
        port_base = DEFAULT_PORT
    return App(root, parsed, env, port_base, tuple(files))


def expand_instances(app: App, counts: Mapping[str, int]) -> list[Instance]:
    """Every instance of *counts* (a :func:`resolve_formation` result), with its app env + PORT/PS."""
    out = []
    for type_index, entry in enumerate(app.procfile.entries):
        for number in range(1, counts.get(entry.name, 0) + 1):
            port = instance_port(app.port_base, type_index, number)
            env = {**app.env, **instance_env(entry.name, number, port)}
            out.append(Instance(entry.name, number, entry.command, port, env))
    return out
