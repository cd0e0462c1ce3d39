"""The one way the command line ends on an error: ``PROG: message`` on stderr, the error's code.

Every :class:`~honcho_uv.errors.HuError` a command lets through ends here (``hu`` through its
click group, ``gafferd`` through its own entry point): one line, never a traceback.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from honcho_uv.errors import HuError

__all__ = ["fail"]


def fail(exc: HuError, prog: str = "hu") -> NoReturn:
    """Print ``PROG: message`` on stderr and exit with ``exc.exit_code``."""
    click.echo(f"{prog}: {exc}", err=True)
    sys.exit(exc.exit_code)
