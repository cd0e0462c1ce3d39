"""``hu ui``: print the URL (with its token) of the dashboard of the hu running in this app root.

The URL comes from the running hu over its control socket (``GET /ui``), which only its
owner can use (0600, peer uid checked); a TCP connection is refused the token, so there is
no ``--url`` here. The token is printed on stdout and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

import click

from honcho_uv.http.client import Client
from honcho_uv.rundir import socket_path

__all__ = ["ui_command"]


@click.command("ui")
@click.option("-d", "--app-root", metavar="DIR", default=None,
              help="App root whose running hu to ask (default: the current directory).")
@click.option("--socket", "socket_", envvar="HU_SOCKET", default=None, metavar="PATH",
              help="Control socket (env HU_SOCKET; default: the one of the app root; a daemon's --bind unix:PATH).")
def ui_command(app_root: str | None, socket_: str | None) -> None:
    """Print the URL (with its token) of the dashboard of the hu running here (hu start --ui)."""
    path = socket_ or str(socket_path(Path(app_root or ".").resolve()))
    click.echo(Client(socket_path=path).call("GET", "/ui")["url"])
