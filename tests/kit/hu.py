"""The one way the suite runs ``hu``: this worktree's, never whatever ``hu`` is on PATH.

Every ``hu`` a test starts is ``[sys.executable, "-m", "honcho_uv", ...]`` (:data:`HU`) with the
repository root first on ``PYTHONPATH`` (:func:`hu_env`); the session fixture
``hu_is_this_worktree`` checks once that a child started that way imports ``honcho_uv`` from
this worktree.

* :func:`hu`: run a command to completion, output captured.
* :class:`AppDir`: a throwaway app directory plus a marker that tags every process started
  from it; runs ``hu`` there (to completion, in the background with pipes, under a pty, or as
  a logged background :class:`Running` that is ready once its socket answers ``GET /ping``),
  and proves that nothing it started outlived the test.
* :func:`stop_gracefully`: SIGTERM, then SIGKILL the group after a deadline.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import psutil

from tests.kit.api import get, serving
from tests.kit.procs import assert_no_survivors, carriers, kill_carriers
from tests.kit.wait import wait_for

__all__ = ["HU", "REPO", "AppDir", "Running", "check_worktree", "hu", "hu_env", "stop_gracefully"]

#: The repository root (this worktree).
REPO = Path(__file__).resolve().parents[2]
#: The argv prefix that runs this worktree's ``hu`` (with :func:`hu_env`).
HU = [sys.executable, "-m", "honcho_uv"]


def hu_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """*base* (default ``os.environ``) with the worktree first on ``PYTHONPATH``, ``NO_COLOR=1``
    and no ``HU_SOCKET``/``HU_TOKEN`` of the caller's; then *extra*."""
    env = dict(os.environ if base is None else base)
    env.pop("HU_SOCKET", None)
    env.pop("HU_TOKEN", None)
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(REPO)]
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *rest])
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def hu(*args: str, cwd: Path | str | None = None, env: Mapping[str, str] | None = None, timeout: float = 30,
       text: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """Run ``hu *args`` to completion (output captured; text unless *text* is false). *env*
    defaults to :func:`hu_env`; pass one built by it."""
    return subprocess.run([*HU, *args], cwd=cwd, env=dict(hu_env() if env is None else env), capture_output=True,
                          text=text, timeout=timeout, **kwargs)


def check_worktree() -> Path:
    """Where a child run with :func:`hu_env` imports ``honcho_uv`` from (outside the repository,
    so the working directory cannot help); an AssertionError unless it is this worktree."""
    probe = subprocess.run([sys.executable, "-c", "import honcho_uv; print(honcho_uv.__file__)"], cwd="/",
                           env=hu_env(), capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    where = Path(probe.stdout.strip()).resolve()
    assert where.is_relative_to(REPO), f"`python -m honcho_uv` would run {where}, not this worktree ({REPO})"
    return where


def stop_gracefully(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int:
    """SIGTERM *proc*, SIGKILL its process group if it is still alive after *timeout*; its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.kill()
            proc.wait(5)
    return proc.returncode


class Running:
    """A ``hu`` started in the background by :meth:`AppDir.start`: its process, the log of its
    stdout and stderr, and the unix socket of its control API."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, sock: Path):
        self.proc, self.log, self.sock = proc, log, sock
        self._port: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """:func:`stop_gracefully`; the exit code."""
        return stop_gracefully(self.proc)

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, Any]:
        """``GET path`` over the control socket: (status, parsed JSON body or text)."""
        return get(self.sock, path, timeout)

    @property
    def port(self) -> int:
        """The loopback TCP port it listens on (a ``--bind tcp://127.0.0.1:0``), from its log."""
        if self._port is None:
            found = wait_for(lambda: re.search(r"tcp://127\.0\.0\.1:(\d+)", self.output()), 15,
                             "the TCP port in the log")
            self._port = int(found.group(1))
        return self._port

    @property
    def tcp(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss


class AppDir:
    """A throwaway app directory, a marker carried by every process started from it (``hu``
    itself, and its children), and the ways to run ``hu`` there.

    *root* must be short (a unix socket path has at most 107 bytes): :attr:`sock` is where the
    tests bind daemons. The ``hu`` processes are excluded from :meth:`survivors` by pid.
    """

    def __init__(self, root: Path):
        self.root = root
        self.sock = root / "hu.sock"
        self.marker = uuid.uuid4().hex
        self.env = hu_env(HU_TEST_MARKER=self.marker, PYTHONUNBUFFERED="1")
        for key in ("PORT", "PROCFILE", "FORCE_COLOR"):
            self.env.pop(key, None)
        self.hu_pids: set[int] = set()  # hu itself carries the marker too; it is not a survivor
        self._started: list[subprocess.Popen[Any]] = []
        self._ptys: list[Any] = []
        self._logs = 0

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text)
        return path

    def _env(self, sock: Path | None, env: Mapping[str, str] | None) -> dict[str, str]:
        return {**self.env, **({"HU_SOCKET": str(sock)} if sock is not None else {}), **(env or {})}

    def hu(self, *args: str, sock: Path | None = None, env: Mapping[str, str] | None = None, timeout: float = 30,
           text: bool = False, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """Run ``hu *args`` here to completion (bytes unless *text*); *sock* sets ``HU_SOCKET``."""
        return hu(*args, cwd=kwargs.pop("cwd", self.root), env=self._env(sock, env), timeout=timeout, text=text,
                  **kwargs)

    def popen(self, *args: str, sock: Path | None = None, env: Mapping[str, str] | None = None,
              **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``hu *args`` here; stdout and stderr are pipes unless given."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen([*HU, *args], cwd=kwargs.pop("cwd", self.root), env=self._env(sock, env), **kwargs)
        self.hu_pids.add(proc.pid)
        self._started.append(proc)
        return proc

    def pty(self, *args: str, timeout: float = 15) -> Any:
        """Start ``hu *args`` here on a pseudo-terminal (a ``pexpect.spawn``)."""
        import pexpect

        child = pexpect.spawn(HU[0], [*HU[1:], *args], cwd=str(self.root), env=self.env, timeout=timeout)
        self.hu_pids.add(child.pid)
        self._ptys.append(child)
        return child

    def start(self, *args: str, sock: Path | None = None, ready: Literal["ping", "socket"] | None = "ping",
              cwd: Path | None = None) -> Running:
        """Start ``hu *args`` here in a session of its own, logging to a file, and wait until it
        is *ready*: ``"ping"``, its socket answers ``GET /ping``; ``"socket"``, the socket file
        exists (``hu start`` loads its API only for the first client); None, no wait.

        The socket is *sock* (also given to it as ``HU_SOCKET``), else :attr:`sock`.
        """
        log = self.root / f"hu{self._logs}.log"
        self._logs += 1
        with open(log, "wb") as out:
            proc = self.popen(*args, sock=sock, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                              cwd=cwd or self.root)
        running = Running(proc, log, sock or self.sock)
        if ready == "ping":
            wait_for(lambda: proc.poll() is not None or serving(running.sock), 15, f"GET /ping on {running.sock}")
        elif ready == "socket":
            wait_for(lambda: proc.poll() is not None or running.sock.exists(), 15, f"the socket {running.sock}")
        if ready is not None:
            assert proc.poll() is None, running.output()
        return running

    def daemon(self, *args: str, ini: str | None = None, tcp: bool = False,
               ready: Literal["ping"] | None = "ping") -> Running:
        """``hu daemon [gafferd.ini] *args --bind unix:<sock>`` (and ``--bind tcp://127.0.0.1:0``
        with *tcp*), ready once ``GET /ping`` answers on the unix socket. *ini* is the text of
        a configuration file, written to ``gafferd.ini`` here and passed first."""
        config = [str(self.write("gafferd.ini", ini))] if ini is not None else []
        binds = ["--bind", f"unix:{self.sock}", *(["--bind", "tcp://127.0.0.1:0"] if tcp else [])]
        return self.start("daemon", *config, *args, *binds, ready=ready)

    def survivors(self) -> list[psutil.Process]:
        """Live processes carrying the marker, except the ``hu`` processes started from here."""
        return carriers(self.marker, self.hu_pids)

    def assert_no_survivors(self, timeout: float = 3.0) -> None:
        assert_no_survivors(self.marker, timeout, self.hu_pids)

    def close(self) -> None:
        """Stop every ``hu`` started from here that is still running, then prove that nothing
        carrying the marker survived it (survivors are killed either way)."""
        try:
            for proc in self._started:
                stop_gracefully(proc)
                for stream in (proc.stdout, proc.stderr):
                    if stream is not None:
                        stream.close()
            for child in self._ptys:
                if child.isalive():
                    child.kill(signal.SIGTERM)
                    wait_for(lambda c=child: not c.isalive(), 10, "hu on a pty to exit")
                child.close(force=True)
            self.assert_no_survivors()
        finally:
            kill_carriers(self.marker, self.hu_pids)
