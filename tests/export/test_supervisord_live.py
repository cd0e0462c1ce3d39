"""A real supervisord runs the exported APP.conf: the programs start, see their env
values intact, and a stop leaves no process behind (stopasgroup/killasgroup)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.kit.export_app import ENV, EXPECTED_ENV, MIXED, MIXED_VALUE, export_live, live_app, read_dumps
from tests.kit.procs import processes_with
from tests.kit.wait import wait_for

SUPERVISORD = shutil.which("supervisord") or str(Path(sys.executable).parent / "supervisord")
pytestmark = pytest.mark.skipif(not Path(SUPERVISORD).exists(), reason="supervisor is not installed")


def run_supervisord(tmp_path: Path, conf: Path, out: Path, names: list[str], token: str) -> dict[str, dict[str, str]]:
    main = tmp_path / "supervisord.conf"
    main.write_text(
        f"""[unix_http_server]
file={tmp_path}/supervisor.sock

[supervisord]
logfile={tmp_path}/supervisord.log
pidfile={tmp_path}/supervisord.pid
childlogdir={tmp_path}
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[include]
files = {conf}
"""
    )
    proc = subprocess.Popen(
        [SUPERVISORD, "-n", "-c", str(main)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        dumps = wait_for(lambda: read_dumps(out, names), 20, what="every program to dump its env")
        assert processes_with(token), "the programs should be running"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    wait_for(lambda: not processes_with(token), timeout=10, what="no program left after the stop")
    return dumps  # type: ignore[return-value]


def test_supervisord_runs_programs_with_intact_env(tmp_path: Path) -> None:
    token = f"35{uuid.uuid4().int % 10**6:06d}.5"
    root, out = live_app(tmp_path, sleep_token=token)
    logs = tmp_path / "logs"
    logs.mkdir()
    export_live(root, "supervisord", tmp_path / "export", log_dir=logs)
    conf = tmp_path / "export" / "live.conf"
    dumps = run_supervisord(tmp_path, conf, out, ["web.1", "web.2", "worker.1"], token)
    for name, port in (("web.1", "5000"), ("web.2", "5001"), ("worker.1", "5100")):
        env = dumps[name]
        assert {k: env[k] for k in EXPECTED_ENV} == EXPECTED_ENV
        assert (env["PORT"], env["PS"], env["HU_PROCESS_NAME"]) == (port, name, name)


def test_supervisord_env_file_carries_any_value(tmp_path: Path) -> None:
    token = f"36{uuid.uuid4().int % 10**6:06d}.5"
    root, out = live_app(tmp_path, env=ENV + MIXED, sleep_token=token)
    logs = tmp_path / "logs"
    logs.mkdir()
    export_live(root, "supervisord", tmp_path / "export", log_dir=logs, env_file=True)
    env_file = tmp_path / "export" / "live.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    conf = tmp_path / "export" / "live.conf"
    assert "s3cr3t" not in conf.read_text()
    dumps = run_supervisord(tmp_path, conf, out, ["web.1", "web.2", "worker.1"], token)
    for env in dumps.values():
        assert {k: env[k] for k in EXPECTED_ENV} == EXPECTED_ENV
        assert env["MIXED"] == MIXED_VALUE
