"""systemd units checked by ``systemd-analyze verify`` (offline), and read back from its
unit dump: the env values and the command line systemd will run are the intended ones."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.kit.export_app import EXPECTED_ENV, export_live, live_app

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def verify(directory: Path, *, debug: bool = False) -> subprocess.CompletedProcess[str]:
    """Run verify on every unit; with *debug*, stdout carries systemd's unit dump."""
    units = sorted(str(p) for p in directory.iterdir() if p.suffix in (".service", ".target"))
    env = dict(os.environ, SYSTEMD_LOG_LEVEL="debug" if debug else "info", SYSTEMD_PAGER="cat")
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )


def unit_dump(stdout: str, unit: str) -> tuple[dict[str, str], list[str]]:
    """(Environment, ExecStart argv) from systemd's dump of *unit*."""
    block = stdout.split(f"-> Unit {unit}:", 1)[1].split("-> Unit ", 1)[0]
    env = dict(m.split("=", 1) for m in re.findall(r"^\s*Environment: (.*)$", block, re.M))
    line = re.search(r"^\s*Command Line: (.*)$", block, re.M).group(1)  # type: ignore[union-attr]
    return env, _split_dump(line)


def _split_dump(line: str) -> list[str]:
    """Split systemd's dumped command line: words, or "..." with \\ before " \\ ` $."""
    words = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|(\S+)', line):
        words.append(re.sub(r"\\(.)", r"\1", m.group(1)) if m.group(1) is not None else m.group(2))
    return words


def assert_verified(directory: Path) -> subprocess.CompletedProcess[str]:
    """verify exits 0 without a word about our units (warnings included); returns the
    debug run, whose stdout holds the unit dump."""
    quiet = verify(directory)
    assert quiet.returncode == 0, quiet.stderr
    assert [line for line in quiet.stderr.splitlines() if str(directory) in line or ".service" in line] == []
    result = verify(directory, debug=True)
    assert result.returncode == 0, result.stderr
    return result


def test_verify_accepts_units_and_reads_back_env_and_command(tmp_path: Path) -> None:
    root, _ = live_app(tmp_path)
    out = tmp_path / "units"
    ctx = export_live(root, "systemd", out)
    result = assert_verified(out)
    env, argv = unit_dump(result.stdout, "live-web-2.service")
    for key, value in EXPECTED_ENV.items():
        assert env[key] == value
    assert (env["PORT"], env["PS"], env["HU_PROCESS_NAME"]) == ("5001", "web.2", "web.2")
    # systemd keeps $$ in the stored argv and turns it into $ at exec time.
    web = ctx.types[0]
    assert argv[:2] == ["/bin/sh", "-c"]
    assert argv[2].replace("$$", "$") == f"exec {web.command}"
    _, argv = unit_dump(result.stdout, "live-worker-1.service")
    assert argv[2].replace("$$", "$") == ctx.types[1].command  # compound: no exec


def test_verify_env_file_variant(tmp_path: Path) -> None:
    root, _ = live_app(tmp_path)
    out = tmp_path / "units"
    export_live(root, "systemd", out, env_file=True, app_name="envfile")
    env_file = out / "envfile.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    result = assert_verified(out)
    env, _ = unit_dump(result.stdout, "envfile-web-1.service")
    assert set(env) == {"PORT", "PS", "HU_PROCESS_NAME"}  # nothing secret in the unit
    assert f"EnvironmentFile: {env_file}" in result.stdout
    # The file is double-quoted shell syntax with the same escapes systemd reads;
    # check it through a real sh.
    shown = subprocess.run(
        ["/bin/sh", "-c", f'set -a; . "{env_file}"; env -0'], capture_output=True, text=True, env={}, timeout=10
    ).stdout
    seen = dict(item.split("=", 1) for item in shown.split("\0") if "=" in item)
    for key, value in EXPECTED_ENV.items():
        assert seen[key] == value


def test_verify_user_units(tmp_path: Path) -> None:
    root, _ = live_app(tmp_path)
    out = tmp_path / "units"
    export_live(root, "systemd", out, user_units=True, app_name="mine")
    text = (out / "mine.target").read_text()
    assert "WantedBy=default.target" in text
    assert not any("User=" in p.read_text() for p in out.glob("*.service"))
    assert_verified(out)
