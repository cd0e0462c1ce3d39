"""gafferd reloads on SIGHUP, one at a time (review bug 4), in-process with real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from honcho_uv.daemon.config import DaemonConfig
from honcho_uv.daemon.gafferd import Daemon, DaemonOptions
from tests.kit.procs import TREE
from tests.kit.wait import until


class CountingDaemon(Daemon):
    """Records how many reloads run at once, and what each applied."""

    def __init__(self, options: DaemonOptions):
        super().__init__(options)
        self.active = 0
        self.peak = 0
        self.applied: list[list[str]] = []

    async def apply(self, new: DaemonConfig) -> dict[str, list[str]]:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            return await super().apply(new)
        finally:
            self.active -= 1
            self.applied.append(sorted(new.processes))


def _ini(sock: Path, processes: dict[str, str], marker: str) -> str:
    text = f"[gaffer]\nbind = unix:{sock}\n"
    for name, args in processes.items():
        text += (f"[process:{name}]\ncmd = {sys.executable}\nargs = -u {TREE} {args}\nshell = false\n"
                 f"graceful_timeout = 0.5\nenv:HU_TEST_MARKER = {marker}\n")
    return text


async def test_regression_sighup_reloads_are_serialised(marker, sock_dir) -> None:
    # Review bug 4: each SIGHUP replaced Daemon._reloading with a new task, so reloads ran
    # concurrently on the same configuration and the earlier tasks lost their owner.
    sock, ini, ready = sock_dir / "d.sock", sock_dir / "gafferd.ini", sock_dir / "ready"
    ini.write_text(_ini(sock, {"a": f"--ignore TERM --ready {ready}"}, marker))
    daemon = CountingDaemon(DaemonOptions(config=str(ini), pidfile=str(sock_dir / "d.pid")))

    serving = asyncio.get_running_loop().create_task(daemon.run())
    await until(lambda: ready.exists(), 10)  # a ignores SIGTERM from now on
    # v2 changes a: its restart waits 0.5 s for the TERM-ignoring process (the reload is slow).
    ini.write_text(_ini(sock, {"a": "--ignore TERM --depth 0"}, marker))
    os.kill(os.getpid(), signal.SIGHUP)
    await until(lambda: daemon.active == 1, 5)
    ini.write_text(_ini(sock, {"a": "--ignore TERM --depth 0", "b": ""}, marker))
    os.kill(os.getpid(), signal.SIGHUP)
    os.kill(os.getpid(), signal.SIGHUP)
    manager = daemon.manager
    assert manager is not None
    await until(lambda: "b" in manager.processes and manager.list("b") and daemon.active == 0, 10)
    manager.stop()
    assert await serving == 0
    assert daemon.peak == 1
    assert daemon.applied == [["a"], ["a", "b"]]  # the third SIGHUP joined the second


async def test_daemon_state_file_follows_spawns_and_exits_without_events(marker, sock_dir) -> None:
    # Review bug 7: the state file was written from spawn/exit *events*, which a full queue
    # drops; after a crash, a process missing from it would never be cleaned up.
    sock, ini = sock_dir / "d.sock", sock_dir / "gafferd.ini"
    ini.write_text(_ini(sock, {"a": "", "b": "--exit-after 0.3"}, marker).replace(
        "[process:b]", "[process:b]\nrestart = never"))
    daemon = Daemon(DaemonOptions(config=str(ini), pidfile=str(sock_dir / "d.pid")))

    def recorded() -> set[str]:
        return {r.name for r in daemon.state.read()[1]}

    serving = asyncio.get_running_loop().create_task(daemon.run())
    await until(lambda: daemon.manager is not None, 10)
    assert daemon.manager is not None
    daemon.manager.events.close()  # every event dropped from here on
    await until(lambda: recorded() == {"a.1", "b.1"}, 10)
    await until(lambda: recorded() == {"a.1"}, 10)  # b exited
    daemon.manager.stop()
    assert await serving == 0
