"""launchd (macOS): one property list per instance, ``APP-TYPE-N.plist``.

``Label`` APP-TYPE-N, ``ProgramArguments`` ``/bin/sh -c CMD`` (``exec`` only before a
single simple command), the instance env in ``EnvironmentVariables``,
``WorkingDirectory``, ``UserName`` only with ``-u``, ``RunAtLoad`` and ``KeepAlive``,
``ExitTimeOut`` = ``--timeout`` (SIGTERM, then SIGKILL), stdout/stderr to
``LOGDIR/TYPE-N.log`` / ``.error.log``. Text is XML-escaped; characters XML cannot carry
are refused. Load with ``launchctl load PATH`` (or ``launchctl bootstrap``).
"""

from __future__ import annotations

from honcho_uv.errors import InvalidOption
from honcho_uv.export.base import ExportContext, Exporter, ExportFile, marker

__all__ = ["LaunchdExporter"]


class LaunchdExporter(Exporter):
    name = "launchd"
    any_env_name = True

    def __init__(self, ctx: ExportContext):
        super().__init__(ctx)
        if "--" in ctx.app:
            raise InvalidOption("--app", "a launchd export cannot use '--' in the app name (XML comment)")

    @property
    def header(self) -> str:
        return f"<!-- {marker(self.ctx.app)} -->"

    def files(self) -> list[ExportFile]:
        ctx = self.ctx
        out = []
        for ptype in ctx.types:
            for inst in ptype.instances:
                label = f"{ctx.app}-{ptype.name}-{inst.number}"
                content = self.render(
                    "process.plist",
                    instance=inst,
                    label=label,
                    command=ptype.exec_command,
                    log_base=f"{ctx.log_dir}/{ptype.name}-{inst.number}",
                )
                out.append(ExportFile(f"{label}.plist", content))
        return out
