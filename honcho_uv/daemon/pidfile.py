"""A daemon's pidfile: written atomically, never stolen from a live owner, removed only if ours.

The file holds ``<pid>\\n`` (gaffer's format). A pid in the file is the live owner only if a
process with that pid exists *and* was created no later than the file was written: a pid
recycled by an unrelated, younger process does not block a restart after a crash.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import psutil

from honcho_uv.atomicfile import write_atomic
from honcho_uv.errors import ConfigError, StateError

__all__ = ["Pidfile"]


class Pidfile:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.pid: int | None = None

    def owner(self) -> int | None:
        """The live pid that owns the file, or None (absent, garbage or stale)."""
        try:
            text = self.path.read_text().strip()
            written = self.path.stat().st_mtime
        except (FileNotFoundError, UnicodeDecodeError, ValueError):
            return None
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read pidfile ({exc.strerror})") from exc
        if not text.isdigit():
            return None
        pid = int(text)
        if pid == os.getpid():
            return None
        try:
            created = psutil.Process(pid).create_time()
        except psutil.Error:
            return None
        return pid if created <= written + 1.0 else None

    def create(self) -> None:
        """Write our pid (temp file + rename, mode 0644).

        Raises:
            StateError: a live process owns the file.
        """
        other = self.owner()
        if other is not None:
            raise StateError(f"already running with pid {other} (pidfile {self.path})")
        try:
            write_atomic(self.path, f"{os.getpid()}\n".encode(), 0o644)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot write pidfile ({exc.strerror})") from exc
        self.pid = os.getpid()

    def remove(self) -> None:
        """Delete the file if it still holds our pid."""
        if self.pid is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if int(self.path.read_text().strip()) == self.pid:
                self.path.unlink()
        self.pid = None
