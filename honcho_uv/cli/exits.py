"""The one way the command line ends on an error: ``PROG: message`` on stderr, the error's code.

Every :class:`~honcho_uv.errors.HuError` a command lets through ends here (``hu`` through its
click group, ``gafferd`` through its own entry point): one line, never a traceback.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from honcho_uv.errors import HuError

__all__ = ["fail", "usage_line"]


def fail(exc: HuError, prog: str = "hu") -> NoReturn:
    """Print ``PROG: message`` on stderr and exit with ``exc.exit_code``."""
    click.echo(f"{prog}: {exc}", err=True)
    sys.exit(exc.exit_code)


def usage_line(exc: click.UsageError) -> str:
    """``hu: start: no such option '-v' (see 'hu start --help')``: click's message, in one line."""
    message = exc.format_message().replace("\n", " ").rstrip(".")
    message = message[:1].lower() + message[1:]
    path = exc.ctx.command_path if exc.ctx is not None else "hu"
    prog, _, command = path.partition(" ")
    return f"{prog}: {command + ': ' if command else ''}{message} (see '{path} --help')"
