"""Options shared by several commands, accepted before or after the subcommand.

honcho accepts its global flags on either side of the subcommand (honcho #173); click only
parses group options before it. So each global option is declared on the group *and* on each
command with a default of None, and :func:`globals_of` merges them: the command's value wins,
then the group's, then the default.

The options of a command that name process types (``-q``, ``--can-die``, ``--restart``,
``--stdin``) are checked as soon as the Procfile is loaded (:meth:`GlobalOptions.load_app`):
an unknown name is an error naming its own flag and listing the known types.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

import click

from honcho_uv import models
from honcho_uv.errors import InvalidOption

if TYPE_CHECKING:
    from honcho_uv.models import Probe
    from honcho_uv.procfile.app import App

# The Procfile, env and hu.toml readers are imported by the methods that use them: the control
# commands (`hu ps`) share these options and must not pay for them.

__all__ = ["GlobalOptions", "global_options", "globals_of", "parse_ready", "split_names", "want_colour"]


def _multi(ctx: click.Context, /, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...] | None:
    return value or None


#: (flags, settings) of each global option; the last three only change how output looks.
_GLOBALS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("-f", "--procfile"), dict(metavar="FILE", default=None, help="Procfile path, relative to the app root.")),
    (("-e", "--env", "env_files"), dict(metavar="FILE[,FILE]", multiple=True, callback=_multi,
                                        help="Env files (repeatable, or comma-separated; default .env).")),
    (("-d", "--app-root"), dict(metavar="DIR", default=None,
                                help="App root: where the Procfile and env files are, and the processes' cwd.")),
    (("--config", "config"), dict(metavar="FILE", default=None, envvar="HU_CONFIG",
                                  help="hu.toml to read (default: hu.toml beside the Procfile, if any; env "
                                       "HU_CONFIG).")),
    (("--color/--no-color", "--colour/--no-colour", "color"),
     dict(default=None, help="Force colour on or off (default: NO_COLOR, FORCE_COLOR, then TTY).")),
    (("--no-prefix", "no_prefix"), dict(is_flag=True, default=None,
                                        help="Print output lines raw; hu's own lines go to stderr.")),
    (("--timestamps/--no-timestamps", "timestamps"), dict(default=None, help="Show HH:MM:SS in the prefix.")),
]
_DISPLAY = 3  # the last three
_F = TypeVar("_F", bound=Callable[..., Any])


@overload
def global_options(fn: _F, *, display: bool = True) -> _F: ...
@overload
def global_options(fn: None = None, *, display: bool = True) -> Callable[[_F], _F]: ...
def global_options(fn: _F | None = None, *, display: bool = True) -> _F | Callable[[_F], _F]:
    """Add the global options to a command or group (``@global_options``).

    ``@global_options(display=False)``, for a command that prints no process output (``hu
    check``, ``hu export``): the display options (``--color``, ``--no-prefix``,
    ``--timestamps``) are still accepted there, as before the subcommand, but hidden from its
    ``--help``, where they would promise an effect they do not have.
    """

    def add(fn: _F) -> _F:
        for i, (flags, settings) in reversed(list(enumerate(_GLOBALS))):
            hidden = not display and i >= len(_GLOBALS) - _DISPLAY
            fn = click.option(*flags, **settings, hidden=hidden)(fn)
        return fn

    return add(fn) if fn is not None else add


@dataclass
class GlobalOptions:
    procfile: str | None
    env_files: tuple[str, ...] | None
    app_root: str | None
    color: bool | None
    no_prefix: bool
    timestamps: bool
    config: str | None = None
    #: The command's options that name process types: flag -> the values given.
    type_options: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def load_app(self, port: int | str | None = None) -> App:
        """The app, with the type names of :attr:`type_options` checked against its Procfile.

        Raises:
            InvalidOption: an unknown type, naming its flag and the known types.
        """
        from honcho_uv.procfile.app import load_app
        from honcho_uv.procfile.formation import check_type_names

        app = load_app(self.app_root, self.procfile, self.env_files, port, config=self.config)
        for flag, values in self.type_options.items():
            check_type_names(app.procfile, split_names(values), flag, allow_all=flag != "--quiet")
        return app

    def env_problems(self) -> list[str]:
        """Every problem of the env files (each bad line), for ``hu check``."""
        from honcho_uv.procfile.app import env_problems

        return env_problems(self.app_root, self.env_files)


_NAMES = ("procfile", "env_files", "app_root", "color", "no_prefix", "timestamps", "config")
#: Command parameters that take process type names, and their flags; all but ``--quiet`` also
#: take ``all`` (the console has no "hide everything": that is ``> /dev/null``).
_TYPE_OPTIONS = {"quiet": "--quiet", "can_die": "--can-die", "restart": "--restart", "stdin": "--stdin"}


def globals_of(ctx: click.Context, /, params: dict[str, Any]) -> GlobalOptions:
    """Merge the global options of the command (*params*, popped) over the group's."""
    group = ctx.find_root().params
    merged: dict[str, Any] = {}
    for name in _NAMES:
        value = params.pop(name, None)
        merged[name] = value if value is not None else group.get(name)
    return GlobalOptions(
        procfile=merged["procfile"],
        env_files=merged["env_files"],
        app_root=merged["app_root"],
        color=merged["color"],
        no_prefix=bool(merged["no_prefix"]),
        timestamps=True if merged["timestamps"] is None else merged["timestamps"],
        config=merged["config"],
        type_options={flag: tuple(params[name]) for name, flag in _TYPE_OPTIONS.items() if params.get(name)},
    )


def want_colour(flag: bool | None, stream: Any = None, environ: dict[str, str] | None = None) -> bool:
    """``--color/--no-color``, then ``NO_COLOR``, then ``FORCE_COLOR``, then "is it a TTY"."""
    env = os.environ if environ is None else environ
    if flag is not None:
        return flag
    if env.get("NO_COLOR"):
        return False
    force = env.get("FORCE_COLOR")
    if force and force != "0":
        return True
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def split_names(values: tuple[str, ...] | None) -> list[str]:
    """``("web,worker", "clock")`` -> ``["web", "worker", "clock"]``."""
    out: list[str] = []
    for value in values or ():
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def parse_ready(specs: tuple[str, ...] | None, names: list[str]) -> dict[str, Probe]:
    """``("web=http:/healthz", "db=tcp")`` -> ``{name: Probe}`` (``--ready NAME=PROBE``).

    Raises:
        InvalidOption: ``--ready``, naming the bad name or probe.
    """
    out = {}
    for spec in specs or ():
        name, eq, text = spec.partition("=")
        if not eq or name not in names:
            raise InvalidOption("--ready", f"expected NAME=PROBE for one of {', '.join(names)}, got {spec[:60]!r}")
        out[name] = models.parse_probe(text, f"--ready {name}")
    return out
