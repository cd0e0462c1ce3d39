"""``hu export FORMAT LOCATION``: write the Procfile out for a real supervisor.

Errors (:class:`~honcho_uv.errors.HuError`) print one line ``hu: message`` on stderr through
the group's one error path and exit with the error's code (1; 2 for an unknown format).
"""

from __future__ import annotations

from typing import Any

import click

from honcho_uv.cli.options import global_options, globals_of
from honcho_uv.procfile.formation import parse_formation, resolve_formation

__all__ = ["export_command"]


@click.command("export")
@click.argument("format_name", metavar="FORMAT")
@click.argument("location", type=click.Path(file_okay=False))
@click.option("-a", "--app", "app_name", metavar="APP", help="App name (default: the app root's base name).")
@click.option("-u", "--user", metavar="USER", help="Run the processes as USER (no user setting without it).")
@click.option("-c", "--concurrency", multiple=True, metavar="SPEC", help="Formation, e.g. web=2,worker=1,all=1.")
@click.option("-m", "--formation", multiple=True, metavar="SPEC", help="Alias of --concurrency.")
@click.option("-p", "--port", metavar="PORT", help="Port base (default: PORT from .env, else 5000).")
@click.option("--timeout", type=int, default=5, show_default=True, help="Seconds between the stop signal and SIGKILL.")
@click.option("-l", "--log", "log_dir", metavar="DIR", help="Log directory (default /var/log/APP).")
@click.option("-t", "--template-dir", metavar="DIR",
              help="Directory whose files override the shipped templates by name.")
@click.option("--dry-run", is_flag=True, help="List what would be written and removed; write nothing.")
@click.option("--env-file", is_flag=True, help="systemd, supervisord: put the app env in APP.env (mode 0600).")
@click.option("--user-units", is_flag=True, help="systemd: units for systemctl --user.")
@click.option("--image", metavar="IMAGE", help="Container image (compose: instead of build: .; kubernetes: required).")
@click.option("--listen", metavar="TYPES", help="Comma-separated process types that listen on PORT (default: web).")
@global_options
@click.pass_context
def export_command(ctx: click.Context, /, format_name: str, location: str, **options: Any) -> None:
    """Export the Procfile to FORMAT files in LOCATION."""
    opts = globals_of(ctx, options)
    # Imported here so `hu --help` does not load Jinja2.
    from honcho_uv.export import ExportOptions, build_context, export, get_exporter

    get_exporter(format_name)  # an unknown format fails before any file is read
    app = opts.load_app(options.pop("port"))
    counts = resolve_formation(app.procfile, parse_formation([*options.pop("concurrency"), *options.pop("formation")]))
    dry_run = options.pop("dry_run")
    listen = options.pop("listen")
    export_options = ExportOptions(
        listen=[t.strip() for t in listen.split(",") if t.strip()] if listen is not None else None, **options)
    plan = export(build_context(app, format_name, location, counts, export_options), dry_run=dry_run)
    lines = [f"would {line}" for line in plan.describe()] or ["nothing to do"] if dry_run else plan.describe()
    for line in lines:
        click.echo(line)
