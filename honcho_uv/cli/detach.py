"""``hu start --detach`` and ``hu down``: the whole app in the background, for CI and scripts.

``hu start -D`` checks everything a foreground start checks, then starts the same command
again as a background hu (a new session; stdin, stdout and stderr on ``/dev/null``) and
waits on one pipe for its verdict. The background hu writes it once every process is ready
(or once one failed, after it has stopped everything) and closes the pipe, so it keeps none
of the caller's descriptors and ``$(hu start -D)`` returns. The handshake is the pipe, not a
polling loop: the caller blocks in ``read`` until the verdict or the background hu's exit.

``hu down`` asks a running hu (detached or not) to quit over its control socket, then waits
for its app lock: hu releases the lock only after every process has exited. It never judges
"gone" with ``kill(pid, 0)``, which a zombie of an init that does not reap would pass.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from honcho_uv.errors import ControlError, StateError
from honcho_uv.rundir import AppLock

if TYPE_CHECKING:
    from honcho_uv.core.manager import Manager

__all__ = ["DETACH_FD_VAR", "report_verdict", "start_detached", "wait_for_lock"]

#: The background hu finds the verdict pipe's write end in this variable.
DETACH_FD_VAR = "HU_DETACH_FD"
#: How long a background hu may take to be ready before it reports a verdict anyway.
READY_WAIT_S = 24 * 3600.0


def start_detached(app_root: Path) -> int:
    """Start this command again in the background and wait for its verdict; the exit code.

    Raises:
        StateError: a hu already runs for *app_root* (checked before anything starts).
    """
    with AppLock(app_root):
        pass  # free now; the background hu takes it for itself (and refuses if it lost a race)
    read_end, write_end = os.pipe()
    env = {**os.environ, DETACH_FD_VAR: str(write_end)}
    try:
        child = subprocess.Popen([sys.executable, "-m", "honcho_uv", *sys.argv[1:]], env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_end,),
                                 start_new_session=True, cwd=os.getcwd())
    finally:
        os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            raw = pipe.read()  # until the verdict is written and the pipe closed, or the child dies
    except KeyboardInterrupt:
        child.send_signal(signal.SIGTERM)
        child.wait()
        return 130
    verdict: dict[str, Any] = json.loads(raw) if raw.strip() else {}
    if verdict.get("ok"):
        click.echo(f"hu: running in the background (pid {child.pid}); `hu down` stops it", err=True)
        return 0
    code = child.wait()  # it stops everything before it exits: nothing is left when we return
    why = verdict.get("why") or f"the background hu exited with code {code} before it was ready"
    click.echo(f"hu: {why}", err=True)
    return code or 1


async def report_verdict(manager: Manager, fd: int, failure: Callable[[], str | None]) -> None:
    """In the background hu: once every process is ready (or one failed), write the verdict
    to *fd* and close it. *failure()* is why hu is stopping, if it is (the first cause wins
    over what the stop did to the rest). The caller's descriptor is gone after this returns."""
    try:
        result = await manager.wait_ready(timeout=READY_WAIT_S)
        why = failure() or "; ".join(result.failed.values()) or (
            f"not ready: {', '.join(result.waiting)}" if result.waiting else None)
        message = {"ok": result.ok, "why": None if result.ok else why}
    except StateError:
        message = {"ok": False, "why": failure()}  # stopped before it was ready
    with contextlib.suppress(OSError):
        os.write(fd, json.dumps(message).encode())
    with contextlib.suppress(OSError):
        os.close(fd)


def wait_for_lock(lock_path: Path, timeout: float) -> bool:
    """Block until the app lock at *lock_path* is free (hu has exited), at most *timeout* s."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True  # removed: hu has exited cleanly
    except OSError as exc:
        raise ControlError(f"{lock_path}: cannot open the lock file ({exc.strerror})") from exc
    got = threading.Event()

    def take() -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # returns when hu lets go (on exit, however it exits)
        got.set()

    thread = threading.Thread(target=take, name="hu-down", daemon=True)
    thread.start()
    try:
        return got.wait(timeout)
    finally:
        if got.is_set():
            os.close(fd)
