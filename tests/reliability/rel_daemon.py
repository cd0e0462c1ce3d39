"""A real ``hu daemon`` for the reliability battery (``python -m honcho_uv`` with this worktree
on PYTHONPATH), its unix socket, a tiny synchronous HTTP client, and the marker scan.

Every process a test starts carries ``HU_TEST_MARKER``; the daemons carry it too and are
excluded from the survivor scan by pid.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from hu_helpers import wait_for  # noqa: E402 - the suite's one deadline helper

ROOT = Path(__file__).resolve().parents[2]
TREE = str(ROOT / "tests" / "fixtures" / "tree.py")
PY = sys.executable


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 5.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def get(sock: Path, path: str, timeout: float = 5.0) -> tuple[int, Any]:
    """``GET path`` over the unix socket: (status, parsed JSON body or text)."""
    conn = _UnixHTTPConnection(str(sock), timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace")
        with contextlib.suppress(ValueError):
            return resp.status, json.loads(body)
        return resp.status, body
    finally:
        conn.close()


def serving(sock: Path) -> bool:
    try:
        return get(sock, "/ping", 1.0)[0] == 200
    except OSError:
        return False


class DaemonRun:
    """Start ``hu daemon`` processes in one throwaway directory; everything is cleaned up."""

    def __init__(self, base: Path):
        self.dir = base
        self.marker = uuid.uuid4().hex
        self.sock = base / "d.sock"
        self.run_dir = base / "run"
        self.run_dir.mkdir(mode=0o700)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "HU_TEST_MARKER": self.marker, "NO_COLOR": "1",
                    "XDG_RUNTIME_DIR": str(self.run_dir), "PYTHONUNBUFFERED": "1"}
        for key in ("PORT", "PROCFILE", "HU_SOCKET"):
            self.env.pop(key, None)
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self, *args: str, wait: bool = True) -> subprocess.Popen:
        log = self.dir / f"daemon{len(self.procs)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([PY, "-m", "honcho_uv", "daemon", *args], env=self.env, cwd=self.dir,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        self.logs.append(log)
        if wait:
            wait_for(lambda: proc.poll() is not None or serving(self.sock), 15, "the daemon's socket")
            assert proc.poll() is None, self.log(proc)
        return proc

    def hu(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([PY, "-m", "honcho_uv", *args], env=self.env, cwd=self.dir, capture_output=True,
                              text=True, timeout=timeout)

    def log(self, proc: subprocess.Popen) -> str:
        return self.logs[self.procs.index(proc)].read_text(errors="replace")

    def carriers(self) -> list[psutil.Process]:
        mine = {p.pid for p in self.procs}
        found = []
        for proc in psutil.process_iter():
            if proc.pid in mine or proc.pid == os.getpid():
                continue
            with contextlib.suppress(psutil.Error, OSError):
                if proc.status() != psutil.STATUS_ZOMBIE and proc.environ().get("HU_TEST_MARKER") == self.marker:
                    found.append(proc)
        return found

    def assert_no_survivors(self, timeout: float = 5.0) -> None:
        wait_for(lambda: not self.carriers(), timeout, "no process carrying the marker")

    def stop_daemons(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)

    def kill_carriers(self) -> None:
        for proc in self.carriers():
            with contextlib.suppress(psutil.Error):
                proc.kill()


@pytest.fixture
def daemons():
    base = Path(tempfile.mkdtemp(prefix="hu-r-", dir="/tmp"))  # short: unix socket paths are limited
    os.chmod(base, 0o700)
    run = DaemonRun(base)
    try:
        yield run
        run.stop_daemons()
        run.assert_no_survivors()
    finally:
        run.stop_daemons()
        run.kill_carriers()
        shutil.rmtree(base, ignore_errors=True)
