"""systemd: ``APP.target`` -> ``APP-TYPE.target`` -> ``APP-TYPE-N.service``.

Each service runs one instance through ``/bin/sh -c`` (``exec`` only before a single
simple command), restarts on failure after 2 s with a start rate limit, stops with
``KillMode=mixed`` (the stop signal, default SIGTERM, to the main process, SIGKILL to
everything left in the cgroup after ``TimeoutStopSec`` = ``--timeout``), and logs to the
journal. ``%`` and ``$`` are escaped where systemd would expand them. ``--env-file`` moves
the app env into ``APP.env`` (mode 0600; systemd reads it as root), leaving only PORT/PS/
HU_PROCESS_NAME in the units. ``--user-units`` targets ``systemctl --user``.

``hu.toml`` in systemd's terms:

* ``depends_on``: ``After=`` every instance service of the dependency (ordering a target
  does not order its services), with ``Requires=`` for ``ready`` and ``succeeded`` (its
  failed start fails ours) and ``Wants=`` for ``started`` and ``exited`` (any outcome will
  do). A service's start completes when it is ready in the sense below, a oneshot's when it
  exited with 0, so ``After=`` waits for exactly that.
* ``oneshot``: ``Type=oneshot`` with ``RemainAfterExit=yes``; ``Restart=on-failure`` only
  with ``restart = "on-failure"`` or ``"always"``.
* ``ready``: ``notify`` -> ``Type=notify`` with ``NotifyAccess=all`` (the notifying process
  may be a child of ``sh``); ``exec:CMD`` -> ``ExecStartPost=`` retrying CMD each second;
  ``N`` seconds -> ``ExecStartPost=`` sleeping N (a main process that dies meanwhile fails
  the start); each with ``TimeoutStartSec=`` = ``ready_timeout``.
* ``stop_signal`` -> ``KillSignal=``; ``restart`` -> ``Restart=`` (``never`` -> ``no``).
* Not expressible, written as comments: tcp/http/log readiness (no client in a unit without
  assuming tools) and ``health`` (systemd's watchdog needs the app to send WATCHDOG=1).
"""

from __future__ import annotations

from dataclasses import dataclass

from honcho_uv.errors import InvalidOption
from honcho_uv.export.base import INSTANCE_KEYS, ExportContext, Exporter, ExportFile, ProcessType
from honcho_uv.export.model import Notes, signal_name, whole_seconds

__all__ = ["SystemdExporter"]

_RESTART = {"never": "no", "on-failure": "on-failure", "always": "always"}
_STRONG = ("ready", "succeeded")
_CARRIED = ("notify", "exec", "alive")  # ready probes a unit can wait for


@dataclass(frozen=True)
class _Service:
    """How one type's services start, stop and order themselves (the same for each instance)."""

    type: str = "exec"
    dependencies: tuple[str, ...] = ()  # After=/Requires=/Wants= lines
    start_post: str = ""
    start_timeout: int | None = None
    restart: str = "on-failure"
    kill_signal: str = "SIGTERM"
    notes: tuple[str, ...] = ()


class SystemdExporter(Exporter):
    name = "systemd"
    flags = frozenset({"--user", "--timeout", "--env-file", "--user-units"})

    def __init__(self, ctx: ExportContext):
        super().__init__(ctx)
        if ctx.user and ctx.user_units:
            raise InvalidOption("--user", "user units run as their owner; drop -u or --user-units")

    def unit(self, *parts: object) -> str:
        return "-".join([self.ctx.app, *map(str, parts)])

    def services_of(self, type_name: str) -> list[str]:
        return [self.unit(type_name, i.number) + ".service" for i in self.ctx.type(type_name).instances]

    def service(self, ptype: ProcessType) -> _Service:
        notes = Notes()
        after: list[str] = []
        requires: list[str] = []
        wants: list[str] = []
        for dep, condition in ptype.depends_on.items():
            units = self.services_of(dep)
            after += units
            (requires if condition in _STRONG else wants).extend(units)
            dep_type = self.ctx.type(dep)
            if condition == "ready" and not (dep_type.ready and dep_type.ready.kind in _CARRIED):
                notes.unready(ptype, dep_type, "its start")
            if condition in ("exited", "succeeded") and not dep_type.oneshot:
                notes.add(ptype, "depends_on", f"{dep}:{condition}",
                          f"systemd waits for the exit of a oneshot only; {dep} is ordered by its start")
        deps = tuple(f"{key}={' '.join(units)}" for key, units in
                     (("After", after), ("Requires", requires), ("Wants", wants)) if units)
        kill = signal_name(ptype.stop_signal) if ptype.stop_signal else "SIGTERM"
        if ptype.oneshot:
            restart = "on-failure" if ptype.restart in ("on-failure", "always") else "no"
            if ptype.ready is not None:
                notes.add(ptype, "ready", ptype.ready, "a oneshot is done when it exits 0")
            return _Service("oneshot", deps, restart=restart, kill_signal=kill,
                            notes=tuple(self._health(ptype, notes).of(ptype.name)))
        restart = _RESTART.get(ptype.restart or "on-failure", "on-failure")
        kind, post, timeout = "exec", "", None
        probe = ptype.ready
        if probe is not None and probe.kind in _CARRIED:
            timeout = whole_seconds(ptype.ready_timeout)
            if probe.kind == "notify":
                kind = "notify"
            elif probe.kind == "exec":
                post = f"until {probe.command}\ndo sleep 1; done"
            else:
                post = f"sleep {probe.seconds:g}"
        elif probe is not None and probe.kind != "started":
            notes.add(ptype, "ready", probe, "systemd cannot probe a port or read the output for readiness "
                                             "without tools in the unit; use notify or exec:")
        return _Service(kind, deps, post, timeout, restart, kill, tuple(self._health(ptype, notes).of(ptype.name)))

    @staticmethod
    def _health(ptype: ProcessType, notes: Notes) -> Notes:
        if ptype.health is not None:
            notes.add(ptype, "health", ptype.health, "systemd has no health checks (WatchdogSec= needs the app "
                                                     "to send WATCHDOG=1)")
        return notes

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
            service = self.service(ptype)
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
                    service=service,
                )
                out.append(ExportFile(self.unit(ptype.name, inst.number) + ".service", content))
        return out
