"""launchd (macOS): one property list per instance, ``APP-TYPE-N.plist``.

``Label`` APP-TYPE-N, ``ProgramArguments`` ``/bin/sh -c CMD`` (``exec`` only before a
single simple command), the instance env in ``EnvironmentVariables``,
``WorkingDirectory``, ``UserName`` only with ``-u``, ``RunAtLoad`` and ``KeepAlive``,
``ExitTimeOut`` = ``--timeout`` (SIGTERM, then SIGKILL), stdout/stderr to
``LOGDIR/TYPE-N.log`` / ``.error.log``. Text is XML-escaped; characters XML cannot carry
are refused. Load with ``launchctl load PATH`` (or ``launchctl bootstrap``).

``hu.toml`` in launchd's terms: ``restart`` and ``oneshot`` set ``KeepAlive`` (``true``;
``never`` and a oneshot ``false``, so it runs once at load; ``on-failure``, also for a oneshot,
``{SuccessfulExit: false}``: restarted only after a failing exit). launchd has no readiness,
health checks, start order or stop signal (it sends SIGTERM): those are listed in a comment.
"""

from __future__ import annotations

from honcho_uv.errors import InvalidOption
from honcho_uv.export.base import ExportContext, Exporter, ExportFile, ProcessType, marker
from honcho_uv.export.model import signal_name

__all__ = ["LaunchdExporter"]


class LaunchdExporter(Exporter):
    name = "launchd"
    flags = frozenset({"--user", "--timeout", "--log"})
    any_env_name = True

    def __init__(self, ctx: ExportContext):
        super().__init__(ctx)
        if "--" in ctx.app:
            raise InvalidOption("--app", "a launchd export cannot use '--' in the app name (XML comment)")

    @property
    def header(self) -> str:
        return f"<!-- {marker(self.ctx.app)} -->"

    @staticmethod
    def keep_alive(ptype: ProcessType) -> str:
        """``true``, ``false`` or ``on-failure`` (a ``SuccessfulExit = false`` dictionary)."""
        if ptype.restart == "on-failure" or (ptype.oneshot and ptype.restart == "always"):
            return "on-failure"
        return "false" if ptype.oneshot or ptype.restart == "never" else "true"

    @staticmethod
    def unexpressed(ptype: ProcessType) -> list[str]:
        """The hu.toml keys of *ptype* that launchd cannot carry (names only: XML comments
        cannot hold every probe text)."""
        keys = [key for key, value in (("ready", ptype.ready), ("health", ptype.health),
                                       ("depends_on", ptype.depends_on)) if value]
        if ptype.stop_signal is not None:
            keys.append(f"stop_signal {signal_name(ptype.stop_signal)}")
        return keys

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
                    keep_alive=self.keep_alive(ptype),
                    unexpressed=self.unexpressed(ptype),
                )
                out.append(ExportFile(f"{label}.plist", content))
        return out
