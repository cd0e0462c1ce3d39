"""``hu run --with NAME -- CMD``: the CI smoke run.

Start NAME (and what it depends on), wait until each is ready (``web`` listens on its port,
the others live 1 s, unless ``--ready`` or ``hu.toml`` says otherwise), run CMD with the
app's env, stop everything, exit with CMD's code. A process that fails before it is ready,
or dies during CMD, fails the run (exit 1, one line saying why); nothing is left running.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import click

from honcho_uv.cli.options import GlobalOptions, parse_ready, split_names, want_colour
from honcho_uv.console.printer import Printer
from honcho_uv.core.foreground import Foreground
from honcho_uv.core.gate import WaitResult
from honcho_uv.core.manager import Manager
from honcho_uv.models import Probe
from honcho_uv.procfile.app import expand_instances
from honcho_uv.procfile.formation import resolve_formation
from honcho_uv.procfile.templates import app_templates, with_dependencies

__all__ = ["smoke_run"]

#: hu run --with's own readiness defaults (DESIGN.md "hu run"): web listens, the rest live 1 s.
WEB_READY = Probe("tcp")
OTHERS_READY = Probe("alive", seconds=1.0)


async def smoke_run(opts: GlobalOptions, command: list[str], params: dict[str, Any]) -> int:
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
    foreground = Foreground(loop, printer.system, say_exit=printer.exit_line)
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
