"""``hu export FORMAT LOCATION``: write the Procfile out for a real supervisor.

Errors (:class:`~honcho_uv.errors.HuError`) print one line ``hu: message`` on stderr through
the group's one error path and exit with the error's code (1; 2 for an unknown format).

Guarantees: a flag the format does not use is refused before any file is read (a flag is
never silently ignored); the port base is ``-p``, else ``PORT`` from the env files, else 5000,
never the ``PORT`` of the shell that runs ``hu export``.
"""

from __future__ import annotations

import os
from typing import Any

import click
from click.core import ParameterSource

from honcho_uv.cli.options import global_options, globals_of
from honcho_uv.procfile.app import load_app
from honcho_uv.procfile.formation import parse_formation, resolve_formation

__all__ = ["export_command"]

# Options every format uses; any other option the user gives must be one the format lists
# in Exporter.flags, so a new flag is refused by every format until one says it uses it.
_EVERY_FORMAT = frozenset({"app_name", "concurrency", "formation", "port", "template_dir", "dry_run",
                           "procfile", "env_files", "app_root", "config"})


@click.command("export")
@click.argument("format_name", metavar="FORMAT")
@click.argument("location", type=click.Path(file_okay=False))
@click.option("-a", "--app", "app_name", metavar="APP", help="App name (default: the app root's base name).")
@click.option("-u", "--user", metavar="USER", help="Run the processes as USER (no user setting without it; "
                                                   "not compose, kubernetes).")
@click.option("-c", "--concurrency", multiple=True, metavar="SPEC", help="Formation, e.g. web=2,worker=1,all=1.")
@click.option("-m", "--formation", multiple=True, metavar="SPEC", help="Alias of --concurrency.")
@click.option("-p", "--port", metavar="PORT",
              help="Port base (default: PORT from the env files, else 5000; never the shell's PORT).")
@click.option("--timeout", type=float, default=None, metavar="SECONDS",
              help="Seconds between the stop signal and SIGKILL, e.g. 2.5 (default 5; rounded up where a "
                   "format takes whole seconds; not runit).")
@click.option("-l", "--log", "log_dir", metavar="DIR",
              help="supervisord, runit, launchd: log directory (default /var/log/APP).")
@click.option("-t", "--template-dir", metavar="DIR",
              help="Directory whose files override the shipped templates by name.")
@click.option("--dry-run", is_flag=True, help="List what would be written and removed; write nothing.")
@click.option("--env-file", is_flag=True, help="systemd, supervisord: put the app env in APP.env (mode 0600).")
@click.option("--user-units", is_flag=True, help="systemd: units for systemctl --user.")
@click.option("--image", metavar="IMAGE",
              help="compose, kubernetes: container image (compose: instead of build: .; kubernetes: required).")
@click.option("--listen", metavar="TYPES",
              help="compose, kubernetes: comma-separated process types that listen on PORT (default: web).")
@global_options(display=False)
@click.pass_context
def export_command(ctx: click.Context, /, format_name: str, location: str, **options: Any) -> None:
    """Export the Procfile to FORMAT files in LOCATION."""
    given = _given_flags(ctx)
    opts = globals_of(ctx, options)
    # Imported here so `hu --help` does not load Jinja2.
    from honcho_uv.export import ExportOptions, build_context, export, get_exporter

    # An unknown format, then a flag it does not use, fail before any file is read.
    get_exporter(format_name).refuse_unused(given)
    # The exporting shell's PORT must not reach the files (docs/export.rst): the port base
    # comes from -p, the env files or the default only.
    environ = {k: v for k, v in os.environ.items() if k != "PORT"}
    app = load_app(opts.app_root, opts.procfile, opts.env_files, options.pop("port"), os_environ=environ,
                   config=opts.config)
    counts = resolve_formation(app.procfile, parse_formation([*options.pop("concurrency"), *options.pop("formation")]))
    dry_run = options.pop("dry_run")
    listen = options.pop("listen")
    export_options = ExportOptions(
        listen=[t.strip() for t in listen.split(",") if t.strip()] if listen is not None else None, **options)
    plan = export(build_context(app, format_name, location, counts, export_options), dry_run=dry_run)
    lines = [f"would {line}" for line in plan.describe()] or ["nothing to do"] if dry_run else plan.describe()
    for line in lines:
        click.echo(line)


def _given_flags(ctx: click.Context) -> list[str]:
    """The long names of the options given on this command's line that not every format uses
    (``--no-color`` for the off side of a ``--color/--no-color`` switch)."""
    given = []
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name is None or param.name in _EVERY_FORMAT:
            continue
        if ctx.get_parameter_source(param.name) is not ParameterSource.COMMANDLINE:
            continue
        names = param.secondary_opts if param.secondary_opts and ctx.params.get(param.name) is False else param.opts
        given.append(next((n for n in names if n.startswith("--")), names[0]))
    return given
