"""The child's standard streams: pipes or a pty made by us, and the protocol that reads them.

Output pipes are enlarged to 1 MiB where the kernel allows (fewer wake-ups for a chatty
child); a tty child gets one pty for stdin, stdout and stderr (see core/terminal.py). The read
side hands every chunk, as bytes, to the OutputBus, the same for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import subprocess
from collections import ChainMap
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from honcho_uv.core.terminal import Window, open_pty
from honcho_uv.errors import SpawnError

if TYPE_CHECKING:
    from honcho_uv.core.process import Process

__all__ = ["PIPE_SIZE_BYTES", "ChildStdio", "OutputProtocol", "StdinWriter", "TerminalWriter", "close_fds", "flat_env",
           "no_input_message"]

PIPE_SIZE_BYTES = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class ChildStdio:
    """The standard streams of one spawn: pipes, or one pty when *window* is given.

    Attributes:
        child: the (stdin, stdout, stderr) fds to hand to the spawner (``subprocess.DEVNULL``
            where a stream is discarded); closed by :meth:`close_child_ends` after the spawn.
        outputs: our read end per output label (``None``: read and discarded, so a tty child
            whose output nobody wants never blocks).
        stdin: our write end of the child's stdin, or None.
        master: the pty master (tty only), kept to set the window size; the read and write
            ends above are duplicates of it, each owned by its transport.
        terminal: the child's stdio is a terminal, to become its controlling terminal.
    """

    def __init__(self) -> None:
        self.child: tuple[int, int, int] = (subprocess.DEVNULL,) * 3
        self.outputs: dict[str | None, int] = {}
        self.stdin: int | None = None
        self.master: int | None = None
        self.terminal = False

    @classmethod
    def open(cls, name: str, labels: tuple[str, ...], stdin: bool, window: Window | None = None) -> ChildStdio:
        """Pipes for *labels* (stdout, stderr; one pipe per distinct label) and, with *stdin*,
        a stdin pipe; or, with *window*, one pty of its size for all three (the pty's output
        goes to the first label).

        Raises:
            SpawnError: a pipe or pty could not be had (nothing is left open).
        """
        stdio = cls()
        try:
            if window is not None:
                stdio._open_pty(labels, window)
            else:
                stdio._open_pipes(labels, stdin)
        except OSError as exc:
            stdio.close_all()
            raise SpawnError(f"{name}: cannot create {'a pty' if window else 'pipes'}: {exc.strerror}") from exc
        return stdio

    def _open_pipes(self, labels: tuple[str, ...], stdin: bool) -> None:
        ends: dict[str, int] = {}
        child_in = subprocess.DEVNULL
        try:
            for label in dict.fromkeys(labels):
                r, w = os.pipe()
                self.outputs[label], ends[label] = r, w
                with contextlib.suppress(OSError):
                    fcntl.fcntl(w, _F_SETPIPE_SZ, PIPE_SIZE_BYTES)
            if stdin:
                child_in, self.stdin = os.pipe()
        except OSError:
            close_fds(ends.values())
            raise
        self.child = (child_in, ends[labels[0]] if labels else subprocess.DEVNULL,
                      ends[labels[1]] if len(labels) > 1 else subprocess.DEVNULL)

    def _open_pty(self, labels: tuple[str, ...], window: Window) -> None:
        self.master, slave = open_pty(window.size)
        self.child = (slave, slave, slave)
        self.terminal = True
        self.outputs[labels[0] if labels else None] = os.dup(self.master)
        self.stdin = os.dup(self.master)

    def close_child_ends(self) -> None:
        """Close our copies of the child's ends: theirs are all it needs, and ours would keep
        EOF (EIO on a pty) from ever coming."""
        close_fds(fd for fd in dict.fromkeys(self.child) if fd >= 0)
        self.child = (subprocess.DEVNULL,) * 3

    def close_all(self) -> None:
        """Close every fd (the spawn failed)."""
        self.close_child_ends()
        close_fds([*self.outputs.values(), *([self.stdin] if self.stdin is not None else [])])
        self.outputs.clear()
        self.stdin = None
        self.close_master()

    def close_master(self) -> None:
        if self.master is not None:
            close_fds([self.master])
            self.master = None


def close_fds(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class OutputProtocol(asyncio.Protocol):
    """Reads one output pipe (or pty master) of *process* into its bus; tells the process at
    EOF (a pty master ends in EIO, which both loops report as a close). Label None: read and
    discard."""

    def __init__(self, process: Process, label: str | None):
        self._process = process
        self._bus = process.bus
        self._label = label

    def data_received(self, data: bytes) -> None:
        if self._label is not None:
            self._bus.deliver(self._process, self._label, data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._process.pipe_closed(self._label)


class StdinWriter:
    """A child's stdin: writes keep their order, and writes made before the pipe is connected
    wait for it. Runs on the loop thread. After :meth:`close` writes are dropped."""

    def __init__(self) -> None:
        # Invariant: _backlog is a list until the pipe is connected (or closed), None after.
        self._backlog: list[bytes] | None = []
        self._transport: asyncio.WriteTransport | TerminalWriter | None = None

    async def connect(self, loop: asyncio.AbstractEventLoop, fd: int, terminal: bool = False) -> None:
        """Take the write end *fd* of the child's stdin pipe (or, with *terminal*, a duplicate
        of its pty master), and flush what was written."""
        if terminal:
            self._transport = TerminalWriter(loop, fd)
        else:
            pipe = open(fd, "wb", buffering=0)  # noqa: ASYNC230 - wraps a pipe fd; the transport owns it
            self._transport, _ = await loop.connect_write_pipe(asyncio.Protocol, pipe)
        backlog, self._backlog = self._backlog or [], None
        for data in backlog:
            self.write(data)

    def write(self, data: bytes) -> None:
        if self._backlog is not None:
            self._backlog.append(data)
        elif self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._backlog = None
        if self._transport is not None:
            self._transport.close()


class TerminalWriter:
    """Writes to a pty master, in order, without blocking the loop.

    Not a write pipe transport: uvloop's reads the fd it writes to (to notice a closed pipe)
    and would eat the child's output from a pty master, whose one fd carries both ways. Here
    the fd is only written: directly while the kernel takes it, else buffered and flushed
    when the loop says it is writable. A write error (EIO: the child is gone) closes it.

    Invariant: ``_pending`` is non-empty iff a writer callback is registered for ``_fd``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int):
        os.set_blocking(fd, False)
        self._loop, self._fd = loop, fd
        self._pending = bytearray()
        self._closed = False

    def is_closing(self) -> bool:
        return self._closed

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        if self._pending:
            self._pending += data
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        try:
            written = os.write(self._fd, self._pending)
        except BlockingIOError:
            written = 0
        except OSError:
            self.close()
            return
        del self._pending[:written]
        if self._pending:
            self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        self._loop.remove_writer(self._fd)
        self._flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pending:
            self._loop.remove_writer(self._fd)
            self._pending.clear()
        os.close(self._fd)


def flat_env(env: Mapping[str, str]) -> dict[str, str]:
    """*env* as one dict, its layers merged in C (``dict(ChainMap)`` looks each key up through
    every layer in Python: a tenth of a millisecond per spawn)."""
    if not isinstance(env, ChainMap):
        return dict(env)
    flat: dict[str, str] = {}
    for layer in reversed(env.maps):
        flat.update(flat_env(layer) if isinstance(layer, ChainMap) else layer)
    return flat


def no_input_message(name: str, type_name: str) -> str:
    """Why instance *name* (of type *type_name*) takes no input, and how a user gets one."""
    return (f"{name} has no stdin: start it with `hu start --stdin {type_name}`, or set tty = true under "
            f"[processes.{type_name}] in hu.toml (embedding API: redirect_input=True or tty=True)")
