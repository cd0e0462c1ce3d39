"""Log files: one per instance, exactly the bytes it wrote, rotated at a line boundary.

An application of the Manager fed by its output sink (DESIGN.md "Log files"). Guarantees:

* ``DIR/web.1.log`` holds exactly what ``web.1`` wrote on stdout and stderr, interleaved as
  read: no prefix, no colour, no newline added (a partial last line stays partial);
* when a file would pass ``max_size`` it is rotated to ``web.1.log.1`` (``.1`` to ``.2``,
  ...; ``keep`` files are kept) at a line boundary: a line is never split across two files
  (a single line longer than ``max_size`` gets a file of its own), and nothing is lost or
  written twice;
* files are created 0600, and the directory 0700 when hu creates it;
* writing happens in a thread, so a slow disk never stalls the loop (the console, the API).
  When one instance's output waits longer than :data:`HIGH_WATER_BYTES`, its pipe stops being
  read (the child blocks, nothing is lost) until the writer catches up;
* a full disk (or any write error) drops that output from the files only, says so once on
  the console, and writing resumes by itself when space returns; the console never stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from honcho_uv.errors import InvalidOption
from honcho_uv.models.sizes import parse_size

__all__ = ["DEFAULT_KEEP", "DEFAULT_MAX_SIZE", "LogFiles", "parse_size", "prepare_log_dir"]

DEFAULT_MAX_SIZE = 10 << 20
DEFAULT_KEEP = 5
HIGH_WATER_BYTES = 4 << 20
LOW_WATER_BYTES = 1 << 20


def prepare_log_dir(path: str | Path, option: str = "--log-dir") -> Path:
    """Create *path* (0700) if missing, and check that hu can write in it.

    Raises:
        InvalidOption: it cannot be created, is not a directory, or is not writable.
    """
    directory = Path(path)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidOption(option, f"cannot create {directory}: {exc.strerror}") from None
    if not directory.is_dir():
        raise InvalidOption(option, f"{directory} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InvalidOption(option, f"{directory} is not writable")
    return directory


class _File:
    """One instance's log file. Invariant: ``size`` is the bytes in the open file, and
    ``at_line_start`` says whether it ends with a newline (or is empty)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None
        self.size = 0
        self.at_line_start = True

    def open(self) -> None:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            self.size = os.fstat(self.fd).st_size
            self.at_line_start = self.size == 0 or _last_byte(self.fd, self.size) == b"\n"

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _last_byte(fd: int, size: int) -> bytes:
    return os.pread(fd, 1, size - 1)


class LogFiles:
    """Writes every instance's output to ``DIR/NAME.log`` (see the module docstring).

    *say* prints a system line on the console (called on the loop).
    """

    def __init__(self, directory: str | Path, *, max_size: int = DEFAULT_MAX_SIZE, keep: int = DEFAULT_KEEP,
                 say: Callable[[str], None] | None = None):
        self.directory = Path(directory)
        self.max_size = max_size
        self.keep = keep
        self.say = say
        self.manager: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cond = threading.Condition()
        # Under _cond: chunks queued per instance name (in order), bytes queued per process id,
        # processes held back for it, and whether the thread should end once drained.
        self._queue: list[tuple[str, int, bytes]] = []
        self._queued: dict[int, int] = {}
        self._held: dict[int, Any] = {}
        self._closing = False
        self._files: dict[str, _File] = {}  # writer thread only
        self._failing = False  # writer thread only: the last write failed (reported once)
        self._thread: threading.Thread | None = None

    # -- application protocol ------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, manager: Any) -> None:
        self._loop = loop
        self.manager = manager
        self._thread = threading.Thread(target=self._run, name="hu-logfiles", daemon=True)
        self._thread.start()
        manager.add_output_sink(self.output)

    def stop(self) -> None:
        """Write everything queued, then end the thread (waits for the disk)."""
        if self.manager is not None:
            self.manager.remove_output_sink(self.output)
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()

    def restart(self) -> None:
        pass

    # -- the output sink (on the loop) ------------------------------------------------------

    def output(self, process: Any, label: str, data: bytes) -> None:
        key = process.id
        with self._cond:
            self._queue.append((process.name, key, data))
            queued = self._queued[key] = self._queued.get(key, 0) + len(data)
            hold = queued > HIGH_WATER_BYTES and key not in self._held
            if hold:
                self._held[key] = process
            self._cond.notify()
        if hold:
            process.pause_reading()

    def _release(self, key: int) -> None:
        with self._cond:
            process = self._held.pop(key, None)
        if process is not None:
            process.resume_reading()

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
                self._loop.call_soon_threadsafe(fn, *args)

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._queue or self._closing)
                    batch, self._queue = self._queue, []
                    if not batch and self._closing:
                        return
                by_name: dict[str, list[bytes]] = {}
                written: dict[int, int] = {}
                for name, key, data in batch:
                    by_name.setdefault(name, []).append(data)
                    written[key] = written.get(key, 0) + len(data)
                for name, chunks in by_name.items():
                    self._write(name, b"".join(chunks))
                with self._cond:
                    for key, n in written.items():
                        left = self._queued.get(key, 0) - n
                        if left > 0:
                            self._queued[key] = left
                        else:
                            self._queued.pop(key, None)
                        if key in self._held and left < LOW_WATER_BYTES:
                            self._call(self._release, key)
        finally:
            for file in self._files.values():
                file.close()

    def _write(self, name: str, data: bytes) -> None:
        file = self._files.get(name)
        if file is None:
            file = self._files[name] = _File(self.directory / f"{name}.log")
        try:
            file.open()
            while data:
                part, data = self._fit(file, data)
                if not part:
                    self._rotate(file)
                    continue
                _write_all(file, part)
        except OSError as exc:
            file.close()  # reopened (and its size read again) at the next write
            if not self._failing:
                self._failing = True
                self._call(self._report, f"log files: cannot write {file.path} ({exc.strerror or exc}); "
                                         f"output goes on to the console, the file resumes when it can")
            return
        if self._failing:
            self._failing = False
            self._call(self._report, f"log files: writing to {self.directory} again")

    def _fit(self, file: _File, data: bytes) -> tuple[bytes, bytes]:
        """How much of *data* goes into the current file now: ``(part, rest)``; an empty part
        means: rotate first. A line is never split across two files."""
        room = self.max_size - file.size
        if len(data) <= room:
            return data, b""
        if not file.at_line_start:  # finish the line already begun here, whatever its size
            end = data.find(b"\n")
            return (data, b"") if end < 0 else (data[: end + 1], data[end + 1:])
        cut = data.rfind(b"\n", 0, max(room, 0))
        if cut >= 0:
            return data[: cut + 1], data[cut + 1:]
        if file.size == 0:  # one line longer than max_size: a file of its own
            end = data.find(b"\n")
            return (data, b"") if end < 0 else (data[: end + 1], data[end + 1:])
        return b"", data

    def _rotate(self, file: _File) -> None:
        file.close()
        base = str(file.path)
        for i in range(self.keep - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{base}.{i}", f"{base}.{i + 1}")
        if self.keep > 0:
            os.replace(base, f"{base}.1")
        else:
            os.unlink(base)
        file.open()

    def _report(self, message: str) -> None:
        if self.say is not None:
            self.say(message)


def _write_all(file: _File, data: bytes) -> None:
    assert file.fd is not None, "open() first"
    view = memoryview(data)
    while view:
        n = os.write(file.fd, view)
        view = view[n:]
        file.size += n
    file.at_line_start = data.endswith(b"\n")
