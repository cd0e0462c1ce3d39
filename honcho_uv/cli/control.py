"""Commands that drive a running ``hu start`` or daemon through the HTTP API.

``hu ps``, ``hu restart``, ``hu stop``, ``hu start-process``, ``hu scale``, ``hu logs``,
``hu stats``, ``hu send``, ``hu signal`` and ``hu quit``. Each finds the server the way
``hu start`` chose its socket (``--socket``/``HU_SOCKET``, else the runtime directory keyed
by the app root ``-d``), or uses ``--url``/``HU_URL`` with ``--token``/``HU_TOKEN``. All go
through :class:`honcho_uv.http.client.Client`; errors are one line and a non-zero exit.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from honcho_uv.cli.options import globals_of
from honcho_uv.cli.tables import (
    bytes_,
    console_names,
    duration,
    log_line,
    name_width,
    parse_duration,
    ps_rows,
    stats_table,
    table,
    yes_no,
)
from honcho_uv.errors import InvalidOption, NotRunning, UnknownProcess
from honcho_uv.http.client import Client
from honcho_uv.models import split_instance_name, validate_name
from honcho_uv.models.sizes import MAX_LOG_LINES
from honcho_uv.rundir import AppLock, runtime_dir, socket_path

__all__ = [
    "logs_command",
    "ps_command",
    "quit_command",
    "restart_command",
    "scale_command",
    "send_command",
    "signal_command",
    "start_process_command",
    "stats_command",
    "stop_command",
]

#: A client waits this much longer than the server's own wait, to hear its answer.
CALL_MARGIN_S = 10.0


def control_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--token", envvar="HU_TOKEN", default=None, metavar="TOKEN",
                      help="Bearer token for --url (env HU_TOKEN).")(fn)
    fn = click.option("--url", envvar="HU_URL", default=None, metavar="URL",
                      help="Talk to http://host:port instead of the unix socket (env HU_URL).")(fn)
    fn = click.option("--socket", "socket_", envvar="HU_SOCKET", default=None, metavar="PATH",
                      help="Control socket (env HU_SOCKET; default: the one of the app root).")(fn)
    # Only -d matters here (it keys the socket). -f stays a group option (``hu -f X ps``) so
    # that ``hu logs -f`` can mean "follow", as in tail, overmind and foreman.
    return click.option("-d", "--app-root", metavar="DIR", default=None,
                        help="App root whose running hu to talk to (default: the current directory).")(fn)


def run_control(ctx: click.Context, params: dict[str, Any], body: Callable[[Client], int | None]) -> None:
    """Connect as the options say (``--url``, ``--socket``, else the app root's socket), run
    *body*, exit with its code. Nothing answering on the app root's socket is an error that
    says where a hu may be instead."""
    opts = globals_of(ctx, params)
    sock, url, token = params.pop("socket_"), params.pop("url"), params.pop("token")
    root = Path(opts.app_root or ".").resolve()
    if url and not sock:
        client = Client(url=url, token=token)
    else:
        client = Client(socket_path=sock or str(socket_path(root)), token=token)
    try:
        code = body(client)
    except KeyboardInterrupt:
        code = 0  # Ctrl-C ends a follow (-f) or a live view: that is success
    except NotRunning as exc:
        raise (exc if sock or url else _where_else(root, exc)) from None
    ctx.exit(code or 0)


def instance_id(client: Client, name: str) -> int:
    """The internal id of the running instance *name* (``NAME.N``; ``NAME`` = its first)."""
    type_name, number = split_instance_name(name)
    pids = client.call("GET", f"/processes/{type_name}/pids")["processes"]
    target = [p for p in pids if number is None or p["number"] == number]
    if not target:
        raise UnknownProcess(f"{name} is not running")
    return int(target[0]["id"])


def check_known(names: list[str], processes: list[dict[str, Any]]) -> None:
    """Raise UnknownProcess for the first of *names* (types or ``NAME.N``) that the running hu
    does not have, listing those it has, so a typo acts on nothing."""
    types = [p["name"] for p in processes]
    instances = {i["name"] for p in processes for i in p.get("instances", ())}
    for name in names:
        if name not in types and name not in instances and name.partition(".")[0] not in types:
            raise UnknownProcess(f"no process named {name!r} (known: {', '.join(types) or 'none'})")


def _where_else(root: Path, exc: NotRunning) -> NotRunning:
    """Where a hu may be, when none answers on this app root's socket: the one that holds the
    app root's lock (it was started with --socket), or a daemon on its default socket."""
    pid = AppLock(root).holder()
    if pid is not None:
        return NotRunning(f"hu (pid {pid}) runs in {root}, but on another socket than {socket_path(root)}: "
                          f"give its --socket (or HU_SOCKET)")
    daemon = runtime_dir() / "gafferd.sock"
    if daemon.exists():
        return NotRunning(f"{exc}; a daemon may be listening on {daemon}: --socket {daemon}")
    return exc


@click.command("ps")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per instance).")
@control_options
@click.pass_context
def ps_command(ctx: click.Context, /, as_json: bool, **params: Any) -> None:
    """List the processes: name, state, ready (yes, no, or - without a probe), pid, uptime,
    restarts, CPU, memory."""

    def body(client: Client) -> int:
        processes = (client.call("GET", "/processes"))["processes"]
        stats = {s["pid"]: s for t in (client.call("GET", "/stats"))["stats"] for s in t["stats"]}
        rows = ps_rows(processes, stats)
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return 0
        click.echo(table([[r["name"], r["state"], yes_no(r["ready"]), r["os_pid"] or "-", duration(r["uptime"]),
                            r["restarts"], "-" if r["cpu"] is None else f"{r['cpu']:.1f}%", bytes_(r["mem"])]
                           for r in rows],
                          ["NAME", "STATE", "READY", "PID", "UPTIME", "RESTARTS", "CPU", "MEM"]))
        return 0

    run_control(ctx, params, body)


