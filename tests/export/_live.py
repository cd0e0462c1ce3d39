"""Deadline helpers for the tests that run a real supervisor."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path


def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def read_dumps(out: Path, names: list[str]) -> dict[str, dict[str, str]] | None:
    """The env each process dumped (OUT/<PS>.json), once every one of *names* has."""
    paths = [out / f"{name}.json" for name in names]
    if not all(p.exists() for p in paths):
        return None
    return {name: json.loads(p.read_text()) for name, p in zip(names, paths)}


def processes_with(token: str) -> list[str]:
    """Command lines (space-joined) of the processes whose command line contains *token*
    (a unique string of the test)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if token.encode() in cmdline and int(entry) != os.getpid():
            found.append(cmdline.decode(errors="replace"))
    return found
