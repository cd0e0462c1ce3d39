"""The ``hu`` command line.

The only layer that picks the loop (cli/loop.py), prints errors and exits. Every
:class:`~honcho_uv.errors.HuError` becomes one line ``hu: message`` on stderr and its exit
code; nothing the user can cause ends in a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from honcho_uv._version import __version__
from honcho_uv.cli.exits import fail, usage_line
from honcho_uv.cli.options import global_options, globals_of
from honcho_uv.errors import EnvFileError, HuError, ProcfileError

__all__ = ["cli", "main"]

#: Subcommands imported only when used: `hu ps` must not pay for the Manager, `hu start` not
#: for the HTTP client, `hu --version` for neither (aiohttp alone costs about 0.2 s to import).
LAZY_COMMANDS = {
    "start": "honcho_uv.cli.start:start_command",
    "run": "honcho_uv.cli.run:run_command",
    "export": "honcho_uv.cli.export:export_command",
    "daemon": "honcho_uv.cli.daemon:daemon_command",
    "ps": "honcho_uv.cli.control:ps_command",
    "restart": "honcho_uv.cli.control:restart_command",
    "stop": "honcho_uv.cli.control:stop_command",
    "start-process": "honcho_uv.cli.control:start_process_command",
    "scale": "honcho_uv.cli.control:scale_command",
    "logs": "honcho_uv.cli.control:logs_command",
    "stats": "honcho_uv.cli.control:stats_command",
    "send": "honcho_uv.cli.control:send_command",
    "attach": "honcho_uv.cli.attach:attach_command",
    "signal": "honcho_uv.cli.control:signal_command",
    "quit": "honcho_uv.cli.control:quit_command",
    "wait": "honcho_uv.cli.lifecycle:wait_command",
    "down": "honcho_uv.cli.lifecycle:down_command",
    "ui": "honcho_uv.cli.ui:ui_command",
}


class _Group(click.Group):
    """Loads subcommands on first use; turns HuError into one line on stderr and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[name].split(":")
            command = getattr(importlib.import_module(module), attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HuError as exc:
            fail(exc)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-v", "--version", prog_name="hu", message="%(prog)s %(version)s")
@global_options
def cli(**_: Any) -> None:
    """hu: run the processes of a Procfile, control them, export them."""


@cli.command("version")
def version_command() -> None:
    """Print the version."""
    click.echo(f"hu {__version__}")


@cli.command("check")
@global_options(display=False)
@click.pass_context
def check_command(ctx: click.Context, /, **params: Any) -> None:
    """Validate the Procfile and env files; list the process types.

    Lines other Procfile readers treat differently, and variable names a shell cannot use,
    are warnings ('hu: FILE:LINE: warning: ...'); the exit code stays 0 for them.
    """
    opts = globals_of(ctx, params)
    problems: list[str] = []
    try:
        app = opts.load_app()
    except ProcfileError as exc:
        problems.extend(str(e) for e in exc.problems)  # every wrong line, not only the first
    except EnvFileError as exc:
        problems.extend(opts.env_problems() or [str(exc)])  # every bad line of every env file
    except HuError as exc:
        problems.append(str(exc))
    if problems:
        for problem in problems:
            click.echo(f"hu: {problem}", err=True)
        ctx.exit(1)
    for warning in app.warnings:
        click.echo(f"hu: {warning}", err=True)
    click.echo(f"Valid procfile detected ({', '.join(app.procfile.names)})", err=True)


def main() -> None:
    """Console entry point. A mistake on the command line is one line naming the command and
    the flag (``hu: start: no such option '-v' (see 'hu start --help')``) and exit 2."""
    try:
        code = cli.main(prog_name="hu", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()  # `hu` alone: the help, as git does
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        click.echo(usage_line(exc), err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"hu: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.Abort):
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)

