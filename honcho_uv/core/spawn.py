"""Starting a child: the :class:`Spawner` seam and its two real implementations.

Design note. A spawner starts ``argv`` in a new session (the child's pid is its session and
group id, so the terminal's Ctrl-C reaches only hu) with the stdio file descriptors it is
given, and later calls ``on_exit(returncode)`` on the loop once the child has been reaped
(asyncio's convention: negative = killed by that signal). It does nothing else: pipes,
output, stops and restarts belong to :class:`~honcho_uv.core.process.Process`. The Manager
takes one as ``Manager(spawner=...)``; tests pass a fake one that scripts exits.

* :class:`PopenSpawner` (the default on Linux): ``subprocess.Popen`` (vfork, about 1 ms a
  child here against about 6 ms for libuv's fork), the exit watched by the process-wide
  :class:`~honcho_uv.core.reaper.Reaper`: one thread blocked in ``waitid`` for every child,
  the child reaped on the loop (``waitpid`` of exactly that pid) and ``on_exit`` called there.
  No SIGCHLD handler and no descriptor per child (a pidfd each made every later ``vfork``
  copy a file table twice as large), the same on uvloop and stock asyncio, and
  ``user=``/``group=`` applied natively.
* :class:`LoopSpawner`: the loop's own ``subprocess_exec`` (libuv's on uvloop), elsewhere.
  uvloop has no ``user=``/``group=`` and its ``preexec_fn`` blocks the loop, so a uid/gid
  drop execs through :mod:`honcho_uv.core._privdrop` (same pid).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pwd
import signal
import subprocess
import sys
import termios
from collections.abc import Mapping
from typing import Any, Protocol

from honcho_uv.core.reaper import ExitCallback, Reaper

__all__ = ["Child", "LoopSpawner", "PopenSpawner", "Spawner", "default_spawner", "privdrop_argv"]

PRIVDROP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_privdrop.py")


class Child(Protocol):
    """A started child: its pid, and a way to signal its process group."""

    pid: int

    def signal_group(self, sig: int) -> bool:
        """Send *sig* to the child's process group; False if the group is gone."""
        ...


class Spawner(Protocol):
    """Starts children (see the module docstring)."""

    async def spawn(self, argv: list[str], *, env: Mapping[str, str], cwd: str | None, stdin: int, stdout: int,
                    stderr: int, user: int | None, group: int | None, on_exit: ExitCallback,
                    terminal: bool = False) -> Child:
        """Start *argv* in a new session with the given stdio fds (the caller closes its copies).

        With *terminal*, *stdin* is a pty's slave and becomes the controlling terminal of the
        child's session (so ``^C`` typed into it reaches the child, and ``/dev/tty`` works).

        ``on_exit(returncode)`` is called once, on the loop, after the child was reaped; never
        before this returns. Raises OSError as ``Popen`` does (nothing is left running).
        """
        ...


def privdrop_argv(argv: list[str], user: int | None, group: int | None, terminal: bool = False) -> list[str]:
    """*argv* run through the exec helper when a user or group is given, or to take the
    terminal on stdin as the controlling terminal (see :mod:`honcho_uv.core._privdrop`)."""
    if user is None and group is None and not terminal:
        return argv
    uid = -1 if user is None else user
    gid = -1 if group is None else group
    # By path and isolated (-I): the child's env and cwd (os_env=False drops PYTHONPATH; the
    # app dir may hold anything) must not decide which code runs as root.
    return [sys.executable, "-I", PRIVDROP, str(uid), str(gid), *(["--terminal"] if terminal else []), "--", *argv]


def take_terminal() -> None:
    """Make the pty on stdin the controlling terminal of the child's new session.

    Runs in the child between fork and exec (``preexec_fn``: after ``setsid`` and the stdio
    ``dup2``), so a tty child costs a fork (about 4 ms here) where a pipe child costs a vfork
    (0.6 ms): only the child itself can take a controlling terminal. It makes one ioctl and
    takes no lock that another thread of hu (the reaper) could have held at the fork.
    """
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class _GroupChild:
    """A child known by pid; its group is its pid (``start_new_session``)."""

    def __init__(self, pid: int):
        self.pid = pid

    def signal_group(self, sig: int) -> bool:
        try:
            os.killpg(self.pid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False


class PopenSpawner:
    """``Popen`` plus the process-wide :class:`~honcho_uv.core.reaper.Reaper` (see the module
    docstring). *reaper* is a seam for tests; by default the shared one."""

    def __init__(self, reaper: Reaper | None = None):
        self._reaper = reaper

    @staticmethod
    def available() -> bool:
        """Whether the reaper can watch children here (Linux: ``waitid`` with ``WNOWAIT``)."""
        return Reaper.supported()

    async def spawn(self, argv: list[str], *, env: Mapping[str, str], cwd: str | None, stdin: int, stdout: int,
                    stderr: int, user: int | None, group: int | None, on_exit: ExitCallback,
                    terminal: bool = False) -> Child:
        loop = asyncio.get_running_loop()
        reaper = self._reaper or Reaper.shared()
        kwargs: dict[str, Any] = {"preexec_fn": take_terminal} if terminal else {}
        if user is not None and group is None:
            # Like login: the user's primary group and supplementary groups, never root's.
            entry = pwd.getpwuid(user)
            group = entry.pw_gid
            kwargs["extra_groups"] = os.getgrouplist(entry.pw_name, entry.pw_gid)
        elif group is not None:
            kwargs["extra_groups"] = [group]
        if user is not None:
            kwargs["user"] = user
        if group is not None:
            kwargs["group"] = group
        # Within spawning(): the reaper must not take the new child for an orphan before it
        # is watched. Popen in a coroutine on purpose: vfork+exec takes about 1 ms, less than
        # a thread hop.
        with reaper.spawning():
            popen = subprocess.Popen(  # noqa: ASYNC220
                argv, stdin=stdin, stdout=stdout, stderr=stderr, env=dict(env), cwd=cwd,
                start_new_session=True, close_fds=True, **kwargs,
            )
            reaper.watch(popen, loop, on_exit)
        return _GroupChild(popen.pid)


class LoopSpawner:
    """The loop's ``subprocess_exec`` (see the module docstring)."""

    async def spawn(self, argv: list[str], *, env: Mapping[str, str], cwd: str | None, stdin: int, stdout: int,
                    stderr: int, user: int | None, group: int | None, on_exit: ExitCallback,
                    terminal: bool = False) -> Child:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.subprocess_exec(
            lambda: _ExitProtocol(on_exit), *privdrop_argv(argv, user, group, terminal), stdin=stdin, stdout=stdout,
            stderr=stderr, env=dict(env), cwd=cwd, start_new_session=True,
        )
        return _GroupChild(transport.get_pid())


class _ExitProtocol(asyncio.SubprocessProtocol):
    def __init__(self, on_exit: ExitCallback):
        self._on_exit = on_exit
        self._transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def process_exited(self) -> None:
        assert self._transport is not None, "process_exited before connection_made"
        returncode = self._transport.get_returncode()
        self._transport.close()
        self._on_exit(returncode if returncode is not None else -signal.SIGKILL)


def default_spawner() -> Spawner:
    """:class:`PopenSpawner` where the reaper can watch children (Linux), else :class:`LoopSpawner`."""
    return PopenSpawner() if PopenSpawner.available() else LoopSpawner()
