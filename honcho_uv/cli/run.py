"""``hu run``: a one-off command with the app's env, or a CI smoke run with ``--with``.

Options are parsed only up to the first command word or ``--`` (``hu run grep -f x`` passes
``-f x`` to grep). Without ``--with`` hu *execs* the command: it gets the terminal (stdin,
stdout and stderr, unprefixed and separate), signals reach it directly, and its exit code is
hu's, with no supervisor in between.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from honcho_uv.cli.loop import run_loop
from honcho_uv.cli.options import GlobalOptions, global_options, globals_of, split_names, want_colour
from honcho_uv.console.printer import Printer
from honcho_uv.core.foreground import Foreground
from honcho_uv.core.manager import Manager
from honcho_uv.errors import InvalidOption, ProcfileError
from honcho_uv.models import NAME_PATTERN
from honcho_uv.procfile.app import App, env_file_paths, expand_instances
from honcho_uv.procfile.dotenv import load_env_files
from honcho_uv.procfile.formation import instance_env, instance_port, resolve_formation
from honcho_uv.procfile.templates import app_templates

__all__ = ["run_command"]


@click.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-p", "--port", default=None, metavar="PORT", help="Base port for a Procfile entry.")
@click.option("--with", "with_", multiple=True, metavar="NAME,...",
              help="Start these Procfile processes first, wait until ready, run COMMAND, stop them.")
@click.option("--ready", multiple=True, metavar="NAME=port|regex:PATTERN|SECONDS",
              help="How to tell NAME is ready (default: web=port, others after 1 s alive).")
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
    entry_app = _try_entry(opts, command, port)
    if entry_app is not None:
        app, index, entry = entry_app
        env = app.child_env()
        env.update(instance_env(entry.name, 1, instance_port(app.port_base, index, 1)))
        argv = ["/bin/sh", "-c", entry.command]
    else:
        files, required = env_file_paths(root, opts.env_files)
        env = {**os.environ, **load_env_files(files, required=required)}
        argv = command
    env.setdefault("PYTHONUNBUFFERED", "1")
    executable = shutil.which(argv[0], path=env.get("PATH")) if "/" not in argv[0] else argv[0]
    if executable is None:
        click.echo(f"hu: {argv[0]}: command not found", err=True)
        sys.exit(127)
    sys.stdout.flush()
    os.chdir(root)
    try:
        os.execve(executable, argv, env)
    except OSError as exc:
        click.echo(f"hu: cannot run {argv[0]!r}: {exc.strerror}", err=True)
        sys.exit(126)


def _try_entry(opts: GlobalOptions, command: list[str], port: str | None) -> tuple[App, int, Any] | None:
    """If *command* is one word naming a Procfile entry, load the app and return it."""
    if len(command) != 1 or not re.fullmatch(NAME_PATTERN, command[0]):
        return None
    try:
        app = opts.load_app(port)
    except ProcfileError:
        if opts.procfile:
            raise
        return None  # no Procfile here: the word is a plain command
    if command[0] not in app.procfile:
        return None
    return app, app.procfile.index(command[0]), app.procfile.get(command[0])


# -- hu run --with: the CI smoke form ---------------------------------------------------------


def parse_ready(specs: tuple[str, ...], names: list[str]) -> dict[str, str]:
    """``("web=port", "worker=regex:ready", "clock=2")`` -> ``{name: spec}``, validated."""
    out = {}
    for spec in specs:
        name, eq, how = spec.partition("=")
        if not eq or name not in names:
            raise InvalidOption("--ready", f"expected NAME=port|regex:PATTERN|SECONDS for one of {', '.join(names)}")
        if how.startswith("regex:"):
            try:
                re.compile(how[6:].encode())
            except re.error as exc:
                raise InvalidOption("--ready", f"bad pattern for {name}: {exc}") from None
        elif how != "port":
            try:
                if float(how) < 0:
                    raise ValueError
            except ValueError:
                raise InvalidOption("--ready",
                                    f"{name}: expected port, regex:PATTERN or seconds, got {how!r}") from None
        out[name] = how
    return out


async def _smoke(opts: GlobalOptions, command: list[str], params: dict[str, Any]) -> int:
    app = opts.load_app(params["port"])
    names = split_names(params["with_"])
    counts = resolve_formation(app.procfile, {name: 1 for name in names}, only=names)
    ready = parse_ready(params["ready"], names)
    loop = asyncio.get_running_loop()
    instances = expand_instances(app, counts)
    printer = Printer(colour=want_colour(opts.color), prefix=not opts.no_prefix, timestamps=opts.timestamps,
                      width=max((len(i.name) for i in instances), default=6))
    foreground = Foreground(loop, printer.system)
    manager = Manager()
    foreground.attach(manager)
    watcher = ReadyWatcher(manager, {i.name: ready.get(i.type_name, "port" if i.type_name == "web" else "1")
                                     for i in instances}, {i.name: i.port for i in instances})
    manager.start(applications=[printer, watcher])
    foreground.install_signals()
    code = 1
    try:
        for template in app_templates(app, counts, timeout=params["timeout"]):
            manager.add_template(template, start=template.numprocesses > 0)
        ready_task = asyncio.ensure_future(watcher.all_ready(params["ready_timeout"]))
        await asyncio.wait([ready_task, foreground.done], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]
        if not ready_task.done():
            ready_task.cancel()
        if not ready_task.done() or ready_task.cancelled() or not ready_task.result():
            return await _fail(foreground, printer, watcher.problem or "stopped before the processes were ready")
        printer.system(f"all ready; running {' '.join(command)}")
        child = await asyncio.create_subprocess_exec(*command, env={**app.child_env(), "PYTHONUNBUFFERED": "1"},
                                                     cwd=str(app.root))
        child_wait = asyncio.ensure_future(child.wait())
        await asyncio.wait([child_wait, foreground.done], return_when=asyncio.FIRST_COMPLETED)
        if not child_wait.done():  # a process died, or hu was signalled, during the command
            _terminate(child)
            await child_wait
            reason = watcher.problem or "a process stopped"
            return await _fail(foreground, printer, f"{' '.join(command)} interrupted: {reason}")
        returncode = child.returncode if child.returncode is not None else 1
        code = returncode if returncode >= 0 else 128 - returncode
        foreground.shutdown(code, f"{command[0]} exited with code {code}")
        await foreground.done
        return code
    except OSError as exc:
        return await _fail(foreground, printer, f"cannot run {command[0]!r}: {exc.strerror}")
    finally:
        foreground.remove_signals()
        if manager.started:
            manager.stop()
            await manager.wait_stopped()


async def _fail(foreground: Foreground, printer: Printer, message: str) -> int:
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


class ReadyWatcher:
    """Tells when each instance is ready: ``port`` (127.0.0.1:PORT accepts), ``regex:P`` (a line of
    its output matches) or ``SECONDS`` alive. An application of the Manager (for output)."""

    def __init__(self, manager: Manager, how: dict[str, str], ports: dict[str, int]):
        self.manager = manager
        self.how = how
        self.ports = ports
        self.ready: set[str] = set()
        self.problem: str | None = None
        self._patterns = {n: re.compile(h[6:].encode(), re.MULTILINE) for n, h in how.items() if h.startswith("regex:")}
        self._seen: dict[str, bytes] = {}

    def start(self, loop: asyncio.AbstractEventLoop, manager: Manager) -> None:
        manager.add_output_sink(self._output)
        manager.subscribe("exit", self._on_exit)

    def stop(self) -> None:
        self.manager.remove_output_sink(self._output)
        self.manager.unsubscribe("exit", self._on_exit)

    def restart(self) -> None:
        pass

    def _output(self, process: Any, label: str, data: bytes) -> None:
        pattern = self._patterns.get(process.name)
        if pattern is None or process.name in self.ready:
            return
        seen = (self._seen.get(process.name, b"") + data)[-65536:]
        self._seen[process.name] = seen
        if pattern.search(seen):
            self.ready.add(process.name)

    def _on_exit(self, event: str, msg: dict[str, Any]) -> None:
        instance = msg.get("instance")
        if instance in self.how and not msg.get("requested") and self.problem is None:
            when = "during the command" if instance in self.ready else "before it was ready"
            self.problem = f"{instance} exited {when}"

    async def all_ready(self, timeout: float) -> bool:
        """True once every instance is ready; False on a death, a stop or *timeout*.

        A port that starts listening sends no notification, so this checks every 50 ms; it runs
        only while waiting for readiness, never in a steady state.
        """
        deadline = time.monotonic() + timeout
        started: dict[str, float] = {}
        while time.monotonic() < deadline:
            if self.problem:
                return False
            alive = {p.name: p for p in self.manager.list()}
            for name, how in self.how.items():
                if name in self.ready or name not in alive:
                    continue
                started.setdefault(name, time.monotonic())
                if how == "port" and await _accepts(self.ports[name]):
                    self.ready.add(name)
                elif how != "port" and not how.startswith("regex:") \
                        and time.monotonic() - started[name] >= float(how):
                    self.ready.add(name)
            if len(self.ready) == len(self.how):
                return True
            await asyncio.sleep(0.05)
        pending = ", ".join(sorted(set(self.how) - self.ready))
        self.problem = f"not ready after {timeout:g}s: {pending}"
        return False


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 0.5)
    except (TimeoutError, OSError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True

