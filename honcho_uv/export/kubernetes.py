"""Kubernetes: a Deployment per process type, a Service per listening type, the app env
in a ConfigMap and a Secret, and a ``kustomization.yaml`` (``kubectl apply -k DIR``).

* ``--image`` is required: Kubernetes runs images, not directories.
* Deployment ``APP-TYPE``: ``replicas`` from the formation (0 allowed), labels
  ``app``/``process``, ``command: ["/bin/sh", "-c", CMD]``, ``PORT`` = the type's first
  port, ``PS=TYPE``, ``terminationGracePeriodSeconds`` = ``--timeout``, ``envFrom`` the
  ConfigMap ``APP-env`` and the Secret ``APP-secrets``; listening types (``web`` unless
  ``--listen``) declare ``containerPort: PORT`` and get a Service ``APP-TYPE``.
* Keys matching ``(?i)secret|password|passwd|token|api_?key|private|credential`` go to
  the Secret (file mode 0600), the others to the ConfigMap.
* Kubernetes expands ``$(VAR)`` in ``command`` and ``env[].value`` and turns ``$$``
  into ``$``, so every ``$`` there is written ``$$``.
* Names are lowercased with ``_`` and ``.`` turned into ``-``; a name that is still not
  a DNS label (or two types that collide) is refused.
"""

from __future__ import annotations

import re

from honcho_uv.errors import ExportError, InvalidOption
from honcho_uv.export.base import ExportContext, Exporter, ExportFile

__all__ = ["SECRET_KEY_RE", "KubernetesExporter", "is_secret_key"]

SECRET_KEY_RE = re.compile(r"secret|password|passwd|token|api_?key|private|credential", re.IGNORECASE)
_DNS_LABEL = re.compile(r"\A[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")


def is_secret_key(key: str) -> bool:
    """True when *key* looks like it holds a secret (it then goes to the Secret)."""
    return SECRET_KEY_RE.search(key) is not None


def _dns(name: str, what: str) -> str:
    label = name.lower().replace("_", "-").replace(".", "-")
    if not _DNS_LABEL.match(label):
        raise ExportError(f"kubernetes: {what} {name!r} does not give a valid name ({label!r}); "
                          "use -a with letters first")
    return label


class KubernetesExporter(Exporter):
    name = "kubernetes"
    any_env_name = True

    def __init__(self, ctx: ExportContext):
        super().__init__(ctx)
        if not ctx.image:
            raise InvalidOption("--image", "the kubernetes format needs --image IMAGE (the image that holds the app)")

    def files(self) -> list[ExportFile]:
        ctx = self.ctx
        app = _dns(ctx.app, "app name")
        env = ctx.shared_env
        secrets = {k: v for k, v in env.items() if is_secret_key(k)}
        config = {k: v for k, v in env.items() if k not in secrets}
        common = {"app_label": app}
        out: list[ExportFile] = []
        configmap = f"{app}-env" if config else ""
        secret = f"{app}-secrets" if secrets else ""
        if config:
            content = self.render("configmap.yaml", name=configmap, data=config, **common)
            out.append(ExportFile(f"{ctx.app}-configmap.yaml", content))
        if secret:
            content = self.render("secret.yaml", name=secret, data=secrets, **common)
            out.append(ExportFile(f"{ctx.app}-secret.yaml", content, 0o600))
        seen: dict[str, str] = {}
        for ptype in ctx.types:
            process = _dns(ptype.name, "process type")
            if process in seen:
                raise ExportError(f"kubernetes: process types {seen[process]!r} and {ptype.name!r} give the same name")
            seen[process] = ptype.name
            name = _dns(f"{app}-{process}", "name")
            values = dict(common, name=name, process_label=process, ptype=ptype)
            listens = ctx.listens(ptype.name)
            content = self.render(
                "deployment.yaml", configmap=configmap, secret=secret, listens=listens, **values
            )
            out.append(ExportFile(f"{ctx.app}-{ptype.name}-deployment.yaml", content))
            if listens:
                content = self.render("service.yaml", **values)
                out.append(ExportFile(f"{ctx.app}-{ptype.name}-service.yaml", content))
        resources = [f.path for f in out]
        out.append(ExportFile("kustomization.yaml", self.render("kustomization.yaml", resources=resources)))
        return out
