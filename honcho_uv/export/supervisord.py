"""supervisord: ``APP.conf`` with one ``[program:APP-TYPE-N]`` per instance and a
``[group:APP]``.

One program per instance gives each its own PORT and PS. Commands run through
``/bin/sh -c`` (``exec`` only before a single simple command); ``stopasgroup`` and
``killasgroup`` make a stop reach the whole process group, SIGKILL after
``stopwaitsecs`` = ``--timeout``. ``environment=`` is quoted by supervisor's own rules
(``%`` doubled); a value it cannot carry is refused with a hint to use ``--env-file``,
which writes the app env to ``APP.env`` (0600, double-quoted shell syntax) sourced by
each program's shell. Logs go to ``LOGDIR/TYPE-N.log`` and ``LOGDIR/TYPE-N.error.log``.

``hu.toml`` in supervisord's terms: with dependencies, ``priority=`` follows the start order
(dependencies get lower numbers: ``100 * (level + 1)``), which supervisord uses to start
(and, reversed, to stop) programs; it does not wait for one to be ready or to exit before
starting the next. A oneshot gets ``autorestart=false`` (``unexpected`` with ``restart =
"on-failure"`` or ``"always"``) and ``startsecs=0``; ``ready = N`` seconds is
``startsecs=N``; ``stop_signal`` is ``stopsignal=``; ``restart`` is ``autorestart=``
(``never`` false, ``on-failure`` unexpected, ``always`` true). Probes (tcp, http, exec, log,
notify) and health checks have no supervisord equivalent and are listed as comments.
"""

from __future__ import annotations

from dataclasses import dataclass

from honcho_uv.export.base import INSTANCE_KEYS, Exporter, ExportFile, ProcessType
from honcho_uv.export.model import Notes, has_dependencies, signal_name, start_levels, whole_seconds
from honcho_uv.export.quoting import shell_quote

__all__ = ["SupervisordExporter"]

_AUTORESTART = {"never": "false", "on-failure": "unexpected", "always": "true"}


@dataclass(frozen=True)
class _Policy:
    """How the programs of one type start, restart and stop."""

    priority: int | None
    autorestart: str
    startsecs: int | None
    stopsignal: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Program:
    name: str
    command: str
    env: dict[str, str]
    stdout: str
    stderr: str
    policy: _Policy


class SupervisordExporter(Exporter):
    name = "supervisord"
    flags = frozenset({"--user", "--timeout", "--log", "--env-file"})

    def policy(self, ptype: ProcessType, levels: dict[str, int] | None) -> _Policy:
        notes = Notes()
        priority = 100 * (levels[ptype.name] + 1) if levels is not None else None
        if ptype.depends_on:
            notes.dependencies(ptype, "supervisord starts by priority only; it does not wait for a condition")
        startsecs = None
        if ptype.oneshot:
            autorestart = "unexpected" if ptype.restart in ("on-failure", "always") else "false"
            startsecs = 0
        else:
            autorestart = _AUTORESTART.get(ptype.restart or "always", "true")
        probe = ptype.ready
        if probe is not None and probe.kind == "alive" and not ptype.oneshot:
            startsecs = whole_seconds(probe.seconds or 0, minimum=0)
        elif probe is not None and probe.kind != "started":
            notes.add(ptype, "ready", probe, "supervisord has no readiness probes")
        if ptype.health is not None:
            notes.add(ptype, "health", ptype.health, "supervisord has no health checks")
        stopsignal = signal_name(ptype.stop_signal, prefix=False) if ptype.stop_signal else "TERM"
        return _Policy(priority, autorestart, startsecs, stopsignal, tuple(notes.of(ptype.name)))

    def files(self) -> list[ExportFile]:
        ctx = self.ctx
        out: list[ExportFile] = []
        env_path = ctx.location / f"{ctx.app}.env" if ctx.env_file else None
        if env_path is not None:
            out.append(ExportFile(env_path.name, self.render("env", env=ctx.shared_env), 0o600))
        levels = start_levels(ctx) if has_dependencies(ctx) else None
        programs = []
        for ptype in ctx.types:
            policy = self.policy(ptype, levels)
            for inst in ptype.instances:
                command = ptype.exec_command
                env = inst.env
                if env_path is not None:
                    command = f"set -a && . {shell_quote(str(env_path))} && set +a && {command}"
                    env = {k: inst.env[k] for k in INSTANCE_KEYS}
                log = f"{ctx.log_dir}/{ptype.name}-{inst.number}"
                name = f"{ctx.app}-{ptype.name}-{inst.number}"
                programs.append(_Program(name, command, env, f"{log}.log", f"{log}.error.log", policy))
        out.append(ExportFile(f"{ctx.app}.conf", self.render("app.conf", programs=programs)))
        return out
