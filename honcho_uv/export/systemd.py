"""systemd: ``APP.target`` -> ``APP-TYPE.target`` -> ``APP-TYPE-N.service``.

Each service runs one instance through ``/bin/sh -c`` (``exec`` only before a single
simple command), restarts on failure after 2 s with a start rate limit, stops with
``KillMode=mixed`` (SIGTERM to the main process, SIGKILL to everything left in the
cgroup after ``TimeoutStopSec`` = ``--timeout``), and logs to the journal. ``%`` and
``$`` are escaped where systemd would expand them. ``--env-file`` moves the app env
into ``APP.env`` (mode 0600; systemd reads it as root), leaving only PORT/PS/
HU_PROCESS_NAME in the units. ``--user-units`` targets ``systemctl --user``.
"""

from __future__ import annotations

from honcho_uv.errors import InvalidOption
from honcho_uv.export.base import INSTANCE_KEYS, ExportContext, Exporter, ExportFile

__all__ = ["SystemdExporter"]


class SystemdExporter(Exporter):
    name = "systemd"
    supports_env_file = True

    def __init__(self, ctx: ExportContext):
        super().__init__(ctx)
        if ctx.user and ctx.user_units:
            raise InvalidOption("--user", "user units run as their owner; drop -u or --user-units")

    def unit(self, *parts: object) -> str:
        return "-".join([self.ctx.app, *map(str, parts)])

    def files(self) -> list[ExportFile]:
        ctx = self.ctx
        out: list[ExportFile] = []
        env_path = ctx.location / f"{ctx.app}.env" if ctx.env_file else None
        if env_path is not None:
            content = self.render("env", env=ctx.shared_env)
            out.append(ExportFile(env_path.name, content, 0o600))
        master = f"{ctx.app}.target"
        running = [t for t in ctx.types if t.instances]
        type_units = [self.unit(t.name) + ".target" for t in running]
        out.append(ExportFile(master, self.render("master.target", type_units=type_units)))
        for ptype in running:
            type_unit = self.unit(ptype.name) + ".target"
            instance_units = [self.unit(ptype.name, i.number) + ".service" for i in ptype.instances]
            content = self.render(
                "type.target", ptype=ptype, master_unit=master, instance_units=instance_units
            )
            out.append(ExportFile(type_unit, content))
            for inst in ptype.instances:
                env = inst.env if env_path is None else {k: inst.env[k] for k in INSTANCE_KEYS}
                content = self.render(
                    "process.service",
                    instance=inst,
                    type_unit=type_unit,
                    unit_name=self.unit(ptype.name, inst.number),
                    env=env,
                    env_file=str(env_path) if env_path else "",
                    command=ptype.exec_command,
                )
                out.append(ExportFile(self.unit(ptype.name, inst.number) + ".service", content))
        return out
