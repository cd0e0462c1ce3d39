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

import os
import re
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import click

from honcho_uv.cli.options import GlobalOptions, global_options, globals_of
from honcho_uv.errors import InvalidOption, ProcfileError
from honcho_uv.models import NAME_PATTERN
from honcho_uv.procfile.app import App, app_env, check_ports
from honcho_uv.procfile.formation import instance_env, instance_port
from honcho_uv.procfile.shellcmd import exec_command

__all__ = ["run_command"]


@click.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-p", "--port", default=None, metavar="PORT", help="Base port for a Procfile entry.")
@click.option("--with", "with_", multiple=True, metavar="NAME,...",
              help="Start these Procfile processes first, wait until ready, run COMMAND, stop them.")
@click.option("--ready", multiple=True, metavar="NAME=PROBE",
              help="How to tell NAME is ready: port, regex:PATTERN, SECONDS or any probe (default: web=port, "
                   "others after 1 s alive; hu.toml's ready when it sets one).")
@click.option("--ready-timeout", default=30.0, type=float, show_default=True, metavar="SECONDS",
              help="How long to wait for the --with processes to be ready before failing the run.")
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
    if params["with_"]:  # the Manager is imported only for a smoke run: `hu run CMD` stays light
        from honcho_uv.cli.loop import run_loop
        from honcho_uv.cli.smoke import smoke_run

        ctx.exit(run_loop(smoke_run(opts, command, params)))
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
