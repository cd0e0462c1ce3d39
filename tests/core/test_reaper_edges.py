"""The reaper's edges (an independent review of issue 14's one-thread watcher found them).

Each scenario runs in a fresh interpreter: what the reaper sees depends on every child of
the process, and the test runner has children of its own.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.linux_only

PRELUDE = """\
import asyncio, os, resource, signal, subprocess, sys, threading, time
from honcho_uv.core.spawn import PopenSpawner

async def spawn(argv, exits):
    child = await PopenSpawner().spawn(argv, env=dict(os.environ), cwd=None, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=None,
                                       group=None, on_exit=exits.append)
    return child.pid

async def reported(exits):
    for _ in range(100):  # 5 s at most
        if exits:
            return
        await asyncio.sleep(0.05)

def cpu():
    t = resource.getrusage(resource.RUSAGE_SELF)
    return t.ru_utime + t.ru_stime
"""


def run(script: str) -> str:
    result = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(script)], capture_output=True,
                            text=True, timeout=60, cwd=Path(__file__).parents[2])  # this worktree's honcho_uv
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_child_reaped_by_someone_else_is_reported_and_the_thread_sleeps_after() -> None:
    # It spun at 100 % CPU on ECHILD, and the exit was never reported: Process.stop hung.
    out = run("""
        async def main():
            exits = []
            pid = await spawn(["sleep", "0.2"], exits)
            os.waitpid(pid, 0)  # the embedding program's waitpid(-1) loop, say
            await reported(exits)
            before = cpu()
            await asyncio.sleep(0.5)
            print(exits, round(cpu() - before, 2) < 0.1)
        asyncio.run(main())
    """)
    assert out == "[-9] True"


def test_an_inherited_ignored_sigchld_does_not_swallow_exit_statuses() -> None:
    out = run("""
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # as a parent that ignores it would leave it
        async def main():
            exits = []
            await spawn(["sh", "-c", "exit 3"], exits)
            await reported(exits)
            print(exits, signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL)
        asyncio.run(main())
    """)
    assert out == "[3] True"


def test_a_stopped_loop_does_not_hold_up_another_loops_exits() -> None:
    # The thread waited on the stopped loop's queued drain, in 1 s ticks, forever.
    out = run("""
        stopped = asyncio.new_event_loop()
        other = []
        stopped.run_until_complete(spawn(["sleep", "0.1"], other))  # exits once its loop has stopped for good
        time.sleep(0.3)
        async def main():
            exits = []
            await spawn(["sh", "-c", "exit 4"], exits)
            await reported(exits)
            print(exits, other)
        asyncio.run(main())
    """)
    assert out == "[4] []"
