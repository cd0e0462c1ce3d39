"""``hu export``: the Procfile's process model written out for a real supervisor.

Formats are classes registered under the entry-point group ``honcho_uv.exporters``
(``name = module:Class``), so a plugin package can add one; the built-in formats are
also listed here so the registry works from a source tree without installed metadata.
``docker-compose`` is an alias of ``compose``.

Layer L4: imports only errors, models, atomicfile and procfile (and Jinja2); it never
starts a process.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from honcho_uv.errors import ExportError, UnknownFormat
from honcho_uv.export.base import ExportContext, Exporter, ExportFile, ExportOptions, build_context
from honcho_uv.export.writer import Plan, apply_plan, plan_export

__all__ = [
    "ENTRY_POINT_GROUP",
    "ExportContext",
    "ExportFile",
    "ExportOptions",
    "Exporter",
    "Plan",
    "UnknownFormat",
    "apply_plan",
    "build_context",
    "export",
    "get_exporter",
    "known_formats",
    "plan_export",
]

ENTRY_POINT_GROUP = "honcho_uv.exporters"
BUILTIN = {
    "systemd": "honcho_uv.export.systemd:SystemdExporter",
    "gafferd": "honcho_uv.export.gafferd:GafferdExporter",
    "supervisord": "honcho_uv.export.supervisord:SupervisordExporter",
    "runit": "honcho_uv.export.runit:RunitExporter",
    "launchd": "honcho_uv.export.launchd:LaunchdExporter",
    "compose": "honcho_uv.export.compose:ComposeExporter",
    "kubernetes": "honcho_uv.export.kubernetes:KubernetesExporter",
}
ALIASES = {"docker-compose": "compose"}


def _registry() -> dict[str, str]:
    formats = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        formats[ep.name] = ep.value
    return formats


def known_formats() -> list[str]:
    """Every format name, aliases included, sorted."""
    return sorted({*_registry(), *ALIASES})


def get_exporter(name: str) -> type[Exporter]:
    """The exporter class for *name* (or an alias).

    Raises:
        UnknownFormat: no such format; the message lists the known ones.
        ExportError: the format's module or class cannot be loaded.
    """
    registry = _registry()
    canonical = ALIASES.get(name, name)
    target = registry.get(canonical)
    if target is None:
        raise UnknownFormat(f"unknown export format {name!r} (known: {', '.join(known_formats())})")
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ExportError(f"export format {name!r} cannot be loaded from {target}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Exporter)):
        raise ExportError(f"export format {name!r}: {target} is not an Exporter")
    return cls


def export(ctx: ExportContext, *, dry_run: bool = False) -> Plan:
    """Render *ctx* with its format and write it (unless *dry_run*); return the plan."""
    exporter = get_exporter(ctx.format)(ctx)
    plan = plan_export(exporter)
    if not dry_run:
        apply_plan(plan)
    return plan

