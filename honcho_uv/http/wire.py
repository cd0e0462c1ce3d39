"""The JSON wire format of the HTTP API: bodies in, objects and errors out. The only JSON views.

Guarantees:

* a request body is read only up to :data:`MAX_BODY_BYTES` (a larger ``Content-Length`` is
  refused with 413 before anything is read);
* malformed JSON, JSON nested deeper than :data:`MAX_JSON_DEPTH` and a body that is not an
  object all give :class:`BadRequest` (400), never a 500;
* every error body is ``{"error": code, "message": text}`` (:func:`error_body`);
* names from the URL are checked against the Procfile grammar before any lookup;
* the views of templates and instances (:func:`describe_template`, :func:`describe_instance`)
  are built here from the core's plain-data snapshots, and never include an environment.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from honcho_uv.errors import BadRequest, InvalidOption
from honcho_uv.http.limits import read_body
from honcho_uv.models import split_instance_name, validate_name

if TYPE_CHECKING:
    from honcho_uv.core.manager import Manager
    from honcho_uv.core.process import Process
    from honcho_uv.core.supervisor import Supervisor

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "describe_instance",
    "describe_template",
    "error_body",
    "instance_name",
    "int_id",
    "ok",
    "read_json",
    "template_name",
    "template_name_of",
]

MAX_BODY_BYTES = 1 << 20
MAX_JSON_DEPTH = 32


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}


def ok(status: int = 200, **extra: Any) -> web.Response:
    return web.json_response({"ok": True, **extra}, status=status)


def _depth_ok(value: Any, limit: int) -> bool:
    """Iterative depth check (no recursion: a hostile body cannot blow the stack here)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


async def read_json(request: web.Request, *, required: bool = False) -> dict[str, Any]:
    """The request body as a JSON object ({} for an empty body unless *required*).

    Raises:
        BadRequest: malformed, too deep, or not an object.
        web.HTTPRequestEntityTooLarge: over :data:`MAX_BODY_BYTES` (mapped to 413).
        web.HTTPRequestTimeout: the body did not arrive in time (408).
    """
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=request.content_length)
    raw = await read_body(request)  # aiohttp stops at client_max_size (413); late: 408
    if not raw.strip():
        if required:
            raise BadRequest("a JSON object body is required")
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("malformed JSON body") from None
    if not _depth_ok(data, MAX_JSON_DEPTH):
        raise BadRequest(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def template_name(request: web.Request) -> str:
    """``{name}`` from the URL, a plain type name (``web``)."""
    return template_name_of(request.match_info["name"])


def template_name_of(name: str) -> str:
    """*name* if it is a plain type name, else :class:`BadRequest`."""
    try:
        return validate_name(name.strip())
    except InvalidOption as exc:
        raise BadRequest(str(exc)) from None


def instance_name(request: web.Request) -> str:
    """``{name}`` from the URL, a type name with an optional ``.N`` (``web`` or ``web.2``)."""
    name = request.match_info["name"]
    try:
        split_instance_name(name)
    except InvalidOption as exc:
        raise BadRequest(str(exc)) from None
    return name


def int_id(request: web.Request, key: str = "id") -> int:
    """A Manager internal id from the URL (digits only, so ``web.1`` never reads as an id)."""
    text = request.match_info[key]
    if not text.isdigit() or len(text) > 18:
        raise BadRequest(f"invalid process id {text[:30]!r} (expected digits)")
    return int(text)


def describe_instance(process: Process, sup: Supervisor | None = None) -> dict[str, Any]:
    """An instance: its description (``id``, ``name``, ``os_pid``...; ``pid`` is the internal
    id), its state and its template's restart count."""
    info: dict[str, Any] = {"pid": process.id, **asdict(process.describe()), "ready": process.ready}
    if process.alive:
        info["state"] = "STOPPING" if process.requested_stop else "RUNNING"
    else:
        info["state"] = sup.state.value if sup is not None else "STOPPED"
    info["restarts"] = sup.restarts if sup is not None else 0
    return info


def describe_template(manager: Manager, sup: Supervisor) -> dict[str, Any]:
    """A template (env names only), its state and counts, and its instances."""
    data = manager.get_process_info(sup.name)
    data["ready_probe"] = data.pop("ready")  # the template's probe text; "ready" is the state
    data["ready"] = sup.ready_state()
    data["instances"] = [describe_instance(sup.instances[n], sup) for n in sorted(sup.instances)]
    data["os_pids"] = [p.os_pid for p in sup.alive()]
    return data
