"""The ``hu`` command line.

The only layer that picks the loop (cli/loop.py), prints errors and exits. Every
:class:`~honcho_uv.errors.HuError` becomes one line ``hu: message`` on stderr and its exit
code; nothing the user can cause ends in a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from honcho_uv._version import __version__
from honcho_uv.cli import export_cmd
from honcho_uv.cli.options import global_options, globals_of
from honcho_uv.cli.control import COMMANDS as CONTROL_COMMANDS
from honcho_uv.cli.daemon import daemon_command
from honcho_uv.cli.run import run_command
from honcho_uv.cli.start import start_command
from honcho_uv.errors import HuError, ProcfileError

__all__ = ["cli", "main"]


class _Group(click.Group):
    """Turns HuError into one line on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HuError as exc:
            click.echo(f"hu: {exc}", err=True)
            ctx.exit(exc.exit_code)


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
@global_options
@click.pass_context
def check_command(ctx: click.Context, **params: Any) -> None:
    """Validate the Procfile and env files; list the process types."""
    opts = globals_of(ctx, params)
    problems: list[str] = []
    names: list[str] = []
    try:
        app_procfile = opts.load_app()
        names = app_procfile.procfile.names
    except ProcfileError as exc:
        problems.extend(str(e) for e in exc.problems)  # every wrong line, not only the first
    except HuError as exc:
        problems.append(str(exc))
    if problems:
        for problem in problems:
            click.echo(f"hu: {problem}", err=True)
        ctx.exit(1)
    click.echo(f"Valid procfile detected ({', '.join(names)})", err=True)


cli.add_command(start_command)
cli.add_command(run_command)
for _command in [*CONTROL_COMMANDS, daemon_command]:
    cli.add_command(_command)


export_cmd.register(cli)


def main() -> None:
    """Console entry point."""
    try:
        cli.main(prog_name="hu")
    except KeyboardInterrupt:
        sys.exit(130)
