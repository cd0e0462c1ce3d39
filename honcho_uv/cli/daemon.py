"""``hu daemon`` and the ``gafferd`` console script (the same command)."""

from __future__ import annotations

import logging
import os
import stat
import sys
from typing import Any

import click

from honcho_uv.cli.exits import fail, usage_line
from honcho_uv.cli.loop import run_loop
from honcho_uv.daemon.gafferd import Daemon, DaemonOptions
from honcho_uv.errors import ConfigError, HuError, InvalidOption

__all__ = ["daemon_command", "gafferd_main"]

LOG_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"
LEVELS = ("critical", "error", "warning", "info", "debug")


def _read_token_file(path: str) -> str:
    try:
        st = os.stat(path)
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise ConfigError(f"{path}: token file is readable by others; chmod 600 it")
        with open(path, encoding="utf-8") as f:
            token = f.read().strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read token file ({exc.strerror})") from exc
    if not token:
        raise ConfigError(f"{path}: token file is empty")
    return token


def _setup_logging(level: str, logfile: str | None) -> None:
    if level.lower() not in LEVELS:
        raise InvalidOption("--log-level", f"expected one of {', '.join(LEVELS)}, got {level!r}")
    try:
        handler: logging.Handler = logging.FileHandler(logfile) if logfile and logfile != "-" \
            else logging.StreamHandler(sys.stderr)
    except OSError as exc:
        raise ConfigError(f"{logfile}: cannot open log file ({exc.strerror})") from exc
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@click.command("daemon")
@click.argument("config_arg", required=False, metavar="[CONFIG]")
@click.option("-c", "--config", default=None, metavar="FILE", help="The ini file (same as CONFIG).")
@click.option("--bind", "binds", multiple=True, metavar="ADDR",
              help="unix:/path or tcp://host:port (repeatable; replaces the ini's bind).")
@click.option("--pidfile", default=None, metavar="FILE", help="Write our pid here; refuse to start over a live one.")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback TCP bind or --ui address (a token is required for the API).")
@click.option("--token", envvar="HU_TOKEN", default=None, metavar="TOKEN", help="Bearer token for TCP (env HU_TOKEN).")
@click.option("--token-file", default=None, metavar="FILE", help="Read the token from FILE (mode 0600).")
@click.option("--allow-exec", is_flag=True, help="Allow adding/editing processes over TCP (always allowed on unix).")
@click.option("--ui", "ui", default=None, metavar="[HOST:]PORT",
              help="Serve the live web dashboard on this port (127.0.0.1 unless a HOST is given); `hu ui` prints "
                   "its URL.")
@click.option("--log-file", default=None, metavar="FILE", help="Log here instead of stderr.")
@click.option("--log-level", default=None, metavar="LEVEL", help="critical, error, warning, info (default), debug.")
def daemon_command(config_arg: str | None, config: str | None, binds: tuple[str, ...], **params: Any) -> None:
    """Run processes from a gafferd ini file, controlled over the HTTP API (also `gafferd`)."""
    if config_arg and config and config_arg != config:
        raise InvalidOption("--config", "give the config file once (CONFIG or -c)")
    if params["token"] and params["token_file"]:
        raise InvalidOption("--token", "give --token or --token-file, not both")
    token = _read_token_file(params["token_file"]) if params["token_file"] else params["token"]
    options = DaemonOptions(config=config_arg or config, binds=list(binds), pidfile=params["pidfile"], token=token,
                            allow_remote=params["allow_remote"], allow_exec=params["allow_exec"], ui=params["ui"])
    daemon = Daemon(options)
    _setup_logging(params["log_level"] or daemon.config.loglevel or "info", params["log_file"] or daemon.config.logfile)
    sys.exit(run_loop(daemon.run()))


def gafferd_main() -> None:
    """The ``gafferd`` console script."""
    try:
        daemon_command.main(prog_name="gafferd", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        click.echo(usage_line(exc), err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except HuError as exc:
        fail(exc, prog="gafferd")
