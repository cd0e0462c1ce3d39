"""The ``hu`` command line (placeholder until the CLI issue lands: only ``--version``)."""

from __future__ import annotations

import click

from honcho_uv._version import __version__
from honcho_uv.cli import export_cmd


@click.group()
@click.version_option(__version__, "-v", "--version", prog_name="hu", message="%(prog)s %(version)s")
def cli() -> None:
    """hu: run the processes of a Procfile."""


export_cmd.register(cli)


def main() -> None:
    cli(prog_name="hu")
