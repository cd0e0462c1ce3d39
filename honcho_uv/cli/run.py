"""``hu run``: a one-off command with the app's env, or a CI smoke run with ``--with``.

Options are parsed only up to the first command word or ``--`` (``hu run grep -f x`` passes
``-f x`` to grep). Without ``--with`` hu *execs* the command: it gets the terminal (stdin,
stdout and stderr, unprefixed and separate), signals reach it directly, and its exit code is
hu's, with no supervisor in between. A Procfile entry runs as ``hu start`` runs it: a single
simple command as ``/bin/sh -c 'exec CMD'``, so no shell stays between hu's pid and the app.
Before the exec, the signal dispositions Python changed (SIGPIPE and SIGXFSZ ignored) go back
to the default, as ``subprocess``'s ``restore_signals`` does for ``hu start``'s children, and
the signal mask is emptied: ``hu run yes | head -1`` ends ``yes`` by SIGPIPE, as a shell would.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import click

from honcho_uv.cli.loop import run_loop
from honcho_uv.cli.options import GlobalOptions, global_options, globals_of, parse_ready, split_names, want_colour
from honcho_uv.console.printer import Printer
from honcho_uv.core.foreground import Foreground
from honcho_uv.core.gate import WaitResult
from honcho_uv.core.manager import Manager
from honcho_uv.errors import InvalidOption, ProcfileError
from honcho_uv.models import NAME_PATTERN, Probe
from honcho_uv.procfile.app import App, app_env, check_ports, expand_instances
from honcho_uv.procfile.formation import instance_env, instance_port, resolve_formation
from honcho_uv.procfile.shellcmd import exec_command
from honcho_uv.procfile.templates import app_templates, with_dependencies

__all__ = ["run_command"]


@click.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-p", "--port", default=None, metavar="PORT", help="Base port for a Procfile entry.")
@click.option("--with", "with_", multiple=True, metavar="NAME,...",
              help="Start these Procfile processes first, wait until ready, run COMMAND, stop them.")
@click.option("--ready", multiple=True, metavar="NAME=PROBE",
              help="How to tell NAME is ready: port, regex:PATTERN, SECONDS or any probe (default: web=port, "
                   "others after 1 s alive; hu.toml's ready when it sets one).")
@click.option("--ready-timeout", default=30.0, type=float, show_default=True, metavar="SECONDS")
@click.option("-t", "--timeout", default=5.0, type=float, show_default=True, metavar="SECONDS",
              help="Stop grace for the --with processes.")
@global_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@click.pass_context
def run_command(ctx: click.Context, /, **params: Any) -> None:
    """Run COMMAND (or a Procfile entry by name) with the app's environment."""
    opts = globals_of(ctx, params)
    command = list(params["command"])
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise InvalidOption("run", "no command given")
    if params["with_"]:
        ctx.exit(run_loop(_smoke(opts, command, params)))
    _exec_one_off(opts, command, params["port"])


def _exec_one_off(opts: GlobalOptions, command: list[str], port: str | None) -> None:
    root = Path(opts.app_root or ".").resolve()
    if not root.is_dir():
        raise InvalidOption("--app-root", f"{opts.app_root} is not a directory")
    app = _app_for_word(opts, command, port)
    if app is not None and command[0] in app.procfile:
        index, entry = app.procfile.index(command[0]), app.procfile.get(command[0])
        check_ports(app, {entry.name: 1})
        env = app.child_env()
        env.update(instance_env(entry.name, 1, instance_port(app.port_base, index, 1)))
        argv = ["/bin/sh", "-c", exec_command(entry.command)]  # as hu start runs it
    else:
        env = {**os.environ, **app_env(root, opts.env_files)}
        argv = command
    env.setdefault("PYTHONUNBUFFERED", "1")
    executable = shutil.which(argv[0], path=env.get("PATH")) if "/" not in argv[0] else argv[0]
    if executable is None:
        known = f" (known: {', '.join(app.procfile.names)})" if app else ""
        also = f", and no process type {argv[0]!r} in {app.procfile.path}{known}" if app else ""
        click.echo(f"hu: {argv[0]}: command not found{also}", err=True)
        sys.exit(127)
    sys.stdout.flush()
    os.chdir(root)
    _restore_signals()
    try:
        os.execve(executable, argv, env)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in an argument
        click.echo(f"hu: cannot run {argv[0]!r}: {getattr(exc, 'strerror', None) or exc}", err=True)
        sys.exit(126)


