"""supervisord: ``APP.conf`` with one ``[program:APP-TYPE-N]`` per instance and a
``[group:APP]``.

One program per instance gives each its own PORT and PS. Commands run through
``/bin/sh -c`` (``exec`` only before a single simple command); ``stopasgroup`` and
``killasgroup`` make a stop reach the whole process group, SIGKILL after
``stopwaitsecs`` = ``--timeout``. ``environment=`` is quoted by supervisor's own rules
(``%`` doubled); a value it cannot carry is refused with a hint to use ``--env-file``,
which writes the app env to ``APP.env`` (0600, double-quoted shell syntax) sourced by
each program's shell. Logs go to ``LOGDIR/TYPE-N.log`` and ``LOGDIR/TYPE-N.error.log``.
"""

from __future__ import annotations

from dataclasses import dataclass

from honcho_uv.export.base import INSTANCE_KEYS, Exporter, ExportFile
from honcho_uv.export.quoting import shell_quote

__all__ = ["SupervisordExporter"]


@dataclass(frozen=True)
class _Program:
    name: str
    command: str
    env: dict[str, str]
    stdout: str
    stderr: str


class SupervisordExporter(Exporter):
    name = "supervisord"
    supports_env_file = True

    def files(self) -> list[ExportFile]:
        ctx = self.ctx
        out: list[ExportFile] = []
        env_path = ctx.location / f"{ctx.app}.env" if ctx.env_file else None
        if env_path is not None:
            out.append(ExportFile(env_path.name, self.render("env", env=ctx.shared_env), 0o600))
        programs = []
        for ptype in ctx.types:
            for inst in ptype.instances:
                command = ptype.exec_command
                env = inst.env
                if env_path is not None:
                    command = f"set -a && . {shell_quote(str(env_path))} && set +a && {command}"
                    env = {k: inst.env[k] for k in INSTANCE_KEYS}
                log = f"{ctx.log_dir}/{ptype.name}-{inst.number}"
                name = f"{ctx.app}-{ptype.name}-{inst.number}"
                programs.append(_Program(name, command, env, f"{log}.log", f"{log}.error.log"))
        out.append(ExportFile(f"{ctx.app}.conf", self.render("app.conf", programs=programs)))
        return out
