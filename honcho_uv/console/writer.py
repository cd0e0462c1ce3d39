"""The console writer: byte chunks to a file descriptor from a thread, in order, in batches.

Writing happens in a thread doing blocking ``os.write`` calls, so:

* the event loop never blocks on a slow terminal or a stalled pipe reader;
* we never set O_NONBLOCK on a descriptor shared with the user's shell;
* writes are batched: everything queued is written with one ``writev`` (the chunks are not
  joined first: no copy of the batch, and no copy made while holding the GIL that the loop
  thread needs to read the next chunk), and the thread is woken once per loop iteration,
  not once per chunk (each wake-up is a GIL handoff);
* when *fd* is a pipe it is enlarged to :data:`PIPE_SIZE_BYTES` where the kernel allows, as
  the children's pipes are: a reader that reads in large chunks (a log shipper, ``tee``, a
  harness) then wakes once per MiB instead of once per 64 KiB, and so does this thread;
* backpressure is per source (a process): when more than :data:`HIGH_WATER_BYTES` of one
  source's output waits, ``on_pressure(source, True)`` asks the owner to stop reading that
  process (it blocks in ``write``: nothing is lost), and ``on_pressure(source, False)`` comes
  once it drops below :data:`LOW_WATER_BYTES`. Per process, not global, so a quiet process is
  never held up by a noisy one (a global pause starved whichever pipe the loop happened to
  read last). Memory is bounded by about HIGH + one read per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import stat
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any

__all__ = ["HIGH_WATER_BYTES", "LOW_WATER_BYTES", "PIPE_SIZE_BYTES", "ConsoleWriter", "enlarge_pipe"]

HIGH_WATER_BYTES = 1 << 20
LOW_WATER_BYTES = 256 << 10
#: The size hu asks for when its output is a pipe (the default is 64 KiB; 1 MiB is the most an
#: unprivileged process may ask for by default, /proc/sys/fs/pipe-max-size).
PIPE_SIZE_BYTES = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
#: At most this many chunks per ``writev`` (POSIX guarantees IOV_MAX >= 16; Linux has 1024).
_IOV_MAX = min(os.sysconf("SC_IOV_MAX") if "SC_IOV_MAX" in os.sysconf_names else 16, 1024)


def enlarge_pipe(fd: int, size: int = PIPE_SIZE_BYTES) -> int | None:
    """Grow the pipe *fd* to at least *size* bytes; its size after, or None if *fd* is not a pipe.

    Never shrinks a pipe, and a refusal (the user's pipe-buffer quota, an old kernel) leaves it
    as it was: a bigger pipe saves wake-ups, it is not needed for correctness.
    """
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return None
        current: int = fcntl.fcntl(fd, _F_GETPIPE_SZ)
    except OSError:
        return None
    if current < size:
        with contextlib.suppress(OSError):
            current = fcntl.fcntl(fd, _F_SETPIPE_SZ, size)
    return current


class ConsoleWriter:
    """Writes byte chunks to *fd* from a thread, in order, in batches.

    Each chunk is written on behalf of a *source* (a process id, or None for hu's own lines).
    ``on_pressure(source, True)`` is called at once (on the loop) when more than *high* bytes
    of that source are queued or being written, ``on_pressure(source, False)`` once they drop
    below *low*; the None source is never held back. ``on_broken()`` is called once if the
    reader went away (EPIPE). :meth:`close` drains what is queued, then ends the thread.
    On the loop's thread the writing thread is woken once per loop iteration, after every
    chunk of that iteration is queued; :meth:`write` from another thread wakes it at once.
    """

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop, *,
                 on_pressure: Callable[[Hashable, bool], None], on_broken: Callable[[], None],
                 high: int = HIGH_WATER_BYTES, low: int = LOW_WATER_BYTES):
        self._fd = fd
        self._loop = loop
        self._on_pressure = on_pressure
        self._on_broken = on_broken
        self._high, self._low = high, low
        self._cond = threading.Condition()
        # Invariants (under _cond): _outstanding[s] is the bytes of source s queued or in the
        # batch being written (entries at 0 are removed); _batch[s] is the part of it queued
        # since the thread last took a batch; _held holds the sources reported as pressured.
        self._chunks: list[bytes] = []
        self._outstanding: dict[Hashable, int] = {}
        self._batch: dict[Hashable, int] = {}
        self._held: set[Hashable] = set()
        self._closing = False
        self._kicked = False  # a _kick is scheduled on the loop (the thread is told once per iteration)
        self._loop_thread = threading.get_ident()  # made on the loop's thread (an application's start)
        self.broken = False
        self.written = 0  # bytes written so far (read by close() to tell progress from a stall)
        self.writes = 0  # write system calls made so far (a batch is one, unless it is partial)
        enlarge_pipe(fd)
        self._thread = threading.Thread(target=self._run, name="hu-console", daemon=True)
        self._thread.start()

    def write(self, chunks: Iterable[bytes], source: Hashable = None) -> None:
        if self.broken:
            return
        with self._cond:
            size = 0
            for chunk in chunks:
                self._chunks.append(chunk)
                size += len(chunk)
            self._outstanding[source] = self._outstanding.get(source, 0) + size
            self._batch[source] = self._batch.get(source, 0) + size
            hold = source is not None and source not in self._held and self._outstanding[source] > self._high
            if hold:
                self._held.add(source)
        if threading.get_ident() != self._loop_thread:
            self._kick()  # from another thread: wake it now (call_soon is the loop thread's)
        elif not self._kicked:
            # One wake-up of the thread per loop iteration, after every chunk read in it, not
            # one per chunk: a pty gives 4 KiB per read, and each wake-up is a GIL handoff.
            self._kicked = True
            try:
                self._loop.call_soon(self._kick)
            except RuntimeError:  # the loop is closed (a last flush at exit): wake it now
                self._kicked = False
                self._kick()
        if hold:
            self._on_pressure(source, True)

    def _kick(self) -> None:
        self._kicked = False
        with self._cond:
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._chunks or self._closing)
                if not self._chunks:
                    return
                chunks, self._chunks = self._chunks, []
                taken, self._batch = self._batch, {}
            if not self._write_all(chunks):
                return
            with self._cond:
                for source, size in taken.items():
                    left = self._outstanding.get(source, 0) - size
                    if left > 0:
                        self._outstanding[source] = left
                    else:
                        self._outstanding.pop(source, None)
                    if source in self._held and left < self._low:
                        self._held.discard(source)
                        self._call(self._on_pressure, source, False)

    def _write_all(self, chunks: list[bytes]) -> bool:
        """Write *chunks* in order with as few ``writev`` calls as the kernel takes."""
        pending: list[bytes | memoryview] = list(chunks)  # a partly written chunk becomes a view
        start = 0  # chunks[start:] are still to write; the first of them may be partly written
        while start < len(chunks):
            batch = pending[start:start + _IOV_MAX]
            try:
                n = os.writev(self._fd, batch)
            except InterruptedError:
                continue
            except BlockingIOError:
                time.sleep(0.01)  # someone made our fd non-blocking; wait for room
                continue
            except OSError:
                self.broken = True
                with self._cond:
                    self._chunks.clear()
                    self._outstanding.clear()
                    self._batch.clear()
                    held, self._held = self._held, set()
                # Nothing will be written any more: let every held process run again (a child
                # blocked in write would otherwise sit out its stop until SIGKILL).
                for source in held:
                    self._call(self._on_pressure, source, False)
                self._call(self._on_broken)
                return False
            self.writes += 1
            self.written += n
            # Skip the chunks written whole; keep the unwritten tail of a partly written one.
            for chunk in batch:
                if n < len(chunk):
                    if n:
                        pending[start] = memoryview(chunk)[n:]  # no copy, however often
                    break
                n -= len(chunk)
                start += 1
        return True

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed
            self._loop.call_soon_threadsafe(fn, *args)

    def close(self, stall_timeout: float = 1.0) -> None:
        """Write everything queued, then end the thread.

        Waits as long as the reader keeps reading; gives up once nothing could be written
        for *stall_timeout* seconds (a stalled reader must not keep hu from exiting).
        """
        with self._cond:
            self._closing = True
            self._cond.notify()
        last = self.written
        idle_since = time.monotonic()
        while self._thread.is_alive():
            self._thread.join(0.05)
            if self.written != last:
                last, idle_since = self.written, time.monotonic()
            elif time.monotonic() - idle_since > stall_timeout:
                return
