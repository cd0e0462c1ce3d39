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

``hu.toml`` in Kubernetes' terms (the kubelet probes from outside the container, so tcp and
http need no tool in the image):

* ``ready`` (tcp, http, exec) -> a ``startupProbe`` (every second, ``failureThreshold`` =
  ``ready_timeout``: a container not ready in time is restarted, as hu stops it) and a
  ``readinessProbe`` with the same check (every 10 s, 3 failures take the pod out of its
  Service); ``ready = N`` seconds -> the Deployment's ``minReadySeconds``.
* ``health`` -> a ``livenessProbe``: ``periodSeconds`` = ``health_interval``,
  ``failureThreshold`` = ``health_failures``.
* Checks: ``tcpSocket``, ``httpGet`` (success is 200-399, as hu's 2xx/3xx) and ``exec``
  (``["/bin/sh", "-c", CMD]``, ``$`` written ``$$``: the kubelet expands ``$(VAR)`` there
  too); the default port is the type's PORT (its ``containerPort``); a loopback host is the
  pod itself (the kubelet probes the pod IP), another host is written as ``host``.
* A oneshot (the release phase included) is a ``Job`` (``completions`` = ``parallelism``
  = the count, ``restartPolicy: Never``, ``backoffLimit`` 0 unless ``restart`` is
  ``on-failure`` or ``always``, then 6), not a Deployment.
* Not expressible: dependencies (Kubernetes starts everything at once), log and notify
  probes, ``stop_signal``, and ``restart`` for Deployments (always restarted); they are
  listed as comments in the manifests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from honcho_uv.errors import ExportError, InvalidOption
from honcho_uv.export.base import ExportContext, Exporter, ExportFile, ProcessType
from honcho_uv.export.model import Notes, probe_host, signal_name, whole_seconds
from honcho_uv.models import Probe

__all__ = ["SECRET_KEY_RE", "KubeProbe", "KubernetesExporter", "is_secret_key", "probes"]

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


@dataclass(frozen=True)
class KubeProbe:
    """One container probe: *field* (``startupProbe``, ``readinessProbe``,
    ``livenessProbe``) and its check (``tcpSocket``, ``httpGet`` or ``exec``)."""

    field: str
    check: str
    port: int
    host: str | None
    path: str
    command: str
    period: int
    timeout: int
    failures: int


_CHECKS = {"tcp": "tcpSocket", "http": "httpGet", "exec": "exec"}


def _probe(field: str, probe: Probe, ptype: ProcessType, period: int, failures: int) -> KubeProbe:
    return KubeProbe(field, _CHECKS[probe.kind], probe.port or ptype.first_port, probe_host(probe), probe.path,
                     probe.command or "", period, 5 if probe.kind == "exec" else 1, failures)


def probes(ptype: ProcessType, notes: Notes) -> list[KubeProbe]:
    """The container probes of *ptype*; what cannot be said goes to *notes*."""
    out = []
    ready = ptype.ready
    if ready is not None and ptype.oneshot:
        notes.add(ptype, "ready", ready, "a Job is done when it exits 0")
    elif ready is not None and ready.kind in _CHECKS:
        out.append(_probe("startupProbe", ready, ptype, 1, whole_seconds(ptype.ready_timeout)))
        out.append(_probe("readinessProbe", ready, ptype, 10, 3))
    elif ready is not None and ready.kind in ("log", "notify"):
        notes.add(ptype, "ready", ready, "the kubelet cannot read the output or take sd_notify; use tcp, http or exec:")
    if ptype.health is not None:
        out.append(_probe("livenessProbe", ptype.health, ptype, whole_seconds(ptype.health_interval),
                          ptype.health_failures))
    return out


def _min_ready(ptype: ProcessType) -> int:
    """``ready = N`` seconds alive: the Deployment's ``minReadySeconds`` (0: not written)."""
    ready = ptype.ready
    return whole_seconds(ready.seconds or 0, 0) if ready and ready.kind == "alive" and not ptype.oneshot else 0


def _notes(ptype: ProcessType) -> Notes:
    notes = Notes()
    notes.dependencies(ptype, "Kubernetes starts every workload at once; see docs/export.rst")
    if ptype.stop_signal is not None:
        notes.add(ptype, "stop_signal", signal_name(ptype.stop_signal), "the kubelet sends SIGTERM "
                                                                        "(or the image's STOPSIGNAL)")
    if ptype.restart is not None and not ptype.oneshot and ptype.restart != "always":
        notes.add(ptype, "restart", ptype.restart, "a Deployment's pods are always restarted")
    return notes


class KubernetesExporter(Exporter):
    name = "kubernetes"
    flags = frozenset({"--timeout", "--image", "--listen"})
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
            notes = _notes(ptype)
            container_probes = probes(ptype, notes)
            values = dict(common, name=name, process_label=process, ptype=ptype)
            listens = ctx.listens(ptype.name)
            workload = "job" if ptype.oneshot else "deployment"
            content = self.render(
                f"{workload}.yaml", configmap=configmap, secret=secret, listens=listens, probes=container_probes,
                notes=notes.of(ptype.name), backoff_limit=6 if ptype.restart in ("on-failure", "always") else 0,
                min_ready=_min_ready(ptype), **values
            )
            out.append(ExportFile(f"{ctx.app}-{ptype.name}-{workload}.yaml", content))
            if listens:
                content = self.render("service.yaml", **values)
                out.append(ExportFile(f"{ctx.app}-{ptype.name}-service.yaml", content))
        resources = [f.path for f in out]
        out.append(ExportFile("kustomization.yaml", self.render("kustomization.yaml", resources=resources)))
        return out
