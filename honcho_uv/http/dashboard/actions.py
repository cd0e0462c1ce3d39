"""The dashboard's routes: the page, its static files, the websocket, the table as JSON, and
the actions (POST only; the gate has checked the cookie and the Origin before any of these).

Actions, each ``POST /api/ACTION`` with a JSON body ``{"name": ...}``:

``restart``   an instance (``web.1``) or every instance of a type (``web``)
``stop``      the same; a stopped instance's number is held until its type is started
``start``     a type: its missing and held instances are spawned
``scale``     a type, ``{"name": "web", "by": 1}`` or ``{"by": -1}``

Each answers ``{"ok": true, "name": ..., "message": ...}`` once the Manager has done it
(:data:`ACTION_WAIT_S` at most; the action goes on after that), or a JSON error as the API's:
404 for an unknown name, 400 for a bad body, 415 unless the body is JSON.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from honcho_uv.errors import BadRequest
from honcho_uv.http.dashboard.session import HEARTBEAT_S, Page
from honcho_uv.http.dashboard.state import Hub
from honcho_uv.http.wire import read_json
from honcho_uv.models import split_instance_name

__all__ = ["DASH", "STATIC", "DashContext", "routes"]

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ACTION_WAIT_S = 30.0
#: The files of the page: name -> content type. Nothing else is served.
STATIC = {
    "index.html": "text/html",
    "dashboard.css": "text/css",
    "app.js": "text/javascript",
    "table.js": "text/javascript",
    "spark.js": "text/javascript",
    "logs.js": "text/javascript",
    "format.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}


class DashContext:
    """What the handlers share: the Manager, the hub, the log buffer and the open pages."""

    def __init__(self, manager: Any, hub: Hub, logs: Any):
        self.manager, self.hub, self.logs = manager, hub, logs
        self.pages: set[Page] = set()
        self.closing = False


DASH: web.AppKey[DashContext] = web.AppKey("hu_dashboard", DashContext)


def _static(name: str) -> bytes:
    return resources.files("honcho_uv.http.dashboard").joinpath("static", name).read_bytes()


async def index(request: web.Request) -> web.Response:
    return web.Response(body=_static("index.html"), content_type="text/html", charset="utf-8")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    kind = STATIC.get(name)
    if kind is None or name == "index.html":
        raise web.HTTPNotFound(text="no such file")
    return web.Response(body=_static(name), content_type=kind, charset="utf-8" if kind.startswith("text") else None)


async def favicon(request: web.Request) -> web.Response:
    return web.Response(body=_static("favicon.svg"), content_type="image/svg+xml")


async def state(request: web.Request) -> web.Response:
    rows, types = request.app[DASH].hub.table()
    return web.json_response({"rows": rows, "types": types})


async def websocket(request: web.Request) -> web.StreamResponse:
    context = request.app[DASH]
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=4096)
    if not ws.can_prepare(request).ok:
        raise BadRequest("this address is the dashboard's websocket: connect with Upgrade: websocket")
    await ws.prepare(request)
    page = Page(context.hub, context.logs, ws)
    if context.closing:
        page.close()
    context.pages.add(page)
    try:
        await page.run()
    finally:
        context.pages.discard(page)
    return ws


def _name(body: dict[str, Any], *, plain: bool) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest('expected {"name": "web"} or {"name": "web.1"}')
    kind, number = split_instance_name(name)
    if plain and number is not None:
        raise BadRequest(f"{name}: give a process type (such as {kind}), not an instance")
    return name


async def action(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send Content-Type: application/json")
    context = request.app[DASH]
    manager = context.manager
    verb = request.match_info["action"]
    body = await read_json(request, required=True)
    task: asyncio.Task[Any] | None
    if verb == "restart":
        name = _name(body, plain=False)
        task, message = manager.restart_process(name), f"{name} restarted"
    elif verb == "stop":
        name = _name(body, plain=False)
        task, message = manager.stop_process(name), f"{name} stopped"
    elif verb == "start":
        name = _name(body, plain=True)
        task, message = manager.start_process(name), f"{name} started"
    elif verb == "scale":
        name = _name(body, plain=True)
        by = body.get("by")
        if not isinstance(by, int) or isinstance(by, bool) or by == 0:
            raise BadRequest('expected {"name": "web", "by": 1} or {"by": -1}')
        count = manager.scale(name, f"{by:+d}")
        task, message = None, f"{name} scaled to {count}"
    else:
        raise web.HTTPNotFound(text=f"no action {verb[:40]!r}: restart, stop, start or scale")
    context.hub.poke()
    if task is not None:
        done, _ = await asyncio.wait([asyncio.shield(task)], timeout=ACTION_WAIT_S)
        if not done:
            message += f" (still in progress after {ACTION_WAIT_S:g} s)"
    context.hub.poke()
    return web.json_response({"ok": True, "name": name, "message": message})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/", index),
        web.get("/favicon.ico", favicon),
        web.get("/static/{name}", static),
        web.get("/ws", websocket),
        web.get("/api/state", state),
        web.post("/api/{action}", action),
    ]

