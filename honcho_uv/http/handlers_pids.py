"""Instances (``/pids``), stats snapshots, and the small routes: ping, version, quit."""

from __future__ import annotations

import asyncio

from aiohttp import web

from honcho_uv._version import __version__
from honcho_uv.core.process import Process
from honcho_uv.core.supervisor import Supervisor
from honcho_uv.errors import BadRequest, Forbidden, NotFound, UnknownProcess
from honcho_uv.http.context import ctx, settle
from honcho_uv.http.handlers_processes import checked_signal
from honcho_uv.http.security import transport_of
from honcho_uv.http.wire import describe_instance, int_id, ok, read_json, template_name, template_name_of

__all__ = ["routes"]


def _process(request: web.Request) -> Process:
    pid = int_id(request)
    process = ctx(request).manager.running.get(pid)
    if process is None:
        raise UnknownProcess(f"no running process with id {pid}")
    return process


def _supervisor_of(request: web.Request, process: Process) -> Supervisor:
    return ctx(request).manager.supervisor(process.template.name)


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def version(request: web.Request) -> web.Response:
    return web.json_response({"name": "honcho_uv", "version": __version__})


async def list_pids(request: web.Request) -> web.Response:
    manager = ctx(request).manager
    return web.json_response({"pids": [describe_instance(p, manager.supervisor(p.template.name))
                                       for p in manager.list()]})


async def get_pid(request: web.Request) -> web.Response:
    process = _process(request)
    info = describe_instance(process, _supervisor_of(request, process))
    info["stats"] = process.stats()
    return web.json_response(info)


async def stop_pid(request: web.Request) -> web.Response:
    process = _process(request)
    await settle(request, ctx(request).manager.stop_process(process.id))
    return ok(id=process.id, name=process.name)


async def signal_pid(request: web.Request) -> web.Response:
    process = _process(request)
    sig = checked_signal(await read_json(request, required=True))
    ctx(request).manager.send_signal(process.id, sig)
    return ok(id=process.id, name=process.name)


async def all_stats(request: web.Request) -> web.Response:
    manager = ctx(request).manager
    return web.json_response({"stats": [manager.stats(name) for name in manager.processes]})


async def name_stats(request: web.Request) -> web.Response:
    return web.json_response(ctx(request).manager.stats(template_name(request)))


MAX_WAIT_S = 3600.0


async def wait_ready(request: web.Request) -> web.Response:
    """``GET /wait?names=web,db&timeout=60``: answers once the named templates (default all)
    are ready, one failed, or the timeout passed (``hu wait``). Response ``{"ready": [...],
    "waiting": [...], "failed": {"db": "db.1 exited with code 1 before it was ready"}}``.
    Errors: 400 bad_request (timeout), 404 unknown_process."""
    names = [template_name_of(n) for n in request.query.get("names", "").split(",") if n.strip()]
    try:
        timeout = float(request.query.get("timeout", "60"))
    except ValueError:
        raise BadRequest("timeout must be a number of seconds") from None
    if not 0 <= timeout <= MAX_WAIT_S:
        raise BadRequest(f"timeout must be between 0 and {MAX_WAIT_S:g} seconds")
    result = await ctx(request).manager.wait_ready(names, timeout)
    return web.json_response({"ready": result.ready, "waiting": result.waiting, "failed": result.failed})


async def ui(request: web.Request) -> web.Response:
    """``GET /ui``: ``{"url": "http://127.0.0.1:PORT/?token=..."}``, the dashboard's URL
    (``hu ui``). The token controls every process, so it is given only to the owner: over the
    unix socket (peer uid checked), never over TCP. Errors: 403 forbidden (TCP), 404
    not_found (no dashboard: hu runs without --ui)."""
    if transport_of(request) != "unix":
        raise Forbidden("the dashboard's URL is given only over the owner's unix socket")
    source = ctx(request).ui_url
    url = source() if source is not None else None
    if url is None:
        raise NotFound("this hu serves no dashboard: start it with --ui PORT")
    return web.json_response({"url": url})


async def quit_(request: web.Request) -> web.Response:
    await read_json(request)
    context = ctx(request)
    # After this response is written: the stop closes the listeners.
    callback = context.on_quit or context.manager.stop
    asyncio.get_running_loop().call_soon(callback)
    return ok(202)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ping", ping),
        web.get("/version", version),
        web.get("/pids", list_pids),
        web.get("/pids/{id}", get_pid),
        web.delete("/pids/{id}", stop_pid),
        web.post("/pids/{id}/_signal", signal_pid),
        web.get("/stats", all_stats),
        web.get("/stats/{name}", name_stats),
        web.get("/wait", wait_ready),
        web.get("/ui", ui),
        web.post("/_quit", quit_),
    ]
