"""An :class:`App` -> the Manager's :class:`ProcessTemplate` objects, one per Procfile entry.

The mapping ``hu start`` and ``hu run --with`` use, kept here (not in the CLI) so a program
that embeds the Manager can run a Procfile the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from honcho_uv.errors import ConfigError, InvalidOption
from honcho_uv.models import DEFAULT_READY_TIMEOUT_S, FlappingInfo, Probe, ProcessTemplate
from honcho_uv.models.template import DEFAULT_STOP_SIGNAL
from honcho_uv.procfile.app import App, check_ports
from honcho_uv.procfile.config import RELEASE, dependency_graph, is_release_phase
from honcho_uv.procfile.shellcmd import exec_command

__all__ = ["app_templates", "tty_types", "with_dependencies"]


def app_templates(app: App, counts: Mapping[str, int], *, timeout: float, restart: Iterable[str] = (),
                  flapping: FlappingInfo | None = None, stdin: Iterable[str] = (),
                  ready: Mapping[str, Probe] | None = None, tty: Iterable[str] = ()) -> list[ProcessTemplate]:
    """One template per Procfile entry (in order), run through ``/bin/sh -c`` in the app root.

    The child env is the OS env, then the app's env files, then PORT/PS/HU_PROCESS_NAME (added
    at spawn from ``port``/``port_index``). A single simple command is run as ``exec CMD`` so
    the app itself is the process hu watches, signals and reports (not a ``sh`` above it); a
    compound command (``cd x && y``) runs exactly as written (see shellcmd.py).
    ``PYTHONUNBUFFERED=1`` is set unless the env sets it, so Python children's output is not
    held back in a pipe buffer (honcho #136, #167).

    Restarts: types in *restart* (or all, with ``"all"``) restart always, with the flapping
    policy; else ``hu.toml``'s ``restart`` for the type; else never (foreman's rule). Types in
    *stdin* get a stdin pipe (``hu send``); the others read /dev/null. Types in *tty* get a
    pseudo-terminal instead of pipes (:func:`tty_types` decides which). Readiness, health,
    dependencies (the release phase included), oneshots and the stop signal come from
    ``hu.toml``; *ready* (``--ready NAME=PROBE``) replaces a type's ready probe.
    """
    restart, stdin, ready, tty = set(restart), set(stdin), dict(ready or {}), set(tty)
    env = {"PYTHONUNBUFFERED": "1", **app.env}
    graph = dependency_graph(app.procfile, app.config)
    release = is_release_phase(app.procfile, app.config)
    templates = []
    for index, entry in enumerate(app.procfile.entries):
        config = app.config.of(entry.name)
        policy = "always" if "all" in restart or entry.name in restart else config.restart or "never"
        templates.append(
            ProcessTemplate(
                name=entry.name, cmd=exec_command(entry.command), shell=True, env=env, os_env=True,
                cwd=str(app.root), numprocesses=counts.get(entry.name, 0), redirect_output=("out", "out"),
                graceful_timeout=timeout, restart=policy,
                flapping=(flapping or FlappingInfo()) if policy != "never" else None, port=app.port_base,
                port_index=index, redirect_input="all" in stdin or entry.name in stdin, tty=entry.name in tty,
                ready=ready.get(entry.name, config.ready),
                ready_timeout=config.ready_timeout if config.ready_timeout is not None else DEFAULT_READY_TIMEOUT_S,
                depends_on=graph[entry.name],
                oneshot=config.oneshot if config.oneshot is not None else release and entry.name == RELEASE,
                health=config.health, health_interval=config.health_interval or 10.0,
                health_failures=config.health_failures or 3,
                stop_signal=config.stop_signal if config.stop_signal is not None else DEFAULT_STOP_SIGNAL,
            )
        )
    return templates


def tty_types(app: App, mode: str | None, terminal: bool) -> list[str]:
    """The types that get a pseudo-terminal, for the ``--tty`` *mode* given (None: not given).

    An explicit ``--tty always`` or ``never`` decides for every type. Otherwise a type's own
    ``tty`` in hu.toml decides, then the flag's ``auto`` if given, else hu.toml's ``[start]
    tty`` (``always``, ``never``), then the auto rule: a pty when *terminal* (hu's stdout is a
    terminal someone watches). A flag wins over the file's default, as everywhere.
    """
    if mode in ("always", "never"):
        return list(app.procfile.names) if mode == "always" else []
    default = {"always": True, "never": False}.get(mode or app.config.start.tty or "auto", terminal)
    return [name for name in app.procfile.names
            if (default if app.config.of(name).tty is None else app.config.of(name).tty)]


def with_dependencies(app: App, counts: Mapping[str, int], explicit: Iterable[str] = ()) -> dict[str, int]:
    """*counts*, with the dependencies of every type that runs brought in (one instance each),
    as ``docker compose up web`` starts what web depends on; the last step before anything
    runs, so the result is checked: something runs, and every instance's PORT fits.

    Raises:
        InvalidOption: a dependency the user set to 0 on purpose (named in *explicit*); a PORT
            past 65535 (:func:`~honcho_uv.procfile.app.check_ports`).
        ConfigError: nothing to run (every type set to 0 or excluded).
    """
    graph = dependency_graph(app.procfile, app.config)
    out = dict(counts)
    explicit = set(explicit)
    todo = [name for name, n in out.items() if n > 0]
    while todo:
        name = todo.pop()
        for dep in graph.get(name, {}):
            if out.get(dep, 0) == 0:
                if dep in explicit:
                    raise InvalidOption("--concurrency", f"{name} depends on {dep}, which is set to run 0 instances")
                out[dep] = 1
                todo.append(dep)
    if not any(n > 0 for n in out.values()):
        raise ConfigError(f"nothing to run: every process type of {app.procfile.path} is set to 0 instances or "
                          f"excluded (-c, -x)")
    check_ports(app, out)
    return out
