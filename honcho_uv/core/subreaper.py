"""The subreaper flag, and the sweep of adopted zombies at the end of a run (Linux).

As a subreaper (``PR_SET_CHILD_SUBREAPER``), orphaned descendants re-parent to us instead of
init, so a stop can find and stop them, and their zombies are ours to reap. The
:class:`~honcho_uv.core.reaper.Reaper` thread reaps them while a run lasts;
:func:`reap_adopted_zombies` reaps those it had not reached when the run ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterable

from honcho_uv.core.procfs import ProcessTable

__all__ = ["reap_adopted_zombies", "set_subreaper"]

_PR_SET_CHILD_SUBREAPER = 36


def set_subreaper(on: bool) -> bool:
    """Make orphaned descendants re-parent to this process, or stop doing so (Linux).

    Returns whether the flag could be set.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        # dlopen(NULL): libc is already mapped. find_library("c") would run `ldconfig -p` in a
        # subprocess, which cost ~20 ms of every `hu start`.
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def reap_adopted_zombies(table: ProcessTable, exclude_sessions: Iterable[int] = ()) -> int:
    """Reap every zombie child we adopted as subreaper; returns how many.

    Children in our own session or in *exclude_sessions* are left to their owners, and living
    children are left alone (``WNOHANG``). A process re-parents its children before it becomes a
    zombie, so after return no orphan that had exited by the call is left a zombie of ours.
    """
    reaped = 0
    for pid in table.adopted_pids(table.view(fresh=True), exclude_sessions):
        with contextlib.suppress(ChildProcessError, OSError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                reaped += 1
    return reaped
