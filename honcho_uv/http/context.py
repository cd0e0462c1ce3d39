"""What every handler needs, stored on the aiohttp app under :data:`CTX`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from honcho_uv.console.logbuffer import LogBuffer
from honcho_uv.core.manager import Manager
from honcho_uv.errors import Forbidden
from honcho_uv.http.security import Policy, transport_of
from honcho_uv.http.streams import FeedRegistry

__all__ = ["CTX", "Context", "ctx", "require_exec", "settle"]


@dataclass
class Context:
    manager: Manager
    policy: Policy
    feeds: FeedRegistry
    logs: LogBuffer | None
    on_quit: Callable[[], Any] | None
    guard: Any = None  # the ConnectionGuard, once the server is set up
    ui_url: Callable[[], str | None] | None = None  # the dashboard's URL with its token, if one runs


CTX: web.AppKey[Context] = web.AppKey("hu_context", Context)


def ctx(request: web.Request) -> Context:
    return request.app[CTX]


def require_exec(request: web.Request) -> None:
    """Adding or editing a template runs an arbitrary command: owner's unix socket only,
    unless the server was started with ``allow_exec``."""
    if transport_of(request) != "unix" and not ctx(request).policy.allow_exec:
        raise Forbidden("adding or editing a process is refused over TCP (start the server with --allow-exec)")


async def settle(request: web.Request, task: asyncio.Task[Any] | None) -> None:
    """Wait for the Manager's *task* unless ``?wait=0``; a client hanging up does not cancel it."""
    if task is None or request.query.get("wait", "1").lower() in ("0", "false", "no"):
        return
    await asyncio.shield(task)
