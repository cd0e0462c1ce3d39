"""Docker Compose: ``compose.yaml`` with one service per process type.

``image:`` from ``--image``, else ``build: .``; ``command`` is ``["/bin/sh", "-c",
CMD]`` (``exec`` only before a single simple command); ``deploy.replicas`` is the
formation count; ``init: true`` reaps zombies; ``stop_grace_period`` is ``--timeout``.
Replicas share one environment, so every replica gets the type's *first* PORT and
``PS=TYPE`` (and ``HU_PROCESS_NAME=TYPE``). Listening types (``web`` unless
``--listen``) publish their PORT: ``P:P`` for one replica, a host range ``P-Q:P``
for several. Compose interpolates ``$`` everywhere, so ``$`` is written ``$$``;
strings are YAML double-quoted.
"""

from __future__ import annotations

import re

from honcho_uv.export.base import Exporter, ExportFile, ProcessType

__all__ = ["ComposeExporter"]

_PROJECT_RE = re.compile(r"\A[a-z0-9][a-z0-9_-]*\Z")


class ComposeExporter(Exporter):
    name = "compose"
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

    def files(self) -> list[ExportFile]:
        project = self.ctx.app.lower().replace(".", "-")
        content = self.render(
            "compose.yaml",
            project=project if _PROJECT_RE.match(project) else "",
            env=self.env,
            ports=self.ports,
        )
        return [ExportFile("compose.yaml", content)]
