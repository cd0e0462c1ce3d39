"""An :class:`App` -> the Manager's :class:`ProcessTemplate` objects, one per Procfile entry.

The mapping ``hu start`` and ``hu run --with`` use, kept here (not in the CLI) so a program
that embeds the Manager can run a Procfile the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from honcho_uv.models import FlappingInfo, ProcessTemplate
from honcho_uv.procfile.app import App
from honcho_uv.procfile.shellcmd import exec_command

__all__ = ["app_templates"]


def app_templates(app: App, counts: dict[str, int], *, timeout: float, restart: Iterable[str] = (),
                  flapping: FlappingInfo | None = None, stdin: Iterable[str] = ()) -> list[ProcessTemplate]:
    """One template per Procfile entry (in order), run through ``/bin/sh -c`` in the app root.

    The child env is the OS env, then the app's env files, then PORT/PS/HU_PROCESS_NAME (added
    at spawn from ``port``/``port_index``). A single simple command is run as ``exec CMD`` so
    the app itself is the process hu watches, signals and reports (not a ``sh`` above it); a
    compound command (``cd x && y``) runs exactly as written (see shellcmd.py).
    ``PYTHONUNBUFFERED=1`` is set unless the env sets it, so Python children's output is not
    held back in a pipe buffer (honcho #136, #167). Types in *restart* (or all, with
    ``"all"``) restart with the flapping policy; the others never. Types in *stdin* get a
    stdin pipe (``hu send``); the others read /dev/null.
    """
    restart, stdin = set(restart), set(stdin)
    env = {"PYTHONUNBUFFERED": "1", **app.env}
    templates = []
    for index, entry in enumerate(app.procfile.entries):
        restarts = "all" in restart or entry.name in restart
        templates.append(
            ProcessTemplate(
                name=entry.name, cmd=exec_command(entry.command), shell=True, env=env, os_env=True,
                cwd=str(app.root), numprocesses=counts.get(entry.name, 0), redirect_output=("out", "out"),
                graceful_timeout=timeout, restart="always" if restarts else "never",
                flapping=(flapping or FlappingInfo()) if restarts else None, port=app.port_base,
                port_index=index, redirect_input="all" in stdin or entry.name in stdin,
            )
        )
    return templates
