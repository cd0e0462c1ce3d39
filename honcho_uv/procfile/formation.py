"""Formations, instance numbering and ports: ``web=3,worker=0`` -> ``web.1``.. with their PORT.

Decided in DESIGN.md "Formation, instances and ports": instances are numbered from 1, and
``PORT = base + 100 * k + (N - 1)`` with k the type's index in the *whole* Procfile, so ports
do not move when a subset runs. This module is the one place that rule is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from honcho_uv.errors import InvalidOption
from honcho_uv.models import MAX_NUMPROCESSES, validate_name
from honcho_uv.procfile.parse import Procfile

__all__ = [
    "DEFAULT_PORT",
    "MAX_PORT",
    "PORT_STEP_PER_TYPE",
    "Instance",
    "check_type_names",
    "instance_env",
    "instance_port",
    "parse_formation",
    "parse_port",
    "resolve_formation",
    "type_port",
    "unknown_type",
]

DEFAULT_PORT = 5000
PORT_STEP_PER_TYPE = 100
MAX_PORT = 65535


def parse_port(value: object, option: str) -> int:
    """Validate a port base; *option* names the flag or file for the error."""
    try:
        port = int(str(value).strip())
    except ValueError:
        raise InvalidOption(option, f"port must be a number, got {str(value)[:40]!r}") from None
    if not 1 <= port <= MAX_PORT:
        raise InvalidOption(option, f"port must be between 1 and {MAX_PORT}, got {port}")
    return port


def type_port(base: int, type_index: int) -> int:
    """The first port of the type at *type_index*: ``base + 100 * type_index``."""
    return base + PORT_STEP_PER_TYPE * type_index


def instance_port(base: int, type_index: int, number: int) -> int:
    """``base + 100 * type_index + (number - 1)``: web.1=5000, web.2=5001, worker.1=5100."""
    return type_port(base, type_index) + (number - 1)


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
            raise unknown_type(procfile, name, option if name in formation else
                               ("--exclude" if name in exclude else "process"))
    counts = {}
    for name in procfile.names:
        selected = (not only or name in only) and name not in exclude
        counts[name] = formation.get(name, default) if selected else 0
    return counts


def unknown_type(procfile: Procfile, name: str, option: str) -> InvalidOption:
    """The error for *name*, not a type of *procfile*, given to *option*: it names the flag and
    lists the known types (``--can-die: no process type 'wrker' in Procfile (known: web, worker)``)."""
    return InvalidOption(option, f"no process type {name!r} in {procfile.path} (known: {', '.join(procfile.names)})")


def check_type_names(procfile: Procfile, names: Iterable[str], option: str, *, allow_all: bool = True) -> None:
    """Every one of *names* (given to *option*) is a type of *procfile*, or ``all`` when *allow_all*.

    Raises:
        InvalidOption: the first name that is not (see :func:`unknown_type`).
    """
    for name in names:
        if name not in procfile and not (allow_all and name == "all"):
            raise unknown_type(procfile, name, option)


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
