"""Streams: ``/watch`` (events), ``/stats/<name>/stream``, ``/streams/<id>/<label>`` (output),
``POST /streams/<id>/stdin``, and ``/logs`` (the ring buffer, optionally followed).

Every subscription is made before the response starts and removed in ``finally``, so a
client that disconnects or a server that stops leaves no listener behind.
"""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web

from honcho_uv.console.logbuffer import SYSTEM, LogLine
from honcho_uv.errors import BadRequest, StateError, UnknownProcess
from honcho_uv.http.context import ctx
from honcho_uv.http.limits import read_body
from honcho_uv.http.streams import serve_feed
from honcho_uv.http.wire import MAX_BODY_BYTES, instance_name, int_id, ok, read_json, template_name
from honcho_uv.models.sizes import MAX_LOG_LINES

__all__ = ["routes"]

_TOPIC_PART = re.compile(r"\A[A-Za-z0-9_-]+\Z")


async def watch(request: web.Request) -> web.StreamResponse:
    topic = request.match_info.get("topic", "")
    parts = [p for p in topic.split("/") if p]
    if not all(_TOPIC_PART.match(p) for p in parts) or len(parts) > 4:
        raise BadRequest("a topic is up to 4 name segments, e.g. /watch/proc/web/exit")
    pattern = ".".join(parts) or "."
    context = ctx(request)
    feed = context.feeds.open(max_items=1000)

    def listener(evtype: str, msg: Any = None, *args: Any, **kwargs: Any) -> None:
        feed.put({**msg, "topic": evtype} if isinstance(msg, dict) else {"event": evtype, "topic": evtype})

    context.manager.events.subscribe(pattern, listener)
    try:
        return await serve_feed(request, feed, "event")
    finally:
        context.manager.events.unsubscribe(pattern, listener)
        context.feeds.discard(feed)


async def stats_stream(request: web.Request) -> web.StreamResponse:
    name = template_name(request)
    context = ctx(request)
    feed = context.feeds.open(max_items=1000)

    def listener(evtype: str, msg: dict[str, Any]) -> None:
        feed.put({**msg, "event": "stat"})

    context.manager.monitor(name, listener)  # UnknownProcess (404) before the response starts
    try:
        return await serve_feed(request, feed, "stat")
    finally:
        context.manager.unmonitor(name, listener)
        context.feeds.discard(feed)


async def output_stream(request: web.Request) -> web.StreamResponse:
    pid = int_id(request)
    label = request.match_info["label"]
    if label == "stdin":  # POST-only: a GET must not look like "no such stream"
        raise web.HTTPMethodNotAllowed("GET", ["POST"])
    context = ctx(request)
    process = context.manager.running.get(pid)
    if process is None:
        raise UnknownProcess(f"no running process with id {pid}")
    if label != "." and label not in process.template.redirect_output:
        raise UnknownProcess(f"{process.name} has no output stream {label[:40]!r}")
    feed = context.feeds.open()

    def on_output(label: str, msg: dict[str, Any]) -> None:
        feed.put(msg["data"])

    # The stream ends when the process's output has ended: told by the OutputBus directly,
    # not by an exit event a full event queue could drop.
    process.monitor_io(label, on_output, on_end=feed.close)
    try:
        return await serve_feed(request, feed, "output")
    finally:
        process.unmonitor_io(label, on_output)
        context.feeds.discard(feed)


async def write_stdin(request: web.Request) -> web.Response:
    pid = int_id(request)
    process = ctx(request).manager.running.get(pid)
    if process is None:
        raise UnknownProcess(f"no running process with id {pid}")
    if request.content_type == "application/json":
        body = await read_json(request, required=True)
        data = body.get("data")
        if not isinstance(data, str):
            raise BadRequest('expected {"data": "text to write"}')
        raw = data.encode()
    else:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=request.content_length)
        raw = await read_body(request)
    if not process.alive:
        raise StateError(f"{process.name} has exited")
    process.write(raw)
    return ok(id=pid, name=process.name, written=len(raw))


async def logs(request: web.Request) -> web.StreamResponse:
    context = ctx(request)
    name = None
    if "name" in request.match_info:
        name = instance_name(request)
        if name.partition(".")[0] not in context.manager.processes:
            raise UnknownProcess(f"no process named {name.partition('.')[0]!r}")
    try:
        count = int(request.query.get("lines", "100"))
    except ValueError:
        raise BadRequest("lines must be a whole number") from None
    count = max(0, min(count, MAX_LOG_LINES))
    since = None
    if "since" in request.query:
        try:
            since = time.time() - float(request.query["since"])
        except ValueError:
            raise BadRequest("since must be a number of seconds") from None
    if context.logs is None:
        raise StateError("this server keeps no log buffer")
    backlog = context.logs.tail(name, count, since)
    if request.query.get("follow", "0").lower() not in ("1", "true", "yes"):
        return web.json_response({"lines": [line.to_json() for line in backlog]})
    feed = context.feeds.open(max_items=max(4096, count + 1))
    for line in backlog:
        feed.put({**line.to_json(), "event": "log"})

    def on_line(line: LogLine) -> None:
        if name is None or line.name in (name, SYSTEM) or line.name.rsplit(".", 1)[0] == name:
            feed.put({**line.to_json(), "event": "log"})

    context.logs.follow(on_line)
    try:
        return await serve_feed(request, feed, "log")
    finally:
        context.logs.unfollow(on_line)
        context.feeds.discard(feed)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/watch", watch),
        web.get("/watch/{topic:.+}", watch),
        web.get("/stats/{name}/stream", stats_stream),
        web.post("/streams/{id}/stdin", write_stdin),
        web.get("/streams/{id}/{label}", output_stream),
        web.get("/logs", logs),
        web.get("/logs/{name}", logs),
    ]
