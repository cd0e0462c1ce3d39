"""``GET /attach/<id>``: a websocket joined to one instance's input and output (``hu attach``).

After the upgrade:

* server -> client: a text frame ``{"event": "attached", "name", "tty", "size"}``, then the
  instance's output as binary frames (its bytes as read, every label); ``{"event":
  "dropped", "dropped": N}`` when the client fell behind (its feed is bounded, so a slow
  terminal never slows hu); ``{"event": "ended", "name", "exit"}`` when the instance's output
  ended, or ``{"event": "detached", "reason"}`` when another client took over; then a close;
* client -> server: binary frames are input, written to the instance's pty (``tty``) or stdin
  pipe (``--stdin``) in order; a text frame ``{"resize": [columns, rows]}`` sizes a tty
  instance's terminal while attached (it returns to hu's size after).

A plain GET (no upgrade) runs the same checks and answers ``{"ok": true, "name", "tty"}``.
Refused before the upgrade, as JSON errors like every route: an unknown or exited id (404,
409), an instance that takes no input (409, saying how to give it one), and an instance another
client is attached to (409, naming that client's pid; ``?force=1`` takes over). The security
middleware has already applied the API's rules (peer uid on the unix socket; token, Host and
Origin on TCP).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from typing import Any

from aiohttp import WSMsgType, web

from honcho_uv.core.manager import Manager
from honcho_uv.core.process import Process
from honcho_uv.core.stdio import no_input_message
from honcho_uv.errors import StateError, UnknownProcess
from honcho_uv.http.context import ctx
from honcho_uv.http.security import peer_pid
from honcho_uv.http.streams import COALESCE_S, HEARTBEAT_S
from honcho_uv.http.wire import int_id, ok

__all__ = ["routes"]

#: Manager -> instance id -> the session attached to it. Invariant: at most one session per
#: instance (the one writer), removed when that session ends; shared by every listener of the
#: Manager (a daemon serves the unix socket and TCP from one Manager).
_ATTACHED: weakref.WeakKeyDictionary[Manager, dict[int, _Session]] = weakref.WeakKeyDictionary()


class _Session:
    """One attached client: its websocket and pid; ``taken_over_by`` is set when a
    ``--force`` attach replaced it (it then ends without an ``ended`` event)."""

    def __init__(self, ws: web.WebSocketResponse, pid: int | None):
        self.ws = ws
        self.pid = pid
        self.taken_over_by: int | None = None


def _target(request: web.Request) -> Process:
    pid = int_id(request)
    process = ctx(request).manager.running.get(pid)
    if process is None:
        raise UnknownProcess(f"no running process with id {pid}")
    if not process.alive:
        raise StateError(f"{process.name} has exited")
    if not (process.template.tty or process.template.redirect_input):
        raise StateError(no_input_message(process.name, process.template.name))
    if process.template.tty and not process.template.redirect_output:
        # Its terminal's output is read and dropped: an attach would type blind.
        raise StateError(f"{process.name}: its output is discarded (redirect_output is empty), so an attach "
                         f"would show nothing; give it an output label")
    return process


def _client_pid(request: web.Request) -> int | None:
    pid = peer_pid(request)
    if pid is None:  # TCP: the client says who it is (for the "attached by" message only)
        with contextlib.suppress(ValueError):
            pid = int(request.query.get("pid", ""))
    return pid


async def attach(request: web.Request) -> web.StreamResponse:
    process = _target(request)
    context = ctx(request)
    sessions = _ATTACHED.setdefault(context.manager, {})
    holder = sessions.get(process.id)
    me = _client_pid(request)
    force = request.query.get("force", "0").lower() in ("1", "true", "yes")
    if holder is not None and not force:
        raise StateError(f"{process.name} is attached by pid {holder.pid or '?'} (hu attach --force takes over)")
    if request.headers.get("Upgrade", "").lower() != "websocket":
        # A plain GET asks "could I attach?": the same checks, answered as JSON, so that the
        # client can print the reason (a refused websocket handshake carries no body).
        return ok(id=process.id, name=process.name, tty=process.template.tty)
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S)
    # Claimed before the first await: two clients racing both passed the check above, and
    # only one may write; the other is told, as with --force.
    session = sessions[process.id] = _Session(ws, me)
    if holder is not None:
        holder.taken_over_by = me
    try:
        await ws.prepare(request)
    except BaseException:  # a bad handshake, a client gone mid-way: the claim goes with it
        if sessions.get(process.id) is session:
            del sessions[process.id]
        raise
    if holder is not None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await holder.ws.send_json({"event": "detached", "reason": f"taken over by pid {me or '?'}"})
        await holder.ws.close()
    if sessions.get(process.id) is not session:  # taken over while the handshake ran
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_json({"event": "detached", "reason": f"taken over by pid {session.taken_over_by or '?'}"})
        await ws.close()
        return ws
    feed = context.feeds.open()

    def on_output(label: str, msg: dict[str, Any]) -> None:
        feed.put(msg["data"])

    process.monitor_io(".", on_output, on_end=feed.close)
    window = context.manager.window
    reading = asyncio.ensure_future(_read_input(ws, process, window, feed))
    try:
        await ws.send_json({"event": "attached", "name": process.name, "tty": process.template.tty,
                            "size": list(window.size)})
        await _send_output(ws, feed)
        if session.taken_over_by is None and not ws.closed:
            status = process.exit_status
            await ws.send_json({"event": "ended", "name": process.name,
                                "exit": None if status is None else status.returncode})
    except (ConnectionError, RuntimeError):
        pass  # the client went away
    finally:
        process.unmonitor_io(".", on_output)
        context.feeds.discard(feed)
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        if sessions.get(process.id) is session:
            del sessions[process.id]
            window.reset_one(process.id)
        await ws.close()
    return ws


async def _send_output(ws: web.WebSocketResponse, feed: Any) -> None:
    """Forward the instance's output until it ends or the client goes (batched, like every stream)."""
    reported = 0
    while not ws.closed:
        try:
            items = await feed.batch(HEARTBEAT_S)
        except EOFError:
            return
        if feed.dropped != reported:
            reported = feed.dropped
            await ws.send_json({"event": "dropped", "dropped": reported})
        if items:
            await ws.send_bytes(b"".join(items))
            await asyncio.sleep(COALESCE_S)


async def _read_input(ws: web.WebSocketResponse, process: Process, window: Any, feed: Any) -> None:
    """Client frames -> the instance's input (bytes) or terminal size (JSON), in order; the
    client closing ends the session (the output side is told through the closed feed)."""
    try:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY and process.alive:
                process.write(msg.data)
            elif msg.type == WSMsgType.TEXT:
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    columns, rows = json.loads(msg.data)["resize"]
                    if process.template.tty and 0 < int(columns) < 10000 and 0 < int(rows) < 10000:
                        window.resize_one(process.id, (int(columns), int(rows)))
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
    finally:
        feed.close()


def routes() -> list[web.RouteDef]:
    return [web.get("/attach/{id}", attach)]
