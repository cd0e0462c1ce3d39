"""The ``notify`` probe: a ``$NOTIFY_SOCKET`` per instance, the systemd sd_notify protocol.

Each instance whose ready probe is ``notify`` gets a datagram socket of its own in the Linux
abstract namespace (``NOTIFY_SOCKET=@hu-notify-<hu pid>-<id>``: no file to clean up, no path
length limit); sd_notify clients (libsystemd, python-systemd, sdnotify, ``systemd-notify``)
accept the ``@`` form. The kernel tells us each sender's credentials (``SO_PASSCRED``), and
only a message from a process of our own user (or the template's) counts, so a stranger who
guesses the name cannot make an instance ready. ``READY=1`` on a line of the message is
readiness; other fields (``STATUS=``, ``MAINPID=``) are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct

__all__ = ["NotifySocket"]

_UCRED = struct.Struct("3i")
_MAX_MESSAGE = 4096


class NotifySocket:
    """One instance's notify socket; :attr:`ready` resolves at the first ``READY=1``.

    Invariant: the socket is open and watched by the loop from construction until
    :meth:`close` (which is idempotent).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str, allowed_uids: set[int]):
        self._loop = loop
        self.address = f"@{name}"
        self.ready: asyncio.Future[None] = loop.create_future()
        self._allowed = allowed_uids
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            self._sock.bind("\0" + name)
            self._sock.setblocking(False)
        except OSError:
            self._sock.close()
            raise
        loop.add_reader(self._sock.fileno(), self._on_readable)
        self._closed = False

    @classmethod
    def for_instance(cls, loop: asyncio.AbstractEventLoop, process_id: int, uid: int | None) -> NotifySocket:
        allowed = {os.getuid()} | ({uid} if uid is not None else set())
        return cls(loop, f"hu-notify-{os.getpid()}-{process_id}", allowed)

    def _on_readable(self) -> None:
        while True:
            try:
                data, ancdata, _, _ = self._sock.recvmsg(_MAX_MESSAGE, socket.CMSG_SPACE(_UCRED.size))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            uid = None
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(payload) >= _UCRED.size:
                    _, uid, _ = _UCRED.unpack(payload[: _UCRED.size])
            if uid in self._allowed and b"READY=1" in data.splitlines() and not self.ready.done():
                self.ready.set_result(None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        if not self.ready.done():
            self.ready.cancel()
