"""Children for the tests, and the scan that proves none of them outlived a test.

Every child a test starts carries ``HU_TEST_MARKER=<uuid>`` in its environment (the ``env``
and ``marker`` fixtures, :class:`tests.kit.hu.AppDir`). :func:`carriers` finds the live
processes carrying a marker with a psutil scan of every process, which also finds setsid
escapees and double-forked daemons that a walk of the process tree misses.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

import psutil

from tests.kit.wait import wait_for

__all__ = ["PY", "TICKER", "TREE", "assert_no_survivors", "carriers", "cmdline", "kill_carriers",
           "processes_with", "python", "tree", "zombie_children"]

PY = sys.executable
#: The fixture program: a configurable misbehaving child (``python tests/fixtures/tree.py --help``).
TREE = str(Path(__file__).resolve().parents[1] / "fixtures" / "tree.py")
#: A shell loop printing ``tick N`` every 50 ms.
TICKER = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done"


def python(code: str, *args: str) -> list[str]:
    """argv running *code* in an unbuffered interpreter."""
    return [PY, "-u", "-c", code, *args]


def tree(*args: str) -> list[str]:
    """argv running the fixture program with *args*."""
    return [PY, "-u", TREE, *args]


def cmdline(argv: list[str]) -> str:
    """A ``cmd`` string that shlex splits back into *argv*."""
    return shlex.join(argv)


def carriers(marker: str, exclude: Iterable[int] = ()) -> list[psutil.Process]:
    """Live (non-zombie) processes whose environment carries ``HU_TEST_MARKER=marker``, except
    this test process and the pids in *exclude* (the ``hu`` processes a test started)."""
    skip = {os.getpid(), *exclude}
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid in skip or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("HU_TEST_MARKER") == marker:
                found.append(proc)
    return found


def kill_carriers(marker: str, exclude: Iterable[int] = ()) -> None:
    for proc in carriers(marker, exclude):
        with contextlib.suppress(psutil.Error):
            proc.kill()


def _describe(procs: list[psutil.Process]) -> list[tuple[int, str]]:
    described = []
    for proc in procs:
        try:
            described.append((proc.pid, " ".join(proc.cmdline())))
        except psutil.Error:
            described.append((proc.pid, "?"))
    return described


def assert_no_survivors(marker: str, timeout: float = 5.0, exclude: Iterable[int] = ()) -> None:
    """Nothing carrying *marker* is alive, waiting up to *timeout* for stragglers. On failure
    the survivors are killed, then named in the :class:`AssertionError`."""
    exclude = set(exclude)
    try:
        wait_for(lambda: not carriers(marker, exclude), timeout, f"processes with marker {marker} to be gone")
    except AssertionError:
        left = carriers(marker, exclude)
        if not left:  # the last one went just now
            return
        described = _describe(left)
        kill_carriers(marker, exclude)
        raise AssertionError(f"processes with marker {marker} outlived the test: {described}") from None


def zombie_children() -> list[psutil.Process]:
    """This process's children that exited and were not reaped yet."""
    out = []
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if child.status() == psutil.STATUS_ZOMBIE:
                out.append(child)
    return out


def processes_with(token: str) -> list[str]:
    """Command lines (space-joined) of the processes whose command line contains *token* (a
    string unique to the test): for children that cannot carry the marker, such as services
    started by a real supervisor."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            line = " ".join(proc.cmdline())
            if token in line and proc.pid != os.getpid():
                found.append(line)
    return found
