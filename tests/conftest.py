"""Shared test helpers: both event loops, child commands, deadlines and the survivor scan.

* ``run(coro)``: runs *coro* on a fresh loop; tests that take it run once on stock asyncio
  and once on uvloop (the ``loop_factory`` parameter).
* ``python(code)`` and ``tree(*args)``: argv lists for a ``-c`` program and for the fixture
  program ``tests/fixtures/tree.py``.
* ``wait_for`` / ``until``: poll a predicate under a deadline (sync / async); never bare sleeps.
* ``marker``: a ``HU_TEST_MARKER=<uuid>`` for every child of a test; at teardown nothing
  carrying it may be alive (a psutil scan, which finds setsid escapees a tree walk misses).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import psutil
import pytest
import uvloop
from hu_helpers import until, wait_for  # the suite's deadline helpers, re-exported

TREE = str(Path(__file__).parent / "fixtures" / "tree.py")
IS_LINUX = sys.platform.startswith("linux")

LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.SelectorEventLoop,
    "uvloop": uvloop.new_event_loop,
}


def python(code: str, *args: str) -> list[str]:
    """argv running *code* in an unbuffered interpreter."""
    return [sys.executable, "-u", "-c", code, *args]


def tree(*args: str) -> list[str]:
    """argv running the fixture program with *args*."""
    return [sys.executable, "-u", TREE, *args]


def cmdline(argv: list[str]) -> str:
    """A ``cmd`` string that shlex splits back into *argv*."""
    return shlex.join(argv)


def carriers(marker: str) -> list[psutil.Process]:
    """Live (non-zombie) processes whose environment carries ``HU_TEST_MARKER=marker``."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid == os.getpid() or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("HU_TEST_MARKER") == marker:
                found.append(proc)
    return found


def zombie_children() -> list[psutil.Process]:
    out = []
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if child.status() == psutil.STATUS_ZOMBIE:
                out.append(child)
    return out


def assert_no_survivors(marker: str, timeout: float = 5.0) -> None:
    """Nothing carrying *marker* is alive (waits up to *timeout* for stragglers)."""
    wait_for(lambda: not carriers(marker), timeout, f"processes with marker {marker} to be gone")


def kill_carriers(marker: str) -> None:
    for proc in carriers(marker):
        with contextlib.suppress(psutil.Error):
            proc.kill()


@pytest.fixture(params=sorted(LOOP_FACTORIES))
def loop_factory(request: pytest.FixtureRequest) -> Callable[[], asyncio.AbstractEventLoop]:
    return LOOP_FACTORIES[request.param]


@pytest.fixture
def run(loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> Callable[..., Any]:
    """``run(coro, timeout=30)``: run *coro* to completion on a fresh loop of this parameter."""

    def _run(coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(asyncio.wait_for(coro, timeout))

    return _run


@pytest.fixture
def marker() -> Any:
    """A fresh marker; the test fails if anything carrying it outlives the test."""
    value = uuid.uuid4().hex
    yield value
    try:
        assert_no_survivors(value)
    finally:
        kill_carriers(value)


@pytest.fixture
def env(marker: str) -> dict[str, str]:
    """A minimal child environment carrying the marker."""
    return {"HU_TEST_MARKER": marker, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PORT, PROCFILE or HU_* from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key in ("PORT", "PROCFILE") or key.startswith("HU_"):
            monkeypatch.delenv(key)


@pytest.fixture
def is_root() -> bool:
    return os.geteuid() == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("root_only") and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason="needs root (privilege drop to nobody)"))
        if item.get_closest_marker("linux_only") and not IS_LINUX:
            item.add_marker(pytest.mark.skip(reason="needs Linux (subreaper, /proc)"))
        path = str(item.fspath)
        if "tests/e2e/" in path or "tests/reliability/" in path:  # the installed `hu`, real processes
            item.add_marker(pytest.mark.e2e)


__all__ = ["TREE", "assert_no_survivors", "carriers", "cmdline", "python", "signal", "tree", "until", "wait_for",
           "zombie_children"]


# -- export tests ---------------------------------------------------------------------------
# Shared export helpers (export_fixtures.py) live next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files of the export tests instead of comparing with them",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


# -- the installed `hu` in a throwaway app directory (tests/e2e, tests/reliability) -----------


@pytest.fixture
def app(tmp_path: Path):
    """A temporary app root (:class:`hu_helpers.AppDir`); anything it started and left
    behind is killed afterwards."""
    from hu_helpers import AppDir

    app_dir = AppDir(tmp_path)
    yield app_dir
    for proc in app_dir.survivors():
        with contextlib.suppress(psutil.Error):
            proc.kill()
