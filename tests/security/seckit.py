"""Helpers of the security battery: an in-process server, a real daemon, raw-socket clients.

A uniquely named module (not ``conftest``/``helpers``) so every suite can run together.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from apikit import Api, run, serve, sock_dir  # noqa: F401 - re-exported for the tests
from hu_helpers import stop_gracefully, until  # noqa: F401 - until is re-exported for the tests

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tok-3f9c2a7be1d04c55a1f0e9d8c7b6a5f4"
SECRET = "hunter2-secret-value"
JSON = {"Content-Type": "application/json"}


async def open_raw(address: str | tuple[str, int]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if isinstance(address, str):
        return await asyncio.open_unix_connection(address)
    return await asyncio.open_connection(*address)


async def exchange(address: str | tuple[str, int], data: bytes, *, timeout: float = 5.0,
                   half_close: bool = False, head_only: bool = False) -> bytes:
    """Send *data*, then read until the server closes (or *timeout*, or with *head_only* the
    end of the first response head); the bytes read."""
    reader, writer = await open_raw(address)
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(data)
            await writer.drain()
            if half_close and writer.can_write_eof():
                writer.write_eof()
        out = b""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            while chunk := await asyncio.wait_for(reader.read(65536), max(0.0, deadline - time.monotonic())):
                out += chunk
                if head_only and b"\r\n\r\n" in out:
                    break
        return out
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def status_of(response: bytes) -> int | None:
    """The status code of the first response in *response* (None: closed with no answer)."""
    match = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    return int(match.group(1)) if match else None


def assert_4xx_or_closed(response: bytes, what: str) -> None:
    status = status_of(response)
    assert status is None or 400 <= status < 500, f"{what}: {response[:200]!r}"
    assert b"Traceback" not in response, what


# -- a real daemon -----------------------------------------------------------------------------


class DaemonProc:
    """``python -m honcho_uv daemon`` on a unix socket and a loopback TCP port."""

    def __init__(self, proc: subprocess.Popen[bytes], directory: Path, log: Path):
        self.proc, self.directory, self.log = proc, directory, log
        self.sock = str(directory / "d.sock")
        self.port = 0

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def tcp(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def ping_seconds(self, headers: str = "") -> float:
        """The time a fresh TCP connection takes to get ``GET /ping`` answered (200 asserted)."""
        start = time.perf_counter()
        with socket.create_connection(self.tcp, timeout=5) as s:
            s.sendall(f"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        elapsed = time.perf_counter() - start
        assert status_of(data) == 200, data[:200]
        return elapsed

    def stop(self) -> int:
        return stop_gracefully(self.proc)


def hu_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1", **extra)
    env.pop("HU_SOCKET", None)
    env.pop("HU_TOKEN", None)
    return env


def start_daemon(directory: Path, *args: str, ini: str | None = None) -> DaemonProc:
    log = directory / "daemon.log"
    argv = [sys.executable, "-m", "honcho_uv", "daemon"]
    if ini is not None:
        (directory / "g.ini").write_text(ini)
        argv.append(str(directory / "g.ini"))
    argv += ["--bind", f"unix:{directory}/d.sock", "--bind", "tcp://127.0.0.1:0", *args]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=hu_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    daemon = DaemonProc(proc, directory, log)
    deadline = time.monotonic() + 15
    while True:
        match = re.search(r"tcp://127\.0\.0\.1:(\d+)", daemon.output())
        if match:
            daemon.port = int(match.group(1))
            return daemon
        if proc.poll() is not None or time.monotonic() > deadline:
            daemon.stop()
            raise AssertionError(f"the daemon did not start:\n{daemon.output()}")
        time.sleep(0.02)


@pytest.fixture
def daemon(sock_dir: Path) -> Any:
    started: list[DaemonProc] = []

    def start(*args: str, ini: str | None = None) -> DaemonProc:
        d = start_daemon(sock_dir, *args, ini=ini)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()
