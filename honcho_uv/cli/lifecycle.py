"""``hu wait`` and ``hu down``: a hu started in the background, until it is ready, and until
it is gone (``hu start -D && hu wait && pytest; hu down``).

Both talk to it as the other control commands do (:mod:`honcho_uv.cli.control`); what they
add is the time around it: a hu launched a moment ago may not answer yet, and a stopping
one answers until its last process has exited.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from honcho_uv.cli.control import CALL_MARGIN_S, control_options, run_control
from honcho_uv.errors import ControlError, InvalidOption, NotRunning
from honcho_uv.http.client import Client
from honcho_uv.models import validate_name
from honcho_uv.rundir import AppLock

__all__ = ["down_command", "wait_command"]

STARTUP_S = 2.0  # how long a hu launched in the background may take to hold its app's lock


@click.command("wait")
@click.argument("names", nargs=-1, metavar="[NAME...]")
@click.option("--timeout", default=60.0, type=float, show_default=True, metavar="SECONDS",
              help="Give up after this long.")
@control_options
@click.pass_context
def wait_command(ctx: click.Context, /, names: tuple[str, ...], timeout: float, **params: Any) -> None:
    """Wait until the named processes (default: all) are ready.

    Exit 0 once they are, 1 on timeout (naming those that are not), 2 if one failed (it
    exited before it was ready, or gave up). A hu not answering yet is waited for too.
    """
    for name in names:
        validate_name(name)
    if timeout < 0:
        raise InvalidOption("--timeout", "must be >= 0")

    app_lock = _app_lock(params)

    def body(client: Client) -> int:
        started = time.monotonic()
        while True:
            left = max(0.0, started + timeout - time.monotonic())
            try:
                result = client.call("GET", "/wait", params={"timeout": f"{left:g}", "names": ",".join(names)},
                                     timeout=left + CALL_MARGIN_S)
                break
            except NotRunning:
                # A hu or daemon launched in the background a moment ago has not bound its
                # socket yet: still "not ready", within the same timeout. In an app root, only
                # while a hu holds its lock, or may yet take it (nothing runs: say so at once).
                idle = app_lock is not None and app_lock.holder() is None and time.monotonic() - started > STARTUP_S
                if idle or not left:
                    raise
                time.sleep(0.1)
        if result["failed"]:
            for name, why in result["failed"].items():
                click.echo(f"hu: {name} failed: {why}", err=True)
            return 2
        if result["waiting"]:
            click.echo(f"hu: not ready after {timeout:g}s: {', '.join(result['waiting'])}", err=True)
            return 1
        return 0

    run_control(ctx, params, body)


def _app_lock(params: dict[str, Any]) -> AppLock | None:
    """This app root's lock; None behind --socket or --url (that hu may belong to another)."""
    return None if params["socket_"] or params["url"] else AppLock(Path(params["app_root"] or ".").resolve())


@click.command("down")
@click.option("--timeout", default=120.0, type=float, show_default=True, metavar="SECONDS",
              help="Give up waiting after this long.")
@control_options
@click.pass_context
def down_command(ctx: click.Context, /, timeout: float, **params: Any) -> None:
    """Stop the hu running in this app root (started with -D or not); return once every
    process is gone (exit 0)."""
    app_lock = _app_lock(params)
    from honcho_uv.cli.detach import wait_for_lock  # here: only hu down needs it

    def body(client: Client) -> int:
        deadline = time.monotonic() + timeout
        try:
            # The server ends its streams when it closes, after every process has exited.
            events = client.stream("/watch", timeout=timeout)
            client.call("POST", "/_quit")
        except NotRunning:
            if app_lock is not None and app_lock.holder() is not None:
                raise  # a hu runs here, on a socket we were not told: _run says which
            click.echo("hu: nothing is running here", err=True)
            return 0
        try:
            for _ in events:
                pass
        except TimeoutError:
            raise ControlError(f"hu did not stop within {timeout:g}s") from None
        # A hu start of this app root lets go of its lock only once it exits.
        if app_lock is not None and not wait_for_lock(app_lock.path, max(0.0, deadline - time.monotonic())):
            raise ControlError(f"hu did not stop within {timeout:g}s")
        return 0

    run_control(ctx, params, body)
