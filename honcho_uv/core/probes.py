"""Running a probe against an instance, once (the grammar is :mod:`honcho_uv.models.probes`).

Nothing here blocks the loop: connections are asyncio streams, an ``exec:`` command runs
through the Manager's spawner (so the reaper knows it) and is killed with its process group
at :data:`EXEC_TIMEOUT_S`, and the ``/proc`` reads of the own-listener check are a few small
files. DESIGN.md "Probes":

* ``tcp`` on the default host and port passes only when the listening socket belongs to the
  instance's own process tree, so a stranger on the port never makes it ready; an explicit
  ``tcp:HOST:PORT`` needs only a connection;
* ``http`` sends one ``GET`` with ``Connection: close`` and reads the status line: 2xx or
  3xx within :data:`HTTP_TIMEOUT_S` passes (aiohttp stays out of ``core/``);
* ``exec`` passes when the command, with the instance's env and cwd, exits 0 in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from typing import TYPE_CHECKING

from honcho_uv.core.procfs import listening_inodes, owns_socket
from honcho_uv.models.probes import Probe

if TYPE_CHECKING:
    from honcho_uv.core.process import Process
    from honcho_uv.core.reaper import Reaper
    from honcho_uv.core.spawn import Spawner

__all__ = ["CONNECT_TIMEOUT_S", "EXEC_TIMEOUT_S", "HTTP_TIMEOUT_S", "ProbeError", "check"]

CONNECT_TIMEOUT_S = 1.0
HTTP_TIMEOUT_S = 1.0
EXEC_TIMEOUT_S = 5.0
DEFAULT_HOST = "127.0.0.1"


class ProbeError(Exception):
    """A probe cannot run at all for this instance (no $PORT for a port probe)."""


def address(probe: Probe, process: Process) -> tuple[str, int]:
    """The host and port a tcp or http probe targets for *process*.

    Raises:
        ProbeError: no port given and the instance has no usable ``$PORT``.
    """
    host = probe.host or DEFAULT_HOST
    if probe.port is not None:
        return host, probe.port
    text = process.env.get("PORT", "")
    if not text.isdigit():
        raise ProbeError(f"{probe} needs $PORT, and {process.name} has none (give tcp:PORT or a port base)")
    return host, int(text)


async def check(probe: Probe, process: Process, *, spawner: Spawner, reaper: Reaper | None) -> bool:
    """Run *probe* once against *process*: True if it passes now.

    Raises:
        ProbeError: the probe cannot apply to this instance (a configuration problem).
    """
    if probe.kind == "tcp":
        return await _tcp(probe, process)
    if probe.kind == "http":
        return await _http(probe, process)
    if probe.kind == "exec":
        assert probe.command is not None, "an exec probe has a command"
        return await run_exec(probe.command, process, spawner=spawner, reaper=reaper)
    raise ProbeError(f"{probe} is not a probe that can be polled")


async def _connect(host: str, port: int, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return None


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _tcp(probe: Probe, process: Process) -> bool:
    host, port = address(probe, process)
    connection = await _connect(host, port, CONNECT_TIMEOUT_S)
    if connection is None:
        return False
    await _close(connection[1])
    if not probe.own_port:
        return True
    # A stranger on the port must never make the instance ready: the listener must be ours.
    return owns_socket(process.tree_pids(), listening_inodes(port))


async def _http(probe: Probe, process: Process) -> bool:
    host, port = address(probe, process)
    try:
        async with asyncio.timeout(HTTP_TIMEOUT_S):
            connection = await _connect(host, port, HTTP_TIMEOUT_S)
            if connection is None:
                return False
            reader, writer = connection
            try:
                head = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
                writer.write(f"GET {probe.path} HTTP/1.1\r\nHost: {head}\r\nConnection: close\r\n"
                             f"User-Agent: hu-probe\r\n\r\n".encode())
                await writer.drain()
                status_line = await reader.readline()
            finally:
                await _close(writer)
    except (OSError, TimeoutError):
        return False
    parts = status_line.split()
    return len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1][:1] in (b"2", b"3")


async def run_exec(command: str, process: Process, *, spawner: Spawner, reaper: Reaper | None,
                   timeout: float = EXEC_TIMEOUT_S) -> bool:
    """Run ``/bin/sh -c COMMAND`` with *process*'s env and cwd; True if it exits 0 in time.

    After return nothing it started runs: at the timeout its process group is SIGKILLed and
    its exit awaited.
    """
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[int] = loop.create_future()

    def on_exit(returncode: int) -> None:
        if not exited.done():
            exited.set_result(returncode)

    try:
        with reaper.spawning() if reaper else contextlib.nullcontext():
            child = await spawner.spawn(
                ["/bin/sh", "-c", command], env=process.env, cwd=process.template.cwd, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=process.template.uid,
                group=process.template.gid, on_exit=on_exit)
            if reaper:
                reaper.register(child.pid)
    except OSError:
        return False
    try:
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(exited) == 0
        except TimeoutError:
            child.signal_group(signal.SIGKILL)
            await exited
            return False
        except asyncio.CancelledError:
            child.signal_group(signal.SIGKILL)
            await asyncio.shield(exited)
            raise
    finally:
        if reaper:
            reaper.unregister(child.pid)