def _action_command(cmd_name: str, action: str, verb: str, doc: str, *, instance: bool, optional: bool = False) -> Any:
    @click.command(cmd_name, help=doc)
    @click.argument("names", nargs=-1, required=not optional, metavar="NAME[.N]..." if instance else "NAME...")
    @control_options
    @click.pass_context
    def command(ctx: click.Context, /, names: tuple[str, ...], **params: Any) -> None:
        for name in names:
            split_instance_name(name) if instance else validate_name(name)

        def body(client: Client) -> int:
            processes = client.call("GET", "/processes")["processes"]
            targets = list(names) or [p["name"] for p in processes if p["state"] != "STOPPED"]
            check_known(targets, processes)  # every name before acting on any
            for name in targets:
                client.call("POST", f"/processes/{name}/{action}")
                click.echo(f"{verb} {name}")
            return 0

        run_control(ctx, params, body)

    return command


restart_command = _action_command("restart", "_restart", "restarted",
                                  "Restart processes (all running ones by default); "
                                  "NAME.N restarts one instance.", instance=True, optional=True)
stop_command = _action_command("stop", "_stop", "stopped", "Stop processes; NAME.N stops one instance (it stays "
                               "stopped until started again).", instance=True)
start_process_command = _action_command("start-process", "_start", "started", "Start stopped processes of a running hu "
                                        "(`hu start` itself runs the Procfile); NAME.N starts one instance.",
                                        instance=True)


@click.command("scale")
@click.argument("counts", nargs=-1, required=True, metavar="NAME=N...")
@control_options
@click.pass_context
def scale_command(ctx: click.Context, /, counts: tuple[str, ...], **params: Any) -> None:
    """Set instance counts: web=5 worker=2 (also web=+1, web=-1)."""
    wanted: list[tuple[str, str]] = []
    for item in (c for arg in counts for c in arg.split(",") if c.strip()):
        name, eq, n = item.partition("=")
        n = n.strip()
        if not eq or not n.lstrip("+-=").isdigit():
            raise InvalidOption("scale", f"expected NAME=N, NAME=+N or NAME=-N, got {item!r}")
        wanted.append((validate_name(name.strip()), n))

    def body(client: Client) -> int:
        check_known([name for name, _ in wanted], client.call("GET", "/processes")["processes"])
        for name, n in wanted:
            count = n if n[0] in "+-" else int(n.lstrip("="))
            result = client.call("POST", f"/processes/{name}/_scale", {"n": count})
            click.echo(f"{name}: {result['numprocesses']}")
        return 0

    run_control(ctx, params, body)



