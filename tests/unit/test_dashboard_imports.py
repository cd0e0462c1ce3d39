"""Without --ui nothing of the dashboard is loaded (the idle and startup figures of
docs/benchmarks.rst hold); with it, the dashboard and aiohttp are.

``hu start`` runs in a fresh interpreter against a Procfile whose one process exits at once;
what it imported is read from ``sys.modules`` when it is done.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.kit.hu import hu_env

RUN_AND_LIST = """\
import json, sys
from honcho_uv.cli import cli
try:
    cli.main(sys.argv[2:], prog_name="hu", standalone_mode=False)
finally:
    with open(sys.argv[1], "w") as f:
        json.dump(sorted(sys.modules), f)
"""


def modules_of_start(app, tmp_path, *args: str) -> list[str]:
    app.write("Procfile", "web: true\n")
    listing = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", RUN_AND_LIST, str(listing), "start", *args], cwd=app.root,
                            env=hu_env(app.env, HU_SOCKET=str(app.sock)), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(listing.read_text())


def test_hu_start_without_ui_loads_nothing_of_the_dashboard(app, tmp_path):
    modules = modules_of_start(app, tmp_path)
    assert "honcho_uv.core.manager" in modules  # it did run
    assert [m for m in modules if m.startswith(("honcho_uv.http.dashboard", "aiohttp"))] == []


@pytest.mark.parametrize("args", [["--ui", "127.0.0.1:0"]])
def test_hu_start_with_ui_loads_the_dashboard(app, tmp_path, args):
    modules = modules_of_start(app, tmp_path, *args)
    assert "honcho_uv.http.dashboard.server" in modules and "aiohttp" in modules
