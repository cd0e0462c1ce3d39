"""Templates: ``/processes`` and ``/processes/<name>[/_action]``.

Guarantees: a ``POST /processes`` body takes the defaults of a ``[process:NAME]`` section of
the daemon's ini for the fields it leaves out (:data:`API_DEFAULTS`: the OS environment,
``restart = always``, and stdout and stderr captured as ``stdout`` and ``stderr``, so the
output streams and ``/logs`` of a template added over the API have something to serve);
signals come from :data:`ALLOWED_SIGNALS`, by name or by number.
"""

from __future__ import annotations

import signal
from dataclasses import fields
from typing import Any

from aiohttp import web

from honcho_uv.errors import BadRequest, InvalidOption
from honcho_uv.http.context import ctx, require_exec, settle
from honcho_uv.http.wire import describe_instance, describe_template, instance_name, ok, read_json, template_name
from honcho_uv.models import ProcessTemplate, parse_signal

__all__ = ["ALLOWED_SIGNALS", "API_DEFAULTS", "checked_signal", "routes"]

#: Signals a client may send (s6-svc style): no arbitrary numbers.
ALLOWED_SIGNALS = frozenset(
    getattr(signal, f"SIG{n}") for n in ("TERM", "INT", "HUP", "USR1", "USR2", "QUIT", "KILL", "CONT", "STOP", "WINCH")
)
_TEMPLATE_FIELDS = frozenset(f.name for f in fields(ProcessTemplate))
#: What ``POST /processes`` assumes for a field the body leaves out, where it differs from
#: :class:`ProcessTemplate` (the embedding API discards output nobody asked for).
API_DEFAULTS: dict[str, Any] = {"redirect_output": ["stdout", "stderr"]}


def checked_signal(body: dict[str, Any]) -> int:
    """The signal of ``{"signal": ...}``: a name (``"USR1"``, ``"SIGUSR1"``, ``"usr1"``) or a
    number (``10``, ``"10"``), which must be in :data:`ALLOWED_SIGNALS`; else BadRequest."""
    value = body.get("signal")
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise BadRequest('expected {"signal": "USR1"}')
    allowed = " ".join(sorted(s.name[3:] for s in ALLOWED_SIGNALS))
    try:
        sig = parse_signal(value)
    except InvalidOption as exc:
        raise BadRequest(f"{exc} (allowed: {allowed})") from None
    if sig not in ALLOWED_SIGNALS:
        raise BadRequest(f"signal {sig.name} is not allowed (allowed: {allowed})")
    return int(sig)


async def list_processes(request: web.Request) -> web.Response:
    manager = ctx(request).manager
    return web.json_response({"processes": [describe_template(manager, sup) for sup in manager.jobs()]})


async def add_process(request: web.Request) -> web.Response:
    require_exec(request)
    body = await read_json(request, required=True)
    start = body.pop("start", True)
    if not isinstance(start, bool):
        raise InvalidOption("start", "must be true or false")
    try:
        template = ProcessTemplate.from_dict({**API_DEFAULTS, **body})
    except TypeError as exc:  # a field of the wrong shape that the dataclass itself rejects
        raise BadRequest(f"invalid template: {exc}") from None
    task = ctx(request).manager.add_template(template, start=start)
    await settle(request, task)
    return ok(201, name=template.name)


async def get_process(request: web.Request) -> web.Response:
    manager = ctx(request).manager
    return web.json_response(describe_template(manager, manager.supervisor(template_name(request))))


async def update_process(request: web.Request) -> web.Response:
    require_exec(request)
    name = template_name(request)
    body = await read_json(request, required=True)
    if body.pop("name", name) != name:
        raise BadRequest("the name in the body must match the URL")
    body.pop("start", None)
    unknown = set(body) - _TEMPLATE_FIELDS
    if unknown:
        raise InvalidOption(sorted(unknown)[0], "unknown template field")
    task = ctx(request).manager.update_process(name, **body)
    await settle(request, task)
    return ok(name=name)


async def remove_process(request: web.Request) -> web.Response:
    name = template_name(request)
    await settle(request, ctx(request).manager.remove_process(name))
    return ok(name=name)


async def start_process(request: web.Request) -> web.Response:
    name = instance_name(request)  # web, or web.2 (an instance stopped alone)
    await read_json(request)
    await settle(request, ctx(request).manager.start_process(name))
    return ok(name=name)


async def stop_process(request: web.Request) -> web.Response:
    name = instance_name(request)
    await read_json(request)
    await settle(request, ctx(request).manager.stop_process(name))
    return ok(name=name)


async def restart_process(request: web.Request) -> web.Response:
    name = instance_name(request)
    await read_json(request)
    await settle(request, ctx(request).manager.restart_process(name))
    return ok(name=name)


async def scale_process(request: web.Request) -> web.Response:
    name = template_name(request)
    body = await read_json(request, required=True)
    n = body.get("n", body.get("scale"))
    if not isinstance(n, (int, str)) or isinstance(n, bool):
        raise BadRequest('expected {"n": 3} or {"n": "+1"}')
    count = ctx(request).manager.scale(name, n)  # InvalidOption (400) past MAX_NUMPROCESSES
    return ok(name=name, numprocesses=count)


async def signal_process(request: web.Request) -> web.Response:
    name = instance_name(request)
    sig = checked_signal(await read_json(request, required=True))
    count = ctx(request).manager.send_signal(name, sig)
    return ok(name=name, signal=signal.Signals(sig).name, signalled=count)


async def process_pids(request: web.Request) -> web.Response:
    name = template_name(request)
    sup = ctx(request).manager.supervisor(name)
    alive = sup.alive()
    return web.json_response({"name": name, "pids": [p.id for p in alive],
                              "processes": [describe_instance(p, sup) for p in alive]})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/processes", list_processes),
        web.post("/processes", add_process),
        web.get("/processes/{name}", get_process),
        web.put("/processes/{name}", update_process),
        web.delete("/processes/{name}", remove_process),
        web.post("/processes/{name}/_start", start_process),
        web.post("/processes/{name}/_stop", stop_process),
        web.post("/processes/{name}/_restart", restart_process),
        web.post("/processes/{name}/_scale", scale_process),
        web.post("/processes/{name}/_signal", signal_process),
        web.get("/processes/{name}/pids", process_pids),
    ]