@click.command("logs")
@click.argument("name", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--lines", default=100, show_default=True, type=click.IntRange(0, MAX_LOG_LINES),
              help=f"How many recent lines (at most {MAX_LOG_LINES}; the log files have the rest).")
@click.option("--since", default=None, metavar="DURATION", help="Only lines of the last DURATION (30s, 5m, 2h, 1d).")
@control_options
@click.pass_context
def logs_command(ctx: click.Context, /, name: str | None, follow: bool, lines: int, since: str | None,
                 **params: Any) -> None:
    """Print recent output and hu's system lines (the ring buffer, or the log files for an
    instance whose older lines it no longer holds), then new output with -f."""
    if name is not None:
        split_instance_name(name)
    path = f"/logs/{name}" if name else "/logs"
    query = {"lines": str(lines)}
    if since is not None:
        query["since"] = f"{parse_duration(since, '--since'):g}"

    def body(client: Client) -> int:
        processes = client.call("GET", "/processes")["processes"]
        check_known([name] if name else [], processes)
        names = console_names(processes)  # names padded to the widest, as on the console
        if not follow:
            got = (client.call("GET", path, params=query))["lines"]
            width = name_width([*names, *(line["name"] for line in got)])
            for line in got:
                click.echo(log_line(line, width))
            return 0
        width = name_width(names)
        for line in client.stream(path, params={**query, "follow": "1"}):
            width = max(width, len(line["name"]))
            click.echo(log_line(line, width))
        return 0

    run_control(ctx, params, body)


@click.command("stats")
@click.argument("name", required=False)
@click.option("--once", is_flag=True, help="Print one snapshot and exit (the default when not on a terminal).")
@control_options
@click.pass_context
def stats_command(ctx: click.Context, /, name: str | None, once: bool, **params: Any) -> None:
    """CPU and memory of each process, live (Ctrl-C to quit)."""
    if name is not None:
        validate_name(name)
    once = once or not sys.stdout.isatty()

    def table_now(client: Client) -> str:  # in the console's order and padding
        processes = client.call("GET", "/processes")["processes"]
        check_known([name] if name else [], processes)
        reply = client.call("GET", f"/stats/{name}" if name else "/stats")["stats"]
        return stats_table(reply if name else [s for t in reply for s in t["stats"]], console_names(processes))

    def body(client: Client) -> int:
        if once:
            click.echo(table_now(client))
            return 0
        while True:  # a live view: redrawn once a second, as top does
            click.echo("\x1b[H\x1b[2J" + table_now(client))
            time.sleep(1.0)

    run_control(ctx, params, body)


@click.command("send")
@click.argument("name")
@click.argument("text")
@click.option("--no-newline", "-n", is_flag=True, help="Do not add a newline after TEXT.")
@control_options
@click.pass_context
def send_command(ctx: click.Context, /, name: str, text: str, no_newline: bool, **params: Any) -> None:
    """Write TEXT to the input of instance NAME.N (a tty instance, or one started with --stdin)."""

    def body(client: Client) -> int:
        data = text if no_newline else text + "\n"
        client.call("POST", f"/streams/{instance_id(client, name)}/stdin", {"data": data})
        return 0

    run_control(ctx, params, body)


@click.command("signal")
@click.argument("name")
@click.argument("sig", metavar="SIGNAL")
@control_options
@click.pass_context
def signal_command(ctx: click.Context, /, name: str, sig: str, **params: Any) -> None:
    """Send SIGNAL (TERM INT HUP USR1 USR2 QUIT KILL CONT STOP WINCH) to NAME or NAME.N."""
    split_instance_name(name)

    def body(client: Client) -> int:
        check_known([name], client.call("GET", "/processes")["processes"])
        result = client.call("POST", f"/processes/{name}/_signal", {"signal": sig})
        click.echo(f"{result['signal']} sent to {name} ({result['signalled']} process(es))")
        return 0

    run_control(ctx, params, body)


@click.command("quit")
@control_options
@click.pass_context
def quit_command(ctx: click.Context, /, **params: Any) -> None:
    """Stop every process and the running hu (it exits 0)."""

    def body(client: Client) -> int:
        client.call("POST", "/_quit")
        return 0

    run_control(ctx, params, body)
