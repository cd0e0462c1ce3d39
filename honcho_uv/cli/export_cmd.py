"""``hu export FORMAT LOCATION``: write the Procfile out for a real supervisor.

Self-contained: :func:`register` adds the command to a click group. Errors of
honcho_uv (:class:`~honcho_uv.errors.HuError`) print one line ``hu: message`` on stderr
and exit with the error's code (1; 2 for an unknown format), never a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from honcho_uv.cli.options import global_options, globals_of
from honcho_uv.environ import load_app, parse_formation, resolve_formation
from honcho_uv.errors import HuError

__all__ = ["export_command", "register"]


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
@click.option("-t", "--template-dir", metavar="DIR", help="Directory whose files override the shipped templates by name.")
@click.option("--dry-run", is_flag=True, help="List what would be written and removed; write nothing.")
@click.option("--env-file", is_flag=True, help="systemd, supervisord: put the app env in APP.env (mode 0600).")
@click.option("--user-units", is_flag=True, help="systemd: units for systemctl --user.")
@click.option("--image", metavar="IMAGE", help="Container image (compose: instead of build: .; kubernetes: required).")
@click.option("--listen", metavar="TYPES", help="Comma-separated process types that listen on PORT (default: web).")
@global_options
@click.pass_context
def export_command(ctx: click.Context, format_name: str, location: str, **options: Any) -> None:
    """Export the Procfile to FORMAT files in LOCATION."""
    opts = globals_of(ctx, options)
    options.update(procfile=opts.procfile, env_files=opts.env_files or (), app_root=opts.app_root)
    try:
        lines = run_export(format_name, location, **options)
    except HuError as exc:
        click.echo(f"hu: {exc}", err=True)
        sys.exit(exc.exit_code)
    for line in lines:
        click.echo(line)


def run_export(
    format_name: str,
    location: str,
    *,
    app_name: str | None,
    user: str | None,
    concurrency: tuple[str, ...],
    formation: tuple[str, ...],
    port: str | None,
    timeout: int,
    log_dir: str | None,
    template_dir: str | None,
    dry_run: bool,
    env_file: bool,
    user_units: bool,
    image: str | None,
    listen: str | None,
    procfile: str | None,
    env_files: tuple[str, ...],
    app_root: str | None,
) -> list[str]:
    """Do the export; return the lines to print. Raises HuError subclasses."""
    # Imported here so `hu --help` does not load Jinja2.
    from honcho_uv.export import build_context, export, get_exporter

    get_exporter(format_name)  # an unknown format fails before any file is read
    app = load_app(app_root, procfile, env_files, port)
    counts = resolve_formation(app.procfile, parse_formation([*concurrency, *formation]))
    listen_types = [t.strip() for t in listen.split(",") if t.strip()] if listen is not None else None
    ctx = build_context(
        app,
        format_name,
        location,
        counts,
        app_name=app_name,
        user=user,
        timeout=timeout,
        log_dir=log_dir,
        image=image,
        listen=listen_types,
        template_dir=template_dir,
        env_file=env_file,
        user_units=user_units,
    )
    plan = export(ctx, dry_run=dry_run)
    if dry_run:
        return [f"would {line}" for line in plan.describe()] or ["nothing to do"]
    return plan.describe()


def register(group: click.Group) -> None:
    """Add ``export`` to *group*."""
    group.add_command(export_command)
