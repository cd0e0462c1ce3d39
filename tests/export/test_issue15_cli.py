"""Issue 15 through the real command line: the shell's PORT stays out of exports, ``--timeout``
takes float seconds, a flag a format does not use is one line ``hu: ...``, and a gafferd export
run by ``hu daemon`` supervises the app itself, not ``/bin/sh``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.kit.export_app import ENV
from tests.kit.hu import AppDir, Running, hu, hu_env
from tests.kit.wait import wait_for


def _one_line_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("fmt", ["systemd", "gafferd", "compose"])
def test_regression_export_ignores_the_shells_port(shop: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    result = hu("export", fmt, str(out), cwd=shop, env=hu_env(PORT="7000"))
    assert result.returncode == 0, result.stderr
    text = "".join(p.read_text() for p in sorted(out.rglob("*")) if p.is_file())
    assert "7000" not in text
    assert "5000" in text


def test_regression_export_port_comes_from_the_flag_or_the_env_files(shop: Path, tmp_path: Path) -> None:
    (shop / ".env").write_text(ENV + "PORT=6000\n")
    shell = hu_env(PORT="7000")
    assert hu("export", "systemd", str(tmp_path / "a"), cwd=shop, env=shell).returncode == 0
    assert 'Environment="PORT=6000"' in (tmp_path / "a" / "shop-web-1.service").read_text()
    assert hu("export", "systemd", str(tmp_path / "b"), "-p", "8000", cwd=shop, env=shell).returncode == 0
    assert 'Environment="PORT=8000"' in (tmp_path / "b" / "shop-web-1.service").read_text()


def test_regression_export_timeout_takes_float_seconds(shop: Path, tmp_path: Path) -> None:
    result = hu("export", "systemd", str(tmp_path / "s"), "--timeout", "2.5", cwd=shop)
    assert result.returncode == 0, result.stderr
    assert "TimeoutStopSec=2.5\n" in (tmp_path / "s" / "shop-web-1.service").read_text()
    result = hu("export", "supervisord", str(tmp_path / "v"), "--timeout", "2.5", "-l", str(tmp_path / "log"),
                cwd=shop)
    assert result.returncode == 0, result.stderr
    assert "stopwaitsecs=3\n" in (tmp_path / "v" / "shop.conf").read_text()


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_regression_export_timeout_out_of_range_is_one_line(shop: Path, tmp_path: Path, value: str) -> None:
    result = hu("export", "systemd", str(tmp_path / "out"), f"--timeout={value}", cwd=shop)
    _one_line_error(result, "hu: --timeout: must be a number of seconds above 0")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["runit", "--timeout", "3"], "hu: --timeout: the runit format does not use a stop timeout"),
    (["compose", "-u", "deploy"], "hu: --user: the compose format does not use a user"),
    (["kubernetes", "--image", "i:1", "-l", "/var/log/x"], "hu: --log: the kubernetes format does not use a log"),
    (["systemd", "-l", "/var/log/x"], "hu: --log: the systemd format does not use a log directory"),
    (["gafferd", "--image", "i:1"], "hu: --image: the gafferd format does not use an image"),
    (["systemd", "--listen", "web"], "hu: --listen: the systemd format does not use listening types"),
    (["launchd", "--env-file"], "hu: --env-file: the launchd format does not use an env file"),
    (["supervisord", "--user-units"], "hu: --user-units: the supervisord format does not use user units"),
    (["gafferd", "--no-prefix"], "hu: --no-prefix: the gafferd format does not use --no-prefix"),
    (["gafferd", "--no-color"], "hu: --no-color: the gafferd format does not use --no-color"),
])
def test_regression_export_refuses_flags_the_format_does_not_use(shop: Path, tmp_path: Path, args: list[str],
                                                                  message: str) -> None:
    fmt, *flags = args
    out = tmp_path / "out"
    _one_line_error(hu("export", fmt, str(out), *flags, cwd=shop), message)
    assert not out.exists()


def test_regression_export_flags_the_format_uses_are_accepted(shop: Path, tmp_path: Path) -> None:
    for args in (["runit", "-u", "deploy", "-l", "/var/log/shop"],
                 ["compose", "--timeout", "1.5", "--image", "i:1", "--listen", "web"],
                 ["systemd", "--env-file", "--user-units", "--timeout", "3"]):
        result = hu("export", args[0], str(tmp_path / args[0]), *args[1:], cwd=shop)
        assert result.returncode == 0, (args, result.stderr)


def test_regression_gafferd_export_execs_the_command(app: AppDir, daemon: Callable[..., Running]) -> None:
    """Run by ``hu daemon``, the supervised process of a simple command is the app itself."""
    myapp = app.root / "myapp"
    myapp.mkdir()
    (myapp / "Procfile").write_text("web: sleep 3599.75\nworker: sleep 3599.5 && true\n")
    out = app.root / "out"
    result = app.hu("export", "gafferd", str(out), "-d", str(myapp), text=True)
    assert result.returncode == 0, result.stderr
    running = daemon(str(out / "myapp.ini"))

    def pids() -> dict[str, int] | None:
        ps = app.hu("ps", "--json", "--socket", str(running.sock), text=True)
        rows = {row["name"]: row["os_pid"] for row in json.loads(ps.stdout)} if ps.returncode == 0 else {}
        return rows if rows.get("web.1") and rows.get("worker.1") else None

    found = wait_for(pids, 15, "web.1 and worker.1 running")
    assert isinstance(found, dict)

    def argv(pid: int) -> list[str]:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]

    assert argv(found["web.1"]) == ["sleep", "3599.75"]  # exec'd: no shell in between
    assert argv(found["worker.1"])[:2] == ["/bin/sh", "-c"]  # compound: runs as written
