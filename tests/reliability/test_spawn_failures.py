"""Spawn failures and descriptor hygiene (T08): clear state and message, no crash, no fd leak."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from honcho_uv import FlappingInfo, Manager, ProcessState
from tests.kit.wait import steady, until

FAST_FLAP = FlappingInfo(attempts=2, window=5, retry_in=0.05, max_retry=1)


async def wait_state(manager: Manager, name: str, state: ProcessState, timeout: float = 10) -> None:
    await until(lambda: manager.get_process_status(name)["state"] == state.value, timeout, f"{name} {state.value}")


@pytest.mark.parametrize(
    "cmd,expect",
    [
        ("/nonexistent/bin/server", "No such file or directory"),  # missing executable
        (__file__, "Permission denied"),  # a file without the execute bit
        ("/tmp", "Permission denied"),  # a directory
    ],
)
async def test_spawn_failure_is_a_state_and_a_message(cmd, expect):
    events = []
    async with Manager() as manager:
        manager.subscribe("spawn_error", lambda e, msg: events.append(msg["error"]))
        manager.add_process("broken", cmd, flapping=FAST_FLAP)
        manager.add_process("healthy", "sleep 30")
        await wait_state(manager, "broken", ProcessState.FATAL)
        info = manager.get_process_info("broken")
        assert expect in info["spawn_error"] and "broken.1" in info["spawn_error"]
        assert manager.get_process_status("healthy")["running"] == 1  # others are unaffected
    assert events and all(expect in e for e in events)


async def test_bad_cwd_is_a_spawn_error():
    async with Manager() as manager:
        manager.add_process("web", "sleep 30", cwd="/nonexistent/dir", flapping=FAST_FLAP)
        await wait_state(manager, "web", ProcessState.FATAL)
        assert "working directory '/nonexistent/dir' does not exist" in manager.get_process_info("web")["spawn_error"]


def test_fd_exhaustion_is_a_spawn_error_not_a_crash():
    # In a child interpreter with RLIMIT_NOFILE lowered and every descriptor used up.
    code = textwrap.dedent("""
        import asyncio, os, resource
        from honcho_uv import FlappingInfo, Manager
        async def main():
            async with Manager() as manager:
                resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
                hog = []
                try:
                    while True:
                        hog.append(os.open("/dev/null", os.O_RDONLY))
                except OSError:
                    pass
                manager.add_process("web", "sleep 30", redirect_output=["out"],
                                    flapping=FlappingInfo(2, 5, 0.05, 1))
                for _ in range(200):
                    await asyncio.sleep(0.02)
                    info = manager.get_process_info("web")
                    if info["state"] == "FATAL":
                        break
                print(info["state"], info["spawn_error"])
                for fd in hog:
                    os.close(fd)
        asyncio.run(main())
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("FATAL") and "Too many open files" in result.stdout


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
async def test_no_fd_leak_across_1000_restarts():
    async with Manager() as manager:
        manager.add_process("web", "sleep 30", redirect_output=["out", "err"], graceful_timeout=1)
        await wait_state(manager, "web", ProcessState.RUNNING)
        baseline = await steady(lambda: len(os.listdir("/proc/self/fd")), what="the fd count after the first spawn")
        for _ in range(1000):
            await manager.restart_process("web")
        await wait_state(manager, "web", ProcessState.RUNNING)
        assert manager.get_process_status("web")["running"] == 1
        after = len(os.listdir("/proc/self/fd"))
        assert after <= baseline, (baseline, after)
