"""A real runsvdir runs the runit export: each service starts with its envdir values
intact, logs through svlogd, and ``sv``-style stops leave nothing behind (control/t
signals the whole process group, even for a compound command)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.kit.export_app import EXPECTED_ENV, export_live, live_app, read_dumps
from tests.kit.procs import processes_with
from tests.kit.wait import wait_for

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("runsvdir", "chpst", "svlogd", "sv")),
    reason="runit is not installed (apt-get install runit)",
)


def test_runsvdir_runs_services_with_intact_env(tmp_path: Path) -> None:
    token = f"37{uuid.uuid4().int % 10**6:06d}.5"
    root, out = live_app(tmp_path, sleep_token=token)
    logs = tmp_path / "logs"
    services = tmp_path / "service"
    export_live(root, "runit", services, log_dir=logs)
    for run in services.glob("*/run"):
        assert run.stat().st_mode & 0o777 == 0o755
    for env_file in services.glob("*/env/*"):
        assert env_file.stat().st_mode & 0o777 == 0o600
    proc = subprocess.Popen(["runsvdir", "-P", str(services)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dumps = wait_for(lambda: read_dumps(out, ["web.1", "web.2", "worker.1"]), 20, what="every service's env")
        for name, port in (("web.1", "5000"), ("web.2", "5001"), ("worker.1", "5100")):
            env = dumps[name]  # type: ignore[index]
            assert {k: env[k] for k in EXPECTED_ENV} == EXPECTED_ENV
            assert (env["PORT"], env["PS"], env["HU_PROCESS_NAME"]) == (port, name, name)
            assert Path(env["PWD"]) == root
        # svlogd made the per-instance log directory.
        wait_for(lambda: (logs / "worker-1" / "current").exists(), 20, what="svlogd's log file")
        # sv down on the compound worker: its sleep child must go too.
        worker = services / "live-worker-1"
        subprocess.run(["sv", "-w", "10", "down", str(worker)], check=True, capture_output=True, timeout=20)
        wait_for(
            lambda: not [c for c in processes_with(token) if c.startswith("sleep ")],
            timeout=10,
            what="the worker's sleep to stop with sv down",
        )
        assert processes_with(token), "the web services are still up"
    finally:
        proc.send_signal(signal.SIGHUP)  # runsvdir: TERM to every runsv, then exit
        proc.wait(timeout=20)
    wait_for(lambda: not processes_with(token), timeout=15, what="no service left after runsvdir stops")
