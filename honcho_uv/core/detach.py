"""Launching a process that is not monitored (``ProcessTemplate.detach``).

A helper in a new session forks the command and exits at once, reporting the command's pid
on a pipe of ours. The forked command closes every fd above 2 before exec: uvloop's libuv
leaks a non-CLOEXEC copy of a child's stdio fds, and a detached process holding our pipe kept
the read of the pid from ever ending (a shell could not close a descriptor whose number it
does not know). The helper's session is the detached one: a Manager stop must not take the
detached process for an adopted orphan and kill it, so the caller records it (``on_session``)
as soon as it exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from honcho_uv.core.spawn import privdrop_argv

if TYPE_CHECKING:
    from honcho_uv.core.context import SupervisorContext
    from honcho_uv.core.reaper import Reaper
    from honcho_uv.models import ProcessTemplate

__all__ = ["launch_detached", "spawn_detached"]

DETACH_HELPER = """
import os, sys
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, 1 << 16)
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
print(pid, flush=True)
"""


async def spawn_detached(argv: list[str], env: Mapping[str, str], cwd: str | None, reaper: Reaper | None,
                         on_session: Callable[[int], object]) -> int | None:
    """Start *argv* detached; return its pid (None if the helper could not tell).

    Raises:
        OSError: the helper could not be started.
    """
    loop = asyncio.get_running_loop()
    helper = None
    r, w = os.pipe()
    try:
        try:
            with reaper.spawning() if reaper else contextlib.nullcontext():
                helper = await asyncio.create_subprocess_exec(
                    sys.executable, "-I", "-c", DETACH_HELPER, *argv, stdin=asyncio.subprocess.DEVNULL,
                    stdout=w, stderr=asyncio.subprocess.DEVNULL, env=dict(env), cwd=cwd, start_new_session=True,
                )
                if reaper:
                    reaper.register(helper.pid)
        finally:
            os.close(w)
        on_session(helper.pid)
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), open(r, "rb", buffering=0)  # noqa: ASYNC230 - a pipe fd
        )
        r = -1  # owned by the transport
        try:
            out = await reader.read()
        finally:
            transport.close()
        await helper.wait()
    finally:
        if r >= 0:
            os.close(r)
        if reaper and helper is not None:
            reaper.unregister(helper.pid)
    words = out.split()
    return int(words[0]) if words else None


async def launch_detached(ctx: SupervisorContext, template: ProcessTemplate, number: int,
                          env: Mapping[str, str]) -> None:
    """Launch instance *number* of a ``detach`` template and publish its spawn (or the error);
    its session is recorded so a Manager stop never takes it for an adopted orphan."""
    argv = privdrop_argv(template.argv(), template.uid, template.gid)
    try:
        os_pid = await spawn_detached(argv, env, template.cwd, ctx.reaper, on_session=ctx.detached_sessions.add)
    except OSError as exc:
        ctx.publish("spawn_error", template.name, error=str(exc))
        return
    ctx.publish("spawn", template.name, os_pid=os_pid, detached=True, instance=f"{template.name}.{number}")
