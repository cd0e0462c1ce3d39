"""``hu start``: run the Procfile's processes in the foreground."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from honcho_uv.cli.detach import DETACH_FD_VAR, report_verdict, start_detached
from honcho_uv.cli.loop import run_loop
from honcho_uv.cli.options import GlobalOptions, global_options, globals_of, parse_ready, split_names, want_colour
from honcho_uv.console.logbuffer import LogBuffer
from honcho_uv.console.logfiles import DEFAULT_KEEP, DEFAULT_MAX_SIZE, LogFiles, parse_size, prepare_log_dir
from honcho_uv.console.printer import Printer
from honcho_uv.core.fdlimit import ensure_open_files
from honcho_uv.core.foreground import Foreground
from honcho_uv.core.manager import Manager
from honcho_uv.core.terminal import terminal_size
from honcho_uv.core.watch import Watcher
from honcho_uv.daemon.guardian import Keeper
from honcho_uv.daemon.state import app_state_path
from honcho_uv.errors import HuError, InvalidOption
from honcho_uv.http.lazy import ControlApi
from honcho_uv.models import FlappingInfo
from honcho_uv.procfile.app import App, expand_instances
from honcho_uv.procfile.formation import parse_formation, resolve_formation
from honcho_uv.procfile.templates import app_templates, tty_types, with_dependencies
from honcho_uv.rundir import AppLock, socket_path

__all__ = ["start_command"]

DEFAULT_STOP_TIMEOUT_S = 5.0


@click.command("start")
@click.argument("processes", nargs=-1)
@click.option("-c", "--concurrency", "concurrency", multiple=True, metavar="NAME=N,...",
              help="How many of each type: web=3,worker=0,all=1 (repeatable).")
@click.option("-m", "--formation", "formation", multiple=True, metavar="NAME=N,...", help="Alias of --concurrency.")
@click.option("-x", "--exclude", multiple=True, metavar="NAME", help="Do not run these types (repeatable, commas).")
@click.option("-p", "--port", default=None, metavar="PORT", help="Base port (default: PORT from .env, else 5000).")
@click.option("-t", "--timeout", default=None, type=float, metavar="SECONDS",
              help="Seconds between the stop signal and SIGKILL (default: [start] timeout, else 5).")
@click.option("-q", "--quiet", multiple=True, metavar="NAME", help="Hide these types' output (repeatable, commas).")
@click.option("--can-die", multiple=True, metavar="NAME|all",
              help="These types may exit without stopping the rest (repeatable, commas).")
@click.option("--restart", "restart", multiple=True, metavar="NAME|all",
              help="Restart these types when they exit (with flapping detection).")
@click.option("--flapping", default=None, metavar="ATTEMPTS,WINDOW,RETRY_IN,MAX_RETRY",
              help="Flapping rule for --restart types (default 2,1,7,5: 2 exits in 1 s wait 7 s; FATAL after 5).")
@click.option("--stdin", "stdin", multiple=True, metavar="NAME|all",
              help="Give these types a stdin pipe, written with `hu send NAME.N TEXT` (default: /dev/null).")
@click.option("--tty", "tty", type=click.Choice(["auto", "always", "never"]), default=None,
              help="A pseudo-terminal per instance (colours, no buffering): auto = when hu's output is a "
                   "terminal (default; hu.toml's tty per type decides first); always; never = pipes.")
@click.option("--ready", "ready", multiple=True, metavar="NAME=PROBE",
              help="How NAME tells it is ready: started, SECONDS, tcp[:PORT], http[:/PATH], log:REGEX, "
                   "exec:CMD, notify (replaces hu.toml's ready).")
@click.option("--log-dir", default=None, metavar="DIR",
              help="Write each instance's output to DIR/NAME.N.log (created 0700 if missing).")
@click.option("--log-max-size", default=None, metavar="SIZE", help="Rotate a log file past SIZE (default 10M).")
@click.option("--log-keep", default=None, type=int, metavar="N", help="Rotated files to keep (default 5).")
@click.option("--watch", "watch", multiple=True, is_flag=False, flag_value="", metavar="[NAME=GLOB]",
              help="Restart a type when its hu.toml watch globs match a change; NAME=GLOB adds one (put it "
                   "after the process names, or write --watch=NAME=GLOB).")
@click.option("--no-watch", is_flag=True, help="No watching, whatever else was given.")
@click.option("-D", "--detach", is_flag=True,
              help="Run in the background: return once every process is ready (exit 0), or with the failure.")
@click.option("--socket", "socket_", envvar="HU_SOCKET", default=None, metavar="PATH",
              help="Serve the control API on this unix socket (env HU_SOCKET; default: the app root's socket in "
                   "the runtime dir).")
@click.option("--ui", "ui", default=None, metavar="[HOST:]PORT",
              help="Serve the live web dashboard on this port (127.0.0.1 unless a HOST is given); prints its URL.")
@click.option("--allow-remote", is_flag=True, help="Let --ui listen on a non-loopback address (the token is needed).")
@global_options
@click.pass_context
def start_command(ctx: click.Context, /, **params: Any) -> None:
    """Run the processes of the Procfile (all, or the PROCESSES named)."""
    opts = globals_of(ctx, params)
    app = opts.load_app(params["port"])
    defaults = app.config.start
    if params["port"] is None and defaults.port is not None:  # [start] port stands for -p
        app = dataclasses.replace(app, port_base=defaults.port)
    if params["timeout"] is None:
        params["timeout"] = defaults.timeout if defaults.timeout is not None else DEFAULT_STOP_TIMEOUT_S
    if params["timeout"] < 0:
        raise InvalidOption("--timeout", "must be >= 0")
    specs = [*params["concurrency"], *params["formation"]] or ([defaults.formation] if defaults.formation else [])
    formation = parse_formation(specs)
    exclude = split_names(params["exclude"])
    counts = resolve_formation(app.procfile, formation, only=params["processes"], exclude=exclude)
    zero = [name for name, n in formation.items() if n == 0] + exclude
    counts = with_dependencies(app, counts, explicit=zero)
    params["ready"] = parse_ready(params["ready"], app.procfile.names)
    params["log_files"] = _log_files(app, params)
    params["watch_rules"] = _watch_rules(app, params)
    # -q, --can-die, --restart and --stdin names were checked by opts.load_app, naming their flag.
    flapping = (FlappingInfo.coerce(params["flapping"], "--flapping") if params["flapping"] else None) or FlappingInfo()
    ensure_open_files(sum(counts.values()))
    params["verdict_fd"] = None
    if params["detach"]:
        if DETACH_FD_VAR not in os.environ:
            if params["ui"] is not None:  # a bad or busy --ui address is said here, not lost
                _dashboard(params, None).close_unstarted()  # in the background hu's exit code
            ctx.exit(start_detached(app.root))  # everything above was checked here, in the foreground
        # We are the background hu: the fd must not reach the processes' environment.
        params["verdict_fd"] = int(os.environ.pop(DETACH_FD_VAR))
    with AppLock(app.root):
        code = run_loop(_run(app, counts, opts, params, flapping))
    ctx.exit(code)


async def _run(app: App, counts: dict[str, int], opts: GlobalOptions, params: dict[str, Any],
               flapping: FlappingInfo) -> int:
    loop = asyncio.get_running_loop()
    instances = expand_instances(app, counts)
    printer = Printer(
        colour=want_colour(opts.color), prefix=not opts.no_prefix, timestamps=opts.timestamps,
        quiet=split_names(params["quiet"]), width=max((len(i.name) for i in instances), default=6),
    )
    foreground = Foreground(loop, printer.system, can_die=split_names(params["can_die"]), say_exit=printer.exit_line)
    printer.on_broken = lambda: foreground.shutdown(141, "output closed", quiet=True)
    manager = Manager()
    foreground.attach(manager)
    # From the first line on, for `hu logs`; it reads the log files for lines the ring dropped.
    logs = LogBuffer(log_dir=params["log_files"][0] if params["log_files"] is not None else None)
    control = None
    verdict: asyncio.Task[None] | None = None
    applications: list[Any] = [printer, logs]
    dashboard = _dashboard(params, logs)
    if dashboard is not None:
        applications.append(dashboard)
    if params["log_files"] is not None:
        directory, max_size, keep = params["log_files"]
        applications.append(LogFiles(directory, max_size=max_size, keep=keep, say=printer.system))
    if params["watch_rules"]:
        ignore = [params["log_files"][0]] if params["log_files"] is not None else []
        applications.append(Watcher(app.root, params["watch_rules"], ignore=ignore, say=printer.system))
    keeper: Keeper | None = None
    try:
        manager.start(applications=applications)
        # Before anything is spawned: what a killed hu left may hold the ports.
        keeper = await Keeper.start(manager, app_state_path(app.root), say=printer.system,
                                    stderr=None if params["verdict_fd"] is not None else 2)
        foreground.install_signals()
        if dashboard is not None:
            printer.system(f"dashboard on {dashboard.url}")
        control = _control_api(manager, foreground, logs, params["socket_"] or str(socket_path(app.root)),
                               ui_url=None if dashboard is None else lambda: dashboard.url)
        ttys = tty_types(app, params["tty"], terminal=sys.stdout.isatty() and params["verdict_fd"] is None)
        if ttys:
            _follow_terminal_size(loop, manager)
        for template in app_templates(app, counts, timeout=params["timeout"], restart=split_names(params["restart"]),
                                      flapping=flapping, stdin=split_names(params["stdin"]), ready=params["ready"],
                                      tty=ttys):
            manager.add_template(template, start=template.numprocesses > 0)
        foreground.watch_idle()
        if params["verdict_fd"] is not None:
            verdict = loop.create_task(report_verdict(manager, params["verdict_fd"], lambda: foreground.failure))
        code = await foreground.done
        if foreground.failure is not None:
            click.echo(f"hu: {foreground.failure}", err=True)
        return code
    finally:
        foreground.remove_signals()
        loop.remove_signal_handler(signal.SIGWINCH)
        if manager.started:
            manager.stop()
            await manager.wait_stopped()
        if keeper is not None:
            keeper.release()
        if verdict is not None:
            await verdict  # ours: the caller of hu start -D learns the verdict before we exit
        if control is not None:
            await control.wait_closed()
        if dashboard is not None:
            await dashboard.wait_closed()


def _follow_terminal_size(loop: asyncio.AbstractEventLoop, manager: Manager) -> None:
    """Give tty children hu's terminal size (80x24 without one), and every change of it."""
    manager.resize_terminals(*terminal_size())
    loop.add_signal_handler(signal.SIGWINCH, lambda: manager.resize_terminals(*terminal_size()))


