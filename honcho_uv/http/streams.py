"""Long-lived responses: one bounded feed per subscriber, negotiated as websocket, SSE or raw.

Guarantees:

* each subscriber has its own :class:`~honcho_uv.core.feed.Feed` (bounded, drop-oldest, a
  producer side that never blocks), so a slow HTTP client can never slow the console, the
  Manager or another client, and a subscriber that keeps up loses nothing;
* what a feed dropped is reported in-band (a ``dropped`` event on websocket and SSE; raw
  byte streams have no side channel and the count is only logged);
* every response ends when the client goes away, when the feed closes (the subject is gone)
  or when the server stops (:meth:`FeedRegistry.close_all`).

Negotiation: ``Upgrade: websocket`` -> websocket (bytes as binary messages, JSON as text);
``Accept: text/event-stream`` or ``?feed=eventsource`` -> Server-Sent Events; otherwise a
chunked body (raw bytes for output, newline-delimited JSON for events and stats).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from honcho_uv.core.feed import Feed

__all__ = ["Feed", "FeedRegistry", "serve_feed"]

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
#: After each write a stream waits this long before the next, so a chatty source is written
#: to each subscriber in batches (at most 50 writes a second) instead of one write, one task
#: wake-up and one syscall per pipe read per subscriber: with 50 subscribers of a process
#: writing 200 times a second that work took the console's share of the GIL. A line that
#: follows a quiet spell is still written at once.
COALESCE_S = 0.02


class FeedRegistry:
    """The open feeds of one HttpHandler, so stopping the server ends every stream."""

    def __init__(self) -> None:
        self._feeds: set[Feed] = set()
        self.closing = False

    def open(self, **kwargs: Any) -> Feed:
        feed = Feed(**kwargs)
        if self.closing:
            feed.close()
        self._feeds.add(feed)
        return feed

    def discard(self, feed: Feed) -> None:
        feed.close()
        self._feeds.discard(feed)

    def close_all(self) -> None:
        self.closing = True
        for feed in list(self._feeds):
            feed.close()

    def __len__(self) -> int:
        return len(self._feeds)


def wants_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def wants_sse(request: web.Request) -> bool:
    return request.query.get("feed") == "eventsource" or "text/event-stream" in request.headers.get("Accept", "")


def _sse_event(item: Any, kind: str) -> str:
    if isinstance(item, bytes):
        text = item.decode("utf-8", errors="replace")
        if text.endswith("\n"):
            text = text[:-1]
        data = "\n".join(f"data: {line}" for line in text.split("\n"))
        return f"event: {kind}\n{data}\n\n"
    name = str(item.get("event", kind)) if isinstance(item, dict) else kind
    return f"event: {name}\ndata: {json.dumps(item, default=str)}\n\n"


async def _serve_ws(request: web.Request, feed: Feed) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S)
    await ws.prepare(request)

    async def reader() -> None:
        # Incoming frames are ignored; reading them is what notices a close from the client.
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        feed.close()

    reading = asyncio.ensure_future(reader())
    reported = 0
    try:
        while not ws.closed:
            try:
                items = await feed.batch(HEARTBEAT_S)
            except EOFError:
                break
            if feed.dropped != reported:
                reported = feed.dropped
                await ws.send_json({"event": "dropped", "dropped": reported})
            for item in items:
                if isinstance(item, bytes):
                    await ws.send_bytes(item)
                else:
                    await ws.send_str(json.dumps(item, default=str))
            await asyncio.sleep(COALESCE_S)
    except (ConnectionError, RuntimeError):
        pass
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reading
        with contextlib.suppress(Exception):
            await ws.close()
    return ws


async def _serve_http(request: web.Request, feed: Feed, kind: str, sse: bool) -> web.StreamResponse:
    content_type = "text/event-stream" if sse else ("application/octet-stream" if kind == "output"
                                                      else "application/x-ndjson")
    response = web.StreamResponse(headers={"Content-Type": content_type, "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    reported = 0
    with contextlib.suppress(ConnectionError, RuntimeError):
        while True:
            try:
                items = await feed.batch(HEARTBEAT_S)
            except EOFError:
                break
            if not items:
                # A heartbeat notices a client that went away; raw output has no room for one.
                if sse or kind != "output":
                    await response.write(b": keepalive\n\n" if sse else b"\n")
                continue
            if sse:
                parts = []
                if feed.dropped != reported:
                    reported = feed.dropped
                    parts.append(f"event: dropped\ndata: {json.dumps({'dropped': reported})}\n\n")
                parts.extend(_sse_event(item, kind) for item in items)
                await response.write("".join(parts).encode())
            elif kind == "output":
                await response.write(b"".join(items))
            else:
                await response.write("".join(json.dumps(i, default=str) + "\n" for i in items).encode())
            await asyncio.sleep(COALESCE_S)
        with contextlib.suppress(Exception):
            await response.write_eof()
    if feed.dropped and not sse:
        log.info("%s %s: %d items dropped for a slow client", request.method, request.path, feed.dropped)
    return response


async def serve_feed(request: web.Request, feed: Feed, kind: str) -> web.StreamResponse:
    """Stream *feed* to the client in the negotiated form. *kind* is ``"output"`` (bytes) or
    the SSE event name for JSON items without an ``event`` key."""
    if wants_websocket(request):
        return await _serve_ws(request, feed)
    return await _serve_http(request, feed, kind, wants_sse(request))
