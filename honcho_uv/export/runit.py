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
"""

from __future__ import annotations

from pathlib import Path

from honcho_uv.export.base import Exporter, ExportFile
from honcho_uv.export.quoting import envdir_content, shell_quote

__all__ = ["RunitExporter"]


class RunitExporter(Exporter):
    name = "runit"
    scan_depth = 3

    def files(self) -> list[ExportFile]:
        ctx = self.ctx
        out: list[ExportFile] = []
        for ptype in ctx.types:
            for inst in ptype.instances:
                svc = f"{ctx.app}-{ptype.name}-{inst.number}"
                command = f"cd {shell_quote(str(ctx.root))} && {ptype.exec_command}"
                out.append(ExportFile(f"{svc}/run", self.render("run", instance=inst, command=command), 0o755))
                out.append(ExportFile(f"{svc}/control/t", self.render("control-t"), 0o755))
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
