"""Helpers for end-to-end tests (imported by conftest.py and the tests): the installed ``hu`` in a throwaway app directory.

Every child a test starts carries ``HU_TEST_MARKER=<uuid>`` in its environment, so
:func:`survivors` finds any process that outlived ``hu`` (setsid escapees included).
"""

from __future__ import annotations

import os
import signal
import inspect
import asyncio
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

HU = shutil.which("hu") or "hu"
PY = sys.executable


class AppDir:
    """A temporary app root plus a marker that tags every process started from it."""

    def __init__(self, root: Path):
        self.root = root
        self.marker = uuid.uuid4().hex
        self.env = {**os.environ, "HU_TEST_MARKER": self.marker, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        for key in ("PORT", "PROCFILE", "FORCE_COLOR", "HU_SOCKET"):
            self.env.pop(key, None)
        self.env["XDG_RUNTIME_DIR"] = str(root / ".run")
        self.hu_pids: set[int] = set()  # hu itself carries the marker too; it is not a survivor
        (root / ".run").mkdir()

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text)
        return path

    def hu(self, *args: str, timeout: float = 30, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([HU, *args], cwd=self.root, env={**self.env, **(env or {})}, capture_output=True,
                              timeout=timeout, **kw)

    def popen(self, *args: str, env: dict | None = None, **kw) -> subprocess.Popen:
        proc = subprocess.Popen([HU, *args], cwd=self.root, env={**self.env, **(env or {})},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        self.hu_pids.add(proc.pid)
        return proc

    def survivors(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter():
            if proc.pid in self.hu_pids:
                continue
            try:
                if proc.environ().get("HU_TEST_MARKER") == self.marker and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (psutil.Error, OSError):
                continue
        return found

    def assert_no_survivors(self, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            left = self.survivors()
            if not left:
                return
            if time.monotonic() > deadline:
                for proc in left:
                    try:
                        proc.kill()
                    except psutil.Error:
                        pass
                pytest.fail(f"processes outlived hu: {[(p.pid, p.cmdline()) for p in left]}")
            time.sleep(0.05)


def wait_for(predicate, timeout: float = 10.0, what: str = "", *, interval: float = 0.02, message: str = ""):
    """Poll *predicate* until it returns a truthy value (returned) or *timeout* passes.

    The one deadline helper of the suite: tests never sleep and hope.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or message or predicate}")
        time.sleep(interval)


async def until(predicate, timeout: float = 5.0, what: str = "", *, message: str = ""):
    """:func:`wait_for` for coroutines: polls on the loop, so the loop keeps running. The
    predicate may return an awaitable (it is awaited)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or message or predicate}")
        await asyncio.sleep(0.01)


def stop_gracefully(proc: subprocess.Popen) -> int:
    """SIGTERM *proc*, SIGKILL its group after 10 s, and return its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode
