"""The guardian: a tiny process that stops what ``hu`` started if ``hu`` is killed.

Children live in sessions of their own (so the terminal's Ctrl-C reaches only hu), so when
hu dies by SIGKILL (or the OOM killer) nothing tells them: a web server that never writes
keeps its port, and the next ``hu start`` fails with "Address already in use". The kernel's
parent-death signal (``PR_SET_PDEATHSIG``) could tell each child, but it can only be set by
the child itself between fork and exec: a ``preexec_fn``, which turns each spawn's vfork
(0.6 ms here) into a fork of all of hu (4-5 ms, more with 5,000 instances), or an extra exec
of a wrapper per child. It would also reach only the direct children, not what they started.

So hu starts one guardian instead: ``sh``, blocked in ``read`` on a pipe whose write end
only hu holds (close-on-exec, so no child inherits it). At a clean exit hu writes ``done``
and the guardian exits. If hu dies any other way, the kernel closes the pipe, ``read`` sees
end of file, and the guardian execs ``python -m honcho_uv.daemon.guardian``, which stops
every process of the state file hu kept (:class:`~honcho_uv.daemon.state.StateRecorder`):
the stop signal to each one's group and to the members of its session, SIGKILL after its
grace, identity checked by pid + create time (:func:`~honcho_uv.daemon.state.stop_leftovers`).
It costs one idle ``sh`` (about 1 MB) and nothing per spawn; what it cannot do (it was
killed too, or the machine rebooted) the next ``hu start`` does from the same state file.

The guardian stays in hu's session, in a process group of its own, ignoring the terminal's
signals: Ctrl-C and a closed terminal reach hu, which stops everything and then says done.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from honcho_uv.daemon.state import DaemonState, StateRecorder, stop_leftovers

if TYPE_CHECKING:
    from honcho_uv.core.manager import Manager

__all__ = ["Guardian", "Keeper", "main"]

_SCRIPT = ('trap "" INT TERM HUP QUIT TSTP TTIN TTOU; read -r word; '
           '[ "$word" = done ] || exec "$@"')


class Guardian:
    """Starts the guardian for the state file *state_path* of the hu with pid *owner*.

    *stderr* is where the guardian's cleanup reports (hu's own stderr in the foreground,
    /dev/null for a detached hu, which must hold none of its caller's descriptors). Raises
    OSError if the guardian cannot be started (the caller runs without one).
    """

    def __init__(self, state_path: str | Path, *, stderr: int | None = None, owner: int | None = None):
        read_end, self._write_end = os.pipe()  # both close-on-exec; Popen gives read_end as stdin
        try:
            self.process = subprocess.Popen(
                # -P: the app root (its cwd) must not decide which code runs.
                ["/bin/sh", "-c", _SCRIPT, "hu-guardian", sys.executable, "-P", "-m", "honcho_uv.daemon.guardian",
                 str(state_path), str(owner or os.getpid())],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=stderr if stderr is not None else subprocess.DEVNULL,
                close_fds=True, process_group=0,
            )
        except OSError:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)
        self._pidfd = -1  # watched by the loop while >= 0 (see watch)

    def watch(self, loop: asyncio.AbstractEventLoop, say: Callable[[str], None]) -> None:
        """Reap the guardian if it dies before hu, and say so: protection is gone, and a
        zombie in hu's session would keep waking the reaper thread."""
        try:
            self._pidfd = os.pidfd_open(self.process.pid)
        except (OSError, AttributeError):
            return
        loop.add_reader(self._pidfd, self._died, loop, say)

    def _died(self, loop: asyncio.AbstractEventLoop, say: Callable[[str], None]) -> None:
        self._unwatch(loop)
        self.process.wait()
        if self._write_end >= 0:
            os.close(self._write_end)
            self._write_end = -1
            say(f"the guardian (pid {self.process.pid}) exited: if hu is killed now, the next hu start "
                f"stops what it left")

    def _unwatch(self, loop: asyncio.AbstractEventLoop | None) -> None:
        if self._pidfd >= 0:
            if loop is not None:
                loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1

    def release(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """hu is done and nothing it started runs: tell the guardian to exit (idempotent)."""
        self._unwatch(loop)
        if self._write_end < 0:
            return
        with contextlib.suppress(OSError):
            os.write(self._write_end, b"done\n")
        os.close(self._write_end)
        self._write_end = -1
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(1.0)  # at once: it only reads one line (no zombie left behind)


class Keeper:
    """What ``hu start`` does so that nothing it starts outlives it, however it ends.

    :meth:`start` (before the Manager starts): stop what a killed hu of the same app root left
    (its state file), then keep the state file of this run and start the :class:`Guardian`.
    :meth:`release` (after every process has exited): remove the state file, dismiss the
    guardian.
    """

    def __init__(self, state: DaemonState, recorder: StateRecorder, guardian: Guardian | None):
        self.state, self.recorder, self.guardian = state, recorder, guardian

    @classmethod
    async def start(cls, manager: Manager, state_path: Path, *, say: Callable[[str], None],
                    stderr: int | None) -> Keeper:
        state = DaemonState(state_path)
        pid, records = state.read()
        stopped = await stop_leftovers(pid, records, what="hu")
        if stopped:
            say(f"stopped what a killed hu (pid {pid}) left running: {', '.join(stopped)}")
        state.write([])
        recorder = StateRecorder(state, lambda: manager.running.values())
        manager.bus.add_lifecycle_hook(recorder)
        guardian: Guardian | None = None
        try:
            guardian = Guardian(state.path, stderr=stderr)
        except OSError as exc:
            say(f"no guardian ({exc.strerror or exc}): if hu is killed, the next hu start stops what it left")
        else:
            guardian.watch(asyncio.get_running_loop(), say)
        return cls(state, recorder, guardian)

    def release(self) -> None:
        self.recorder.close()
        self.state.remove()
        if self.guardian is not None:
            try:
                loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            self.guardian.release(loop)


def main(argv: list[str]) -> int:
    """``python -m honcho_uv.daemon.guardian STATE PID``: stop what the dead hu *PID* left."""
    state_path, owner = Path(argv[0]), int(argv[1])
    state = DaemonState(state_path)
    try:
        ours = os.stat(state_path).st_ino
    except OSError:
        return 0  # no file: nothing was running
    pid, records = state.read()
    if pid != owner:
        return 0  # a new hu's file: not ours to act on
    stopped = asyncio.run(stop_leftovers(pid, records, what="hu"))
    with contextlib.suppress(OSError):
        # A new hu may have started meanwhile (it stops the same leftovers and writes its own
        # file, a new inode): only our file goes.
        if os.stat(state_path).st_ino == ours:
            state.remove()
    if stopped:
        with contextlib.suppress(OSError):  # hu's stderr may be a closed pipe
            sys.stderr.write(f"hu: hu (pid {owner}) was killed; stopped what it left running: {', '.join(stopped)}\n")
            sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