def _log_files(app: App, params: dict[str, Any]) -> tuple[Path, int, int] | None:
    """``(directory, max size, files kept)`` from the flags, else hu.toml's [start]; None
    without a log dir. The directory is made (0700) and checked now, before anything runs."""
    defaults = app.config.start
    directory = params["log_dir"] or defaults.log_dir
    max_size = (parse_size(params["log_max_size"]) if params["log_max_size"]
                else defaults.log_max_size or DEFAULT_MAX_SIZE)
    keep = params["log_keep"] if params["log_keep"] is not None else defaults.log_keep
    keep = DEFAULT_KEEP if keep is None else keep
    if keep < 0:
        raise InvalidOption("--log-keep", "must be >= 0")
    if directory is None:
        return None
    return prepare_log_dir(app.root / directory), max_size, keep


def _watch_rules(app: App, params: dict[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    """Type -> (watch globs, ignore globs), or nothing when watching is off: --no-watch wins;
    --watch (or [start] watch = true) turns on hu.toml's globs; --watch NAME=GLOB adds one."""
    given = list(params["watch"])
    if params["no_watch"] or not (given or app.config.start.watch):
        return {}
    rules = {name: (list(app.config.of(name).watch), list(app.config.of(name).watch_ignore))
             for name in app.procfile.names}
    for item in given:
        if not item:
            continue
        name, eq, glob = item.partition("=")
        if not eq or not glob.strip():
            raise InvalidOption("--watch", f"expected NAME=GLOB, got {item!r} (put --watch after the process "
                                           f"names, or write --watch=NAME=GLOB)")
        if name not in app.procfile:
            raise InvalidOption("--watch", f"no process type {name!r} in {app.procfile.path}")
        rules[name][0].append(glob.strip())
    watched = {name: rule for name, rule in rules.items() if rule[0]}
    if not watched:  # watching nothing would look like watching that never fires
        config = app.config.path or "hu.toml"
        raise InvalidOption("--watch" if given else f"{config}: start.watch",
                            f'no process type has globs to watch: give watch = ["src/**/*.py"] under '
                            f"[processes.NAME] in {config}, or write --watch=NAME=GLOB")
    return watched


def _dashboard(params: dict[str, Any], logs: LogBuffer | None) -> Any:
    """The dashboard of ``--ui``, listening from now on (a port in use fails before anything
    runs), or None without ``--ui``."""
    if params["ui"] is None:
        if params["allow_remote"]:
            raise InvalidOption("--allow-remote", "applies to the dashboard: give --ui HOST:PORT as well")
        return None
    from honcho_uv.http.dashboard import Dashboard  # aiohttp and the page load only with --ui

    return Dashboard(params["ui"], logs=logs, allow_remote=params["allow_remote"])


def _control_api(manager: Manager, foreground: Foreground, logs: LogBuffer, path: str,
                 ui_url: Callable[[], str | None] | None = None) -> ControlApi | None:
    """Listen for the control API (`hu ps`, `hu restart`, ... ; `hu quit` exits 0) on *path*
    before anything is spawned; it loads on first use (see http/lazy.py). If the socket
    cannot be had, say why on the console and run without it (None)."""
    try:
        control = ControlApi(path, on_quit=lambda: foreground.shutdown(0, "quit requested"), logs=logs,
                             ui_url=ui_url)
    except HuError as exc:
        foreground.say(f"control API not available: {exc}")
        return None
    manager.add_application(control)
    return control
