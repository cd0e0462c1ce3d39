"""The suite's pytest fixtures and hooks (loaded by ``pytest_plugins`` in ``tests/conftest.py``).

Hooks:

* ``async def test_*`` functions run on a fresh loop, once on stock asyncio and once on
  uvloop (test ids ``[asyncio]`` / ``[uvloop]``), under a deadline of
  :data:`ASYNC_TIMEOUT_S` seconds, or ``@pytest.mark.async_timeout(seconds)``.
* ``root_only`` and ``linux_only`` tests are skipped where they cannot run; tests under
  ``tests/e2e`` and ``tests/reliability`` get the ``e2e`` mark.
* ``--update-golden`` rewrites the exporters' golden files instead of comparing with them.

Session fixtures (automatic): ``xdg_runtime_dir``, a fresh private ``XDG_RUNTIME_DIR`` for the
whole run (so no test touches the developer's, and every ``hu`` child inherits it), checked
for leftover sockets and locks at the end; ``hu_is_this_worktree``, the check that the ``hu``
the tests run is this worktree's.

Fixtures: ``loop_factory``, ``marker``, ``env``, ``clean_environ`` (automatic), ``is_root``,
``update_golden``, ``sock_dir``, ``app`` and ``daemon``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvloop

from tests.kit.export_app import ENV, PROCFILE
from tests.kit.hu import AppDir, Running, check_worktree
from tests.kit.procs import assert_no_survivors, kill_carriers

LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.SelectorEventLoop,
    "uvloop": uvloop.new_event_loop,
}
#: The deadline of an async test, unless it is marked ``async_timeout(seconds)``.
ASYNC_TIMEOUT_S = 30.0
IS_LINUX = sys.platform.startswith("linux")
_BASE = "/tmp"  # short paths: a unix socket path has at most 107 bytes


# -- hooks -------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files of the export tests instead of comparing with them",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "async_timeout(seconds): the deadline of an async test (default 30 s)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("root_only") and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason="needs root (privilege drop to nobody)"))
        if item.get_closest_marker("linux_only") and not IS_LINUX:
            item.add_marker(pytest.mark.skip(reason="needs Linux (subreaper, /proc)"))
        parts = item.path.parts
        if "tests" in parts and parts[parts.index("tests") + 1:][:1] in (("e2e",), ("reliability",)):
            item.add_marker(pytest.mark.e2e)  # real hu processes


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """An ``async def test_*`` uses the ``loop_factory`` fixture, so it is parametrised over both
    loops (the fixture's params); :func:`pytest_pyfunc_call` runs it."""
    if collector.istestfunction(obj, name) and inspect.iscoroutinefunction(obj):  # type: ignore[attr-defined]
        pytest.mark.usefixtures("loop_factory")(obj)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an ``async def`` test to completion on a fresh loop of its ``loop_factory``."""
    test = pyfuncitem.obj
    if not inspect.iscoroutinefunction(test):
        return None
    factory = pyfuncitem.funcargs["loop_factory"]
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    marker = pyfuncitem.get_closest_marker("async_timeout")
    seconds = float(marker.args[0]) if marker else ASYNC_TIMEOUT_S

    async def main() -> None:
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                await test(**kwargs)
        except TimeoutError:
            if deadline.expired():
                raise AssertionError(f"the test did not finish within {seconds} s (async_timeout)")  # noqa: B904
            raise

    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())
    return True


# -- session -------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def xdg_runtime_dir() -> Iterator[Path]:
    """A fresh private ``XDG_RUNTIME_DIR`` (mode 0700) in ``os.environ`` for the whole run, so no
    test touches the developer's runtime directory and every ``hu`` child inherits it. At the
    end nothing may be left in it: a ``*.sock`` or ``*.lock`` there is something a ``hu``
    did not clean up."""
    base = Path(tempfile.mkdtemp(prefix="hu-tests-", dir=_BASE))
    os.chmod(base, 0o711)  # others may pass through (a test opens a sock_dir to another user), not list
    runtime = base / "run"
    runtime.mkdir(mode=0o700)
    saved = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    try:
        yield runtime
        leftovers = sorted(str(p.relative_to(runtime)) for p in runtime.rglob("*") if p.suffix in (".sock", ".lock"))
        assert not leftovers, f"left in the runtime directory {runtime}: {leftovers}"
    finally:
        if saved is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = saved
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def hu_is_this_worktree(xdg_runtime_dir: Path) -> Path:
    """The ``hu`` the tests run imports ``honcho_uv`` from this worktree (checked once)."""
    return check_worktree()


# -- loops ---------------------------------------------------------------------------------------


@pytest.fixture(params=sorted(LOOP_FACTORIES))
def loop_factory(request: pytest.FixtureRequest) -> Callable[[], asyncio.AbstractEventLoop]:
    """A loop factory: stock asyncio, then uvloop. Every ``async def`` test uses it; a sync test
    asks for it only when it must start loops itself."""
    return LOOP_FACTORIES[request.param]


# -- children ------------------------------------------------------------------------------------


@pytest.fixture
def marker() -> Iterator[str]:
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


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


# -- directories and hu --------------------------------------------------------------------------


@pytest.fixture
def sock_dir(xdg_runtime_dir: Path) -> Iterator[Path]:
    """A short private directory (mode 0700) for sockets: a unix socket path has at most 107
    bytes, and pytest's ``tmp_path`` can be longer."""
    path = Path(tempfile.mkdtemp(prefix="t-", dir=xdg_runtime_dir.parent))
    os.chmod(path, 0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def app(sock_dir: Path) -> Iterator[AppDir]:
    """A throwaway app directory for running this worktree's ``hu``
    (:class:`tests.kit.hu.AppDir`). At teardown every ``hu`` started from it is stopped, and
    nothing carrying its marker may have survived."""
    app_dir = AppDir(sock_dir)
    yield app_dir
    app_dir.close()


@pytest.fixture
def daemon(app: AppDir) -> Callable[..., Running]:
    """``daemon(*args, tcp=False)``: a ``hu daemon *args`` in the test's app directory, bound to
    ``app.sock`` (and to a loopback TCP port with *tcp*), returned once ``GET /ping`` answers
    over the unix socket. It is stopped at teardown (see ``app``)."""
    return app.daemon


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """An app root ``shop`` with the export tests' tricky Procfile and .env (:mod:`.export_app`)."""
    root = tmp_path / "shop"
    root.mkdir()
    (root / "Procfile").write_text(PROCFILE)
    (root / ".env").write_text(ENV)
    return root
