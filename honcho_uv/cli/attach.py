"""``hu attach NAME.N``: your terminal connected to a running instance until ``Ctrl-]``.

A tty instance gets the terminal in raw mode (every key goes to the instance's pty, ``^C``
included, which its line discipline turns into SIGINT for the instance alone); an instance
started with ``--stdin`` gets line-mode input (a line holding only ``Ctrl-]``, or ``Ctrl-D``,
detaches). Its output is shown live. The terminal's modes are restored however it ends.
"""

from __future__ import annotations

import contextlib
import os
import sys
import termios
import tty
from collections.abc import Iterator
from typing import Any

import click

from honcho_uv.cli.control import control_options, instance_id, run_control
from honcho_uv.cli.loop import run_loop
from honcho_uv.core.terminal import terminal_size
from honcho_uv.http.client import Client

__all__ = ["attach_command"]


@click.command("attach")
@click.argument("name", metavar="NAME.N")
@click.option("--force", is_flag=True, help="Take over from the client attached now.")
@control_options
@click.pass_context
def attach_command(ctx: click.Context, /, name: str, force: bool, **params: Any) -> None:
    """Connect this terminal to instance NAME.N (a tty instance, or one started with --stdin);
    Ctrl-] detaches and leaves it running."""

    def body(client: Client) -> int:
        from honcho_uv.http.attach_client import attach  # aiohttp: loaded by this command only

        target = instance_id(client, name)
        # The same checks as the websocket, answered with a reason a refused handshake lacks.
        info = client.call("GET", f"/attach/{target}", params={"force": "1"} if force else None)
        raw = bool(info["tty"]) and os.isatty(0)
        key = "Ctrl-]" if raw else "a line holding Ctrl-], or Ctrl-D"
        click.echo(f"hu: attached to {info['name']} (detach: {key})", err=True)
        with _raw_mode(0) if raw else contextlib.nullcontext():
            why = run_loop(attach(
                socket_path=client.socket_path, url=client.url, token=client.token, instance_id=target,
                force=force, raw=raw, input_fd=0, output_fd=1,
                size=terminal_size if info["tty"] and os.isatty(1) else None, say=_say))
        click.echo(f"\r\nhu: {why}" if raw else f"hu: {why}", err=True)
        return 0

    run_control(ctx, params, body)


def _say(message: str) -> None:
    sys.stderr.write(f"\r\nhu: {message}\r\n")
    sys.stderr.flush()


@contextlib.contextmanager
def _raw_mode(fd: int) -> Iterator[None]:
    """The terminal *fd* in raw mode (keys as typed, no echo, no signals from ``^C``), but
    with output post-processing kept, so the instance's ``\\n`` still starts a new line here
    (its own pty has it off, to keep its bytes exact for hu's console and log files)."""
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        attrs = termios.tcgetattr(fd)
        attrs[1] |= termios.OPOST | termios.ONLCR
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)
