"""Docker Compose: ``compose.yaml`` with one service per process type.

``image:`` from ``--image``, else ``build: .``; ``command`` is ``["/bin/sh", "-c",
CMD]`` (``exec`` only before a single simple command); ``deploy.replicas`` is the
formation count; ``init: true`` reaps zombies; ``stop_grace_period`` is ``--timeout``.
Replicas share one environment, so every replica gets the type's *first* PORT and
``PS=TYPE`` (and ``HU_PROCESS_NAME=TYPE``). Listening types (``web`` unless
``--listen``) publish their PORT: ``P:P`` for one replica, a host range ``P-Q:P``
for several. Compose interpolates ``$`` everywhere, so ``$`` is written ``$$``;
strings are YAML double-quoted.

``hu.toml`` in Compose's terms:

* ``healthcheck``: Compose runs a health check inside the container, so only what needs no
  tool in the image can be said: an ``exec:`` probe, as ``["CMD-SHELL", CMD]``. The ready
  probe if it is one, else the health probe if it is one; ``start_period`` =
  ``ready_timeout`` (checked every second meanwhile: ``start_interval``, Docker Engine 25+),
  ``interval`` = ``health_interval``, ``retries`` = ``health_failures``, ``timeout`` 5 s (hu's exec probe).
  tcp/http would need curl, wget or nc in the image; log and notify have no equivalent.
* ``depends_on``: ``started`` -> ``service_started``; ``ready`` -> ``service_healthy`` when
  the dependency has a healthcheck, else ``service_started``; ``succeeded`` and ``exited``
  -> ``service_completed_successfully`` (Compose has no "exited with any code": a failing
  dependency stops the dependent from starting, where hu would start it).
* A oneshot gets ``restart: "no"`` (``"on-failure"`` with ``restart = "on-failure"`` or
  ``"always"``); ``restart`` maps to ``"no"``, ``"on-failure"``, ``"always"``;
  ``stop_signal`` to ``stop_signal: SIGNAME``.
* Compose marks a failing health check unhealthy but does not restart the container: a
  ``health`` probe only informs ``docker compose ps`` and dependents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from honcho_uv.export.base import Exporter, ExportFile, ProcessType
from honcho_uv.export.model import Notes, duration, signal_name

__all__ = ["ComposeExporter"]

_PROJECT_RE = re.compile(r"\A[a-z0-9][a-z0-9_-]*\Z")
_RESTART = {"never": "no", "on-failure": "on-failure", "always": "always"}
_CONDITIONS = {"started": "service_started", "succeeded": "service_completed_successfully",
               "exited": "service_completed_successfully"}


@dataclass(frozen=True)
class _Healthcheck:
    test: str
    interval: str
    timeout: str
    retries: int
    start_period: str
    start_interval: str = "1s"


@dataclass(frozen=True)
class _Service:
    """What hu.toml says of one type, in Compose's keys (None: not written)."""

    depends_on: dict[str, str]
    healthcheck: _Healthcheck | None
    restart: str | None
    stop_signal: str | None
    notes: tuple[str, ...]


class ComposeExporter(Exporter):
    name = "compose"
    flags = frozenset({"--timeout", "--image", "--listen"})
    any_env_name = True

    def env(self, ptype: ProcessType) -> dict[str, str]:
        return {
            **self.ctx.shared_env,
            "PORT": str(ptype.first_port),
            "PS": ptype.name,
            "HU_PROCESS_NAME": ptype.name,
        }

    @staticmethod
    def ports(ptype: ProcessType) -> str:
        port = ptype.first_port
        if ptype.count > 1:
            return f"{port}-{port + ptype.count - 1}:{port}"
        return f"{port}:{port}"

    @staticmethod
    def healthcheck(ptype: ProcessType) -> _Healthcheck | None:
        """The exec probe Compose can run (the ready probe's, else the health probe's)."""
        if ptype.oneshot:
            return None
        for probe in (ptype.ready, ptype.health):
            if probe is not None and probe.kind == "exec" and probe.command:
                return _Healthcheck(probe.command, duration(ptype.health_interval), "5s", ptype.health_failures,
                                    duration(ptype.ready_timeout))
        return None

    def service(self, ptype: ProcessType) -> _Service:
        notes = Notes()
        check = self.healthcheck(ptype)
        for key, probe in (("ready", ptype.ready), ("health", ptype.health)):
            if probe is None or probe.kind == "started":
                continue
            if check is not None and probe.kind == "exec" and probe.command == check.test:
                if key == "health":
                    notes.add(ptype, key, probe, "Compose marks the container unhealthy but does not restart it")
                continue
            if ptype.oneshot:
                why = "a oneshot gets no healthcheck (it is done when it exits 0)"
            elif probe.kind == "exec":
                why = "Compose has one healthcheck per service, here the ready probe"
            elif probe.kind in ("tcp", "http"):
                why = "a Compose healthcheck runs in the container and would need curl, wget or nc there; " \
                      "write an exec: probe"
            else:
                why = "Compose has no equivalent"
            notes.add(ptype, key, probe, why)
        depends = {}
        for dep, condition in ptype.depends_on.items():
            if condition == "ready":
                healthy = self.healthcheck(self.ctx.type(dep)) is not None
                depends[dep] = "service_healthy" if healthy else "service_started"
                if not healthy:
                    notes.unready(ptype, self.ctx.type(dep), "its start (service_started)")
            else:
                depends[dep] = _CONDITIONS[condition]
            if condition == "exited":
                notes.add(ptype, "depends_on", f"{dep}:exited", "waits for a successful exit "
                                                                "(service_completed_successfully)")
        if ptype.oneshot:
            restart: str | None = "on-failure" if ptype.restart in ("on-failure", "always") else "no"
        else:
            restart = _RESTART.get(ptype.restart) if ptype.restart else None
        stop = signal_name(ptype.stop_signal) if ptype.stop_signal else None
        return _Service(depends, check, restart, stop, tuple(notes.of(ptype.name)))

    def files(self) -> list[ExportFile]:
        project = self.ctx.app.lower().replace(".", "-")
        content = self.render(
            "compose.yaml",
            project=project if _PROJECT_RE.match(project) else "",
            env=self.env,
            ports=self.ports,
            service=self.service,
        )
        return [ExportFile("compose.yaml", content)]
