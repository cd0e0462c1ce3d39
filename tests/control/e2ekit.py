"""Run real ``hu start`` / ``hu daemon`` processes (``python -m honcho_uv``) and the control
commands against them, with this worktree on PYTHONPATH."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hu_helpers import stop_gracefully, wait_for # noqa: E402 - the suite's one deadline helper

ROOT = Path(__file__).resolve().parents[2]


def env_for(sock: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    env.pop("HU_SOCKET", None)
    if sock is not None:
        env["HU_SOCKET"] = str(sock)
    return env


def hu(*args: str, sock: Path | None = None, cwd: Path | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "honcho_uv", *args], env=env_for(sock), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


class Running:
    def __init__(self, proc: subprocess.Popen, sock: Path, log: Path):
        self.proc, self.sock, self.log = proc, sock, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        return stop_gracefully(self.proc)


@pytest.fixture
def short_dir():
    d = Path(tempfile.mkdtemp(prefix="hu-e-", dir="/tmp"))
    os.chmod(d, 0o700)
    yield d
    import shutil

    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def spawn(short_dir):
    started: list[Running] = []

    def start(args: list[str], cwd: Path) -> Running:
        sock = short_dir / "hu.sock"
        log = short_dir / f"out{len(started)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "honcho_uv", *args], env=env_for(sock), cwd=cwd,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        running = Running(proc, sock, log)
        started.append(running)
        wait_for(lambda: sock.exists() or proc.poll() is not None, what="the control socket")
        assert proc.poll() is None, running.output()
        return running

    yield start
    for running in started:
        running.stop()
