"""The client side of ``hu attach``: one websocket between a terminal and an instance.

The protocol is the server's (:mod:`honcho_uv.http.handlers_attach`). This module moves bytes
and leaves the terminal's modes to the caller (``cli/attach.py``):

* input is read from *input_fd* as it arrives and sent in order; in ``raw`` mode the detach
  key ``Ctrl-]`` anywhere in it detaches (what came before it is sent, nothing after); in line
  mode a line holding only ``Ctrl-]`` detaches; end of input detaches in both;
* output frames are written to *output_fd* whole, in order;
* the terminal's size (*size*, when given) is sent at the start and on every SIGWINCH.

Guarantee: on return the websocket is closed, the SIGWINCH handler and the input reader are
removed and the sender task has been awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
from collections.abc import Callable

import aiohttp

from honcho_uv.errors import ControlError, NotRunning

__all__ = ["DETACH_KEY", "attach"]

#: Ctrl-] (telnet's and docker's escape): rarely typed on purpose, and not a signal key.
DETACH_KEY = b"\x1d"

#: What the sender sends: input bytes, a JSON control message, or None (detach).
Frame = bytes | str | None


class _Input:
    """Turns reads of the input fd into frames to send, ``None`` meaning "detach".

    Invariant: ``_line`` holds a line-mode partial line (no newline) not yet sent.
    """

    def __init__(self, raw: bool, queue: asyncio.Queue[Frame]):
        self._raw = raw
        self._queue = queue
        self._line = b""
        self.ended = False

    def feed(self, data: bytes) -> None:
        if self.ended:
            return
        if not data:  # end of input
            self._send(self._line)
            self._detach()
        elif self._raw:
            head, key, _ = data.partition(DETACH_KEY)
            self._send(head)
            if key:
                self._detach()
        else:
            self._feed_lines(data)

    def _feed_lines(self, data: bytes) -> None:
        lines = (self._line + data).split(b"\n")
        self._line = lines.pop()
        for line in lines:
            if line.rstrip(b"\r") == DETACH_KEY:
                self._detach()
                return
            self._send(line + b"\n")

    def _send(self, data: bytes) -> None:
        if data:
            self._queue.put_nowait(data)

    def _detach(self) -> None:
        self.ended = True
        self._queue.put_nowait(None)


async def attach(*, socket_path: str | None, url: str | None, token: str | None, instance_id: int, force: bool,
                 raw: bool, input_fd: int, output_fd: int, size: Callable[[], tuple[int, int]] | None,
                 say: Callable[[str], None]) -> str:
    """Attach until detached or the instance ends; return why it ended, for the user.

    Raises:
        NotRunning: nothing answers at the address.
        ControlError: the server refused the websocket (the caller checked with a plain GET
            first, so this is a race: another client attached in between).
    """
    loop = asyncio.get_running_loop()
    connector = aiohttp.UnixConnector(path=socket_path) if socket_path else None
    base = "http://localhost" if socket_path else (url or "").rstrip("/")
    headers = {"Authorization": f"Bearer {token}"} if token and not socket_path else {}
    params = {"pid": str(os.getpid()), **({"force": "1"} if force else {})}
    async with aiohttp.ClientSession(connector=connector) as session:
        try:
            ws = await session.ws_connect(f"{base}/attach/{instance_id}", params=params, headers=headers,
                                          heartbeat=30.0, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as exc:
            raise ControlError(f"attach refused (HTTP {exc.status}): try again, or with --force") from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise NotRunning(f"cannot connect to attach: {exc}") from None
        queue: asyncio.Queue[Frame] = asyncio.Queue()
        reader = _Input(raw, queue)
        sender = asyncio.ensure_future(_send(ws, queue))
        try:
            try:
                loop.add_reader(input_fd, _on_readable, loop, input_fd, reader)
            except PermissionError:  # a regular file or /dev/null: epoll cannot watch it
                reader.feed(_read_all(input_fd))
                reader.feed(b"")
            # SIGTERM and SIGHUP detach (so the caller restores the terminal) instead of killing.
            for sig in _DETACH_SIGNALS:
                loop.add_signal_handler(sig, queue.put_nowait, None)
            if size is not None:
                loop.add_signal_handler(signal.SIGWINCH, lambda: queue.put_nowait(json.dumps({"resize": size()})))
                queue.put_nowait(json.dumps({"resize": size()}))
            return await _receive(ws, output_fd, say)
        finally:
            loop.remove_reader(input_fd)
            for sig in (*_DETACH_SIGNALS, signal.SIGWINCH):
                loop.remove_signal_handler(sig)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            await ws.close()


_DETACH_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _read_all(fd: int) -> bytes:
    """What a non-pollable input (a file, /dev/null) holds, read at once."""
    parts = []
    with contextlib.suppress(OSError):
        while part := os.read(fd, 1 << 16):
            parts.append(part)
    return b"".join(parts)


def _on_readable(loop: asyncio.AbstractEventLoop, fd: int, reader: _Input) -> None:
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return  # another reader of a shared terminal took it
    except OSError:
        data = b""  # the terminal went away: end of input
    reader.feed(data)
    if reader.ended:
        loop.remove_reader(fd)  # at end of input the fd stays readable: stop listening


async def _send(ws: aiohttp.ClientWebSocketResponse, queue: asyncio.Queue[Frame]) -> None:
    """Frames from *queue* in order (bytes: input; str: a JSON control message); ``None``
    (detach) closes the websocket."""
    while True:
        frame = await queue.get()
        if frame is None:
            await ws.close()
            return
        if isinstance(frame, str):
            await ws.send_str(frame)
        else:
            await ws.send_bytes(frame)


async def _receive(ws: aiohttp.ClientWebSocketResponse, output_fd: int, say: Callable[[str], None]) -> str:
    why = "detached"
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.BINARY:
            _write_all(output_fd, msg.data)
        elif msg.type == aiohttp.WSMsgType.TEXT:
            event = msg.json()
            if event.get("event") == "ended":
                code = event.get("exit")
                why = f"{event.get('name')} exited" + ("" if code is None else f" (code {code})")
            elif event.get("event") == "detached":
                why = f"detached: {event.get('reason')}"
            elif event.get("event") == "dropped":
                say(f"output skipped: this terminal fell behind ({event.get('dropped')} chunks)")
        elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            break
    return why


def _write_all(fd: int, data: bytes) -> None:
    """All of *data* to *fd*, waiting (blocking: the terminal is the bottleneck here) when the
    fd is non-blocking and full; output is never dropped on this side."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [])
        except BrokenPipeError:
            return  # nobody reads our output any more: drop it (input still goes through)
