"""runit: one service directory per instance, ``APP-TYPE-N/``.

``run`` (0755) starts ``chpst -P [-u USER] -e ./env /bin/sh -c 'cd ROOT && exec CMD'``
with stderr joined to stdout, as a process-group leader; ``control/t`` (0755) makes
``sv down``/``sv term`` signal that whole group (runit alone signals one pid, which
would orphan the children of a compound command); ``env/`` is an envdir (one 0600 file per variable, read
by chpst as root before it drops privileges); ``log/run`` (0755) runs
``svlogd -tt LOGDIR/TYPE-N``. Install by linking the directories into the directory
``runsvdir`` watches (``/etc/service``).

envdir rules: chpst keeps the first line of each file, strips trailing blanks and turns
NUL into newline, so newlines are written as NUL and values ending in a blank are
refused. The writer owns every file in the ``env/`` of a service whose ``run`` it
wrote, so a variable dropped from .env disappears from the envdir too.

``hu.toml`` in runit's terms: an ``exec:`` ready probe is the service's ``check`` script
(0755), which ``sv start``/``sv check`` run to tell that it is up; a ``started`` or
``ready`` dependency on a long-running type is runit's own idiom, ``sv -w READY_TIMEOUT
start ../APP-DEP-N || exit 1`` in ``run`` before the exec (runsv retries ``run`` until
it passes); a oneshot gets a ``finish`` script that runs ``sv down .`` after it exits
(after a successful exit only, with ``restart = "on-failure"`` or ``"always"``), so runsv
does not start it again. Not expressible, listed as comments in ``run``: ``exited`` and
``succeeded`` dependencies (runit does not keep exit codes), tcp/http/log/notify readiness,
health checks, ``stop_signal`` (``control/t`` sends TERM) and ``restart = "never"`` for a
long-running service.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from honcho_uv.export.base import Exporter, ExportFile, ProcessType
from honcho_uv.export.model import Notes, signal_name, whole_seconds
from honcho_uv.export.quoting import envdir_content, shell_quote

__all__ = ["RunitExporter"]


@dataclass(frozen=True)
class _Wait:
    """``sv -w timeout start path``: a dependency the run script waits for."""

    type: str
    condition: str
    path: str
    timeout: int


class RunitExporter(Exporter):
    name = "runit"
    # No --timeout: runsv has no stop timeout (control/t sends TERM; sv force-stop -w N kills).
    flags = frozenset({"--user", "--log"})
    scan_depth = 3

    def waits(self, ptype: ProcessType, notes: Notes) -> list[_Wait]:
        out = []
        for dep, condition in ptype.depends_on.items():
            dep_type = self.ctx.type(dep)
            if condition in ("exited", "succeeded") or dep_type.oneshot:
                notes.add(ptype, "depends_on", f"{dep}:{condition}", "runit cannot wait for the exit of a service")
                continue
            if condition == "ready" and not (dep_type.ready and dep_type.ready.kind == "exec"):
                notes.unready(ptype, dep_type, "it to be up")
            timeout = whole_seconds(dep_type.ready_timeout)
            out += [_Wait(dep, condition, f"../{self.ctx.app}-{dep}-{i.number}", timeout) for i in dep_type.instances]
        return out

    def notes(self, ptype: ProcessType, notes: Notes) -> list[str]:
        probe = ptype.ready
        if probe is not None and probe.kind in ("tcp", "http"):
            notes.add(ptype, "ready", probe, "an sv check script would need a tool for this (curl, nc); "
                                             "write an exec: probe")
        elif probe is not None and probe.kind not in ("started", "exec"):
            notes.add(ptype, "ready", probe, "runit has no equivalent")
        if ptype.health is not None:
            notes.add(ptype, "health", ptype.health, "runit has no health checks")
        if ptype.stop_signal is not None:
            notes.add(ptype, "stop_signal", signal_name(ptype.stop_signal), "control/t sends TERM to the group")
        if ptype.restart == "never" and not ptype.oneshot:
            notes.add(ptype, "restart", ptype.restart, "runsv always restarts a service that is up")
        return notes.of(ptype.name)

    def files(self) -> list[ExportFile]:
        ctx = self.ctx
        out: list[ExportFile] = []
        for ptype in ctx.types:
            notes = Notes()
            waits = self.waits(ptype, notes)
            comments = self.notes(ptype, notes)
            check = ptype.ready.command if ptype.ready and ptype.ready.kind == "exec" and not ptype.oneshot else None
            for inst in ptype.instances:
                svc = f"{ctx.app}-{ptype.name}-{inst.number}"
                command = f"cd {shell_quote(str(ctx.root))} && {ptype.exec_command}"
                content = self.render("run", instance=inst, command=command, waits=waits, notes=comments)
                out.append(ExportFile(f"{svc}/run", content, 0o755))
                out.append(ExportFile(f"{svc}/control/t", self.render("control-t"), 0o755))
                if check:
                    check_command = f"cd {shell_quote(str(ctx.root))} && {check}"
                    out.append(ExportFile(f"{svc}/check", self.render("check", command=check_command), 0o755))
                if ptype.oneshot:
                    on_failure = ptype.restart in ("on-failure", "always")
                    out.append(ExportFile(f"{svc}/finish", self.render("finish", on_failure=on_failure), 0o755))
                log_dir = f"{ctx.log_dir}/{ptype.name}-{inst.number}"
                out.append(ExportFile(f"{svc}/log/run", self.render("log-run", log_dir=log_dir), 0o755))
                for key, value in inst.env.items():
                    out.append(ExportFile(f"{svc}/env/{key}", envdir_content(key, value), 0o600, marked=False))
        return out

    def owned_extras(self, location: Path, marked: set[str]) -> set[str]:
        extras: set[str] = set()
        for rel in marked:
            parts = rel.split("/")
            if len(parts) == 2 and parts[1] == "run":
                env_dir = location / parts[0] / "env"
                if env_dir.is_dir() and not env_dir.is_symlink():
                    extras |= {
                        f"{parts[0]}/env/{p.name}" for p in env_dir.iterdir() if p.is_file() and not p.is_symlink()
                    }
        return extras