def _restore_signals() -> None:
    """What the exec'd command must not inherit from Python: the dispositions it set at start-up
    (SIGPIPE and SIGXFSZ ignored, the ones ``subprocess``'s ``restore_signals`` resets for ``hu
    start``'s children) and any blocked signal. Handlers Python installed (SIGINT) reset
    themselves on exec; a signal ignored by hu's own parent (``nohup``) stays ignored."""
    for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def _app_for_word(opts: GlobalOptions, command: list[str], port: str | None) -> App | None:
    """If *command* is one word that may name a Procfile entry, the app (None without a Procfile)."""
    if len(command) != 1 or not re.fullmatch(NAME_PATTERN, command[0]):
        return None
    try:
        return opts.load_app(port)
    except ProcfileError:
        if opts.procfile:
            raise
        return None  # no Procfile here: the word is a plain command


# -- hu run --with: the CI smoke form ---------------------------------------------------------


#: hu run --with's own readiness defaults (DESIGN.md "hu run"): web listens, the rest live 1 s.
WEB_READY = Probe("tcp")
OTHERS_READY = Probe("alive", seconds=1.0)


async def _smoke(opts: GlobalOptions, command: list[str], params: dict[str, Any]) -> int:
    app = opts.load_app(params["port"])
    names = split_names(params["with_"])
    counts = with_dependencies(app, resolve_formation(app.procfile, {name: 1 for name in names}, only=names,
                                                      option="--with"))
    given = parse_ready(params["ready"], app.procfile.names)
    running = [name for name, n in counts.items() if n > 0]
    ready = {name: given.get(name) or app.config.of(name).ready or (WEB_READY if name == "web" else OTHERS_READY)
             for name in running}
    loop = asyncio.get_running_loop()
    instances = expand_instances(app, counts)
    printer = Printer(colour=want_colour(opts.color), prefix=not opts.no_prefix, timestamps=opts.timestamps,
                      width=max((len(i.name) for i in instances), default=6))
    foreground = Foreground(loop, printer.system)
    manager = Manager()
    foreground.attach(manager)
    manager.start(applications=[printer])
    foreground.install_signals()
    try:
        for template in app_templates(app, counts, timeout=params["timeout"], ready=ready):
            template = template.replace(ready_timeout=params["ready_timeout"])
            manager.add_template(template, start=template.numprocesses > 0)
        waiting = asyncio.ensure_future(manager.wait_ready(running, params["ready_timeout"] + 1.0))
        await asyncio.wait([waiting, foreground.done], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]
        if not waiting.done() or not waiting.result().ok:
            waiting.cancel()
            result = waiting.result() if waiting.done() and not waiting.cancelled() else None
            why = foreground.failure or (_not_ready(result, params["ready_timeout"]) if result else None)
            return await _fail(foreground, why or "stopped before the processes were ready")
        printer.system(f"all ready; running {' '.join(command)}")
        child = await asyncio.create_subprocess_exec(*command, env={**app.child_env(), "PYTHONUNBUFFERED": "1"},
                                                     cwd=str(app.root))
        child_wait = asyncio.ensure_future(child.wait())
        await asyncio.wait([child_wait, foreground.done], return_when=asyncio.FIRST_COMPLETED)
        if not child_wait.done():  # a process died, or hu was signalled, during the command
            _terminate(child)
            await child_wait
            reason = foreground.failure or "a process stopped"
            return await _fail(foreground, f"{' '.join(command)} interrupted: {reason}")
        returncode = child.returncode if child.returncode is not None else 1
        code = returncode if returncode >= 0 else 128 - returncode
        foreground.shutdown(code, f"{command[0]} exited with code {code}")
        await foreground.done
        return code
    except OSError as exc:
        return await _fail(foreground, f"cannot run {command[0]!r}: {exc.strerror}")
    finally:
        foreground.remove_signals()
        if manager.started:
            manager.stop()
            await manager.wait_stopped()


def _not_ready(result: WaitResult, timeout: float) -> str:
    if result.failed:
        return "; ".join(result.failed.values())
    return f"not ready after {timeout:g}s: {', '.join(result.waiting)}"


async def _fail(foreground: Foreground, message: str) -> int:
    click.echo(f"hu: {message}", err=True)
    foreground.shutdown(1, message, quiet=True)
    code = await foreground.done
    return code if code not in (0,) else 1


def _terminate(child: asyncio.subprocess.Process) -> None:
    if child.returncode is None:
        try:
            child.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
