"""The control commands are instant: their client is the standard library's, not aiohttp.

Each command runs in a fresh interpreter against a real ``hu start``; what it imported is
read from ``sys.modules`` when it is done.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.kit.hu import hu_env

RUN_AND_LIST = """\
import json, os, sys
from honcho_uv.cli import cli
os.execve = lambda *args: sys.exit(0)  # hu run execs: list what it imported instead
try:
    cli.main(sys.argv[2:], prog_name="hu", standalone_mode=False)
finally:
    with open(sys.argv[1], "w") as f:
        json.dump(sorted(sys.modules), f)
"""

HEAVY = ("aiohttp", "asyncio", "uvloop", "honcho_uv.core", "honcho_uv.http.app", "honcho_uv.procfile.config")


def imported(app, tmp_path, *args: str) -> list[str]:
    listing = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", RUN_AND_LIST, str(listing), *args], cwd=app.root,
                            env=hu_env(app.env, HU_SOCKET=str(app.sock)), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(listing.read_text())


@pytest.fixture
def running(app):
    app.write("Procfile", "web: sleep 60\nworker: sleep 60\n")
    yield app.start("start", sock=app.sock, ready="ping")


@pytest.mark.parametrize("args", [["ps"], ["scale", "worker=2"], ["restart", "web"], ["stop", "worker"],
                                  ["logs", "-n", "5"], ["wait", "--timeout", "5"]])
def test_control_commands_do_not_import_aiohttp_or_the_core(app, running, tmp_path, args):
    heavy = [m for m in imported(app, tmp_path, *args) if m.startswith(HEAVY)]
    assert heavy == [], f"hu {' '.join(args)} imported {heavy}"


def test_version_imports_neither_the_client_nor_the_core(app, tmp_path):
    modules = imported(app, tmp_path, "--version")
    assert [m for m in modules if m.startswith((*HEAVY, "honcho_uv.http", "http.client"))] == []


def test_a_one_off_run_imports_neither_asyncio_nor_the_core(app, tmp_path):
    app.write("Procfile", "web: sleep 60\n")
    modules = imported(app, tmp_path, "run", "--", sys.executable, "-c", "pass")
    # It reads the app (Procfile, env files, hu.toml: their checks), and nothing that runs processes.
    heavy = ("aiohttp", "asyncio", "uvloop", "psutil", "honcho_uv.core.manager", "honcho_uv.core.process",
             "honcho_uv.http", "http.client")
    assert [m for m in modules if m.startswith(heavy)] == []


def test_a_one_off_run_in_an_app_without_env_or_config_files_does_not_load_their_parsers(app, tmp_path):
    # Issue 14: `hu run true` lost to `honcho run true` by the 35 ms of python-dotenv's package
    # (logging, tempfile) and tomllib with the template models, loaded with nothing to parse.
    app.write("Procfile", "web: sleep 60\n")
    assert not (app.root / ".env").exists() and not (app.root / "hu.toml").exists()
    modules = imported(app, tmp_path, "run", "true")  # one word: it may name an entry, so the app is read
    assert "honcho_uv.procfile.app" in modules
    assert [m for m in modules if m.startswith(("dotenv", "tomllib", "honcho_uv.core"))] == []
    app.write(".env", "A=1\n")
    app.write("hu.toml", "[processes.web]\nready = 'tcp:5000'\n")
    modules = imported(app, tmp_path, "run", "true")
    assert {"dotenv.parser", "tomllib"} <= set(modules)
