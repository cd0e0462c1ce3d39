"""Pseudo-terminals for tty children: open one, size it, and keep every one the size of hu's.

A tty child (``ProcessTemplate.tty``) gets the slave side of a pty as stdin, stdout, stderr
and controlling terminal; hu reads and writes the master side. Two settings make its output
what the child wrote, byte for byte:

* output post-processing (``OPOST``) is off on the slave, so a ``\\n`` is not turned into
  ``\\r\\n`` on its way to the console, the ring buffer and the log files;
* everything else is the kernel's default line discipline (echo, ``^C`` -> SIGINT to the
  child's foreground group, canonical input), as a terminal emulator gives: what a person
  types through ``hu attach`` behaves as it would in a terminal of its own.

:class:`Window` holds the size every tty child sees (hu's terminal at start, else 80x24) and
applies a change to every open master (the kernel then sends SIGWINCH to the child's
foreground process group).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import termios
from collections.abc import Iterable

__all__ = ["DEFAULT_SIZE", "Window", "open_pty", "set_size", "terminal_size"]

#: (columns, rows) when hu has no terminal to copy (a detached hu, the daemon, CI).
DEFAULT_SIZE = (80, 24)


def terminal_size(fds: Iterable[int] = (1, 0, 2)) -> tuple[int, int]:
    """The (columns, rows) of the first of *fds* that is a terminal with a size, else 80x24."""
    for fd in fds:
        with contextlib.suppress(OSError):
            size = os.get_terminal_size(fd)
            if size.columns > 0 and size.lines > 0:
                return size.columns, size.lines
    return DEFAULT_SIZE


def set_size(fd: int, size: tuple[int, int]) -> None:
    """Set the window size of the terminal *fd* (either side of a pty) to (columns, rows)."""
    columns, rows = size
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def open_pty(size: tuple[int, int]) -> tuple[int, int]:
    """A new pty ``(master, slave)`` of *size*, with output post-processing off on the slave.

    Both fds are close-on-exec (the spawn hands the slave to the child as its stdio). On
    OSError nothing is left open.
    """
    master, slave = os.openpty()
    try:
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST  # oflag: bytes reach hu exactly as the child wrote them
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        set_size(master, size)
    except (OSError, termios.error) as exc:  # termios.error is not an OSError
        os.close(master)
        os.close(slave)
        if isinstance(exc, termios.error):
            raise OSError(*exc.args) from exc
        raise
    return master, slave


class Window:
    """The size of every tty child's terminal, and the pty masters it applies to.

    Invariant: ``masters`` maps the id of every tty instance hu still reads to its master fd
    (registered after the spawn, unregistered before the fd is closed); each master has
    :attr:`size`, except one given its own size by :meth:`resize_one` (``hu attach``), which
    keeps it until :meth:`reset_one`.
    """

    def __init__(self, size: tuple[int, int] = DEFAULT_SIZE):
        self.size = size
        self.masters: dict[int, int] = {}
        self._own_size: set[int] = set()  # keys sized by resize_one (an attached client) until reset

    def register(self, key: int, master: int) -> None:
        """Track instance *key*'s pty master, giving it the current size (it may have changed
        while the spawn ran)."""
        self.masters[key] = master
        self._set(key, self.size)

    def unregister(self, key: int) -> None:
        self.masters.pop(key, None)
        self._own_size.discard(key)

    def resize(self, size: tuple[int, int]) -> None:
        """Make *size* the size of every tty child's terminal (now and for later spawns)."""
        self.size = size
        for key in list(self.masters):
            if key not in self._own_size:
                self._set(key, size)

    def resize_one(self, key: int, size: tuple[int, int]) -> bool:
        """Give instance *key*'s terminal *size* until :meth:`reset_one` (hu's own resizes
        leave it alone meanwhile); False if it has none (any more)."""
        self._own_size.add(key)
        return self._set(key, size)

    def _set(self, key: int, size: tuple[int, int]) -> bool:
        master = self.masters.get(key)
        if master is None:
            return False
        try:
            set_size(master, size)
        except OSError:  # EBADF/ENOTTY: it is being closed
            return False
        return True

    def reset_one(self, key: int) -> None:
        """Back to the common size (an attached client went away)."""
        self._own_size.discard(key)
        self._set(key, self.size)
