"""Both real spawners, and the regressions of the spawn seam (review bugs 5, 6, 7; issue 14)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import psutil
import pytest

from honcho_uv import InvalidOption, Manager
from honcho_uv.core.spawn import LoopSpawner, PopenSpawner
from tests.kit.procs import tree
from tests.kit.wait import until

SPAWNERS = {"popen": PopenSpawner, "loop": LoopSpawner}


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_regression_a_spawned_child_costs_no_descriptor_but_its_pipe(env) -> None:
    # Issue 14: a pidfd per child doubled hu's file table, which every later vfork copies:
    # spawning 5,000 took 2.1x the bare loop. The reaper's one waitid thread needs none.
    async with Manager(spawner=PopenSpawner(), subreaper=False) as m:
        before = _open_fds()
        m.add_process("s", "sleep", args=["60"], env=env, numprocesses=40)
        await until(lambda: len(m.list("s")) == 40, 10)
        assert _open_fds() - before <= 40 + 4  # the output pipe of each, and slack for the loop


async def test_an_exit_behind_someone_elses_zombie_is_still_reported(env) -> None:
    # waitid(P_ALL) keeps returning the oldest zombie. One the embedding program has not
    # reaped yet must neither be reaped by hu nor hide hu's own children's exits.
    foreign = subprocess.Popen(["true"])  # noqa: ASYNC220 - the zombie under test
    try:
        await until(lambda: psutil.Process(foreign.pid).status() == psutil.STATUS_ZOMBIE, 5)
        async with Manager(spawner=PopenSpawner(), subreaper=False) as m:
            exits: list[dict[str, Any]] = []
            m.subscribe("exit", lambda e, msg: exits.append(msg))
            m.add_process("w", "sh", args=["-c", "exit 3"], env=env, restart="never")
            await until(lambda: exits, 5)
            assert exits[0]["exit_status"] == 3
        assert psutil.Process(foreign.pid).status() == psutil.STATUS_ZOMBIE  # still its owner's
    finally:
        assert foreign.wait(5) == 0


def test_a_child_whose_loop_has_closed_is_reaped_all_the_same(env) -> None:
    # The thread hands exits to the child's loop; once that loop is closed nobody is left
    # to tell, and the zombie must not stay.
    async def spawn() -> int:
        child = await PopenSpawner().spawn(["sleep", "0.3"], env=env, cwd=None, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=None,
                                           group=None, on_exit=lambda code: None)
        return child.pid

    pid = asyncio.run(spawn())
    time.sleep(0.3)
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not psutil.pid_exists(pid)


@pytest.mark.parametrize("kind", sorted(SPAWNERS))
async def test_each_spawner_runs_output_exit_codes_stdin_and_stops(env, kind) -> None:
    async with Manager(spawner=SPAWNERS[kind](), subreaper=False) as m:
        got = bytearray()
        m.monitor_io(".", ".", lambda label, msg: got.extend(msg["data"]))
        exits: list[dict[str, Any]] = []
        m.subscribe("exit", lambda e, msg: exits.append(msg))
        code = ("import os, sys; line = sys.stdin.readline(); "
                "print('got', line.strip(), os.environ['PORT'], os.environ['PS'], flush=True); sys.exit(3)")
        m.add_process("echo", sys.executable, args=["-c", code], env=env, redirect_output=["out"],
                      redirect_input=True, restart="never", port=6000)
        await until(lambda: m.list("echo"), 5)
        m.get_process("echo.1").write("hello\n")
        await until(lambda: exits, 5)
        assert bytes(got) == b"got hello 6000 echo.1\n" and exits[0]["exit_status"] == 3
        m.add_process("sleeper", "sleep", args=["60"], env=env, graceful_timeout=2)
        await until(lambda: m.list("sleeper"), 5)
        os_pid = m.get_process("sleeper.1").os_pid
        await m.stop_process("sleeper")
        assert exits[-1]["term_signal"] == 15 and exits[-1]["requested"]
        assert not psutil.pid_exists(os_pid) or psutil.Process(os_pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("kind", sorted(SPAWNERS))
async def test_each_spawner_reports_a_missing_executable_as_a_spawn_error(env, kind) -> None:
    async with Manager(spawner=SPAWNERS[kind](), subreaper=False) as m:
        errors: list[dict[str, Any]] = []
        m.subscribe("spawn_error", lambda e, msg: errors.append(msg))
        m.add_process("w", "/nonexistent/program", env=env, restart="never")
        await until(lambda: errors, 5)
        assert "/nonexistent/program" in errors[0]["error"]
        assert m.get_process_status("w")["state"] == "EXITED"


@pytest.mark.parametrize("kind", sorted(SPAWNERS))
async def test_each_spawner_kills_a_child_that_ignores_the_stop_signal(env, marker, kind, tmp_path) -> None:
    ready = tmp_path / "ready"

    async with Manager(spawner=SPAWNERS[kind](), subreaper=False) as m:
        m.add_process("stubborn", sys.executable, args=tree("--ignore", "TERM", "--ready", str(ready))[1:],
                      env=env, graceful_timeout=0.3, redirect_output=["out"])
        await until(lambda: ready.exists(), 5)
        status = await m.get_process("stubborn.1").stop()
        assert status is not None and status.signal == 9


async def test_regression_stats_pid_is_the_internal_id_everywhere(env) -> None:
    # Review bug 5: "pid" in stats was the internal id in StatsWatcher and Manager.stats but
    # the OS pid in Process.stats(), so GET /pids/{id} mixed the two in one response.
    async with Manager() as m:
        m.add_process("t", sys.executable, args=tree("--depth", "1", "--width", "1")[1:], env=env)
        await until(lambda: m.list("t") and m.get_process("t.1").stats()["children"], 5)
        process = m.get_process("t.1")
        sample = process.stats()
        assert sample["pid"] == process.id and sample["os_pid"] == process.os_pid
        assert all("pid" not in c and c["os_pid"] != process.os_pid for c in sample["children"])
        assert m.stats("t")["stats"][0]["pid"] == process.id
        heard: list[dict[str, Any]] = []
        m.monitor("t", lambda e, msg: heard.append(msg))
        await until(lambda: heard, 5)
        assert heard[0]["pid"] == process.id and heard[0]["os_pid"] == process.os_pid


async def test_regression_monitor_reads_names_with_the_name_grammar(env) -> None:
    # Review bug 6: monitor() chose template or instance with str.isalnum (Unicode letters,
    # and digit strings sent to the template branch while _resolve sent them to ids).
    async with Manager() as m:
        m.add_process("12", "sleep", args=["60"], env=env, numprocesses=2)
        await until(lambda: len(m.list("12")) == 2, 5)
        by_type: list[str] = []
        by_instance: list[str] = []
        m.monitor("12", lambda e, msg: by_type.append(msg["name"]))
        m.monitor("12.2", lambda e, msg: by_instance.append(msg["name"]))
        await until(lambda: {"12.1", "12.2"} <= set(by_type) and by_instance, 5)
        assert set(by_instance) == {"12.2"}
        with pytest.raises(InvalidOption):
            m.monitor("wéb", lambda e, msg: None)


async def test_regression_stream_end_and_lifecycle_hooks_do_not_depend_on_events(env) -> None:
    # Review bug 7: the end of an output stream and the daemon's state file were driven by
    # "exit" events, which a full event queue drops. With no events at all, both still work.
    async with Manager() as m:
        m.events.close()  # from here on every event is dropped
        hooks: list[tuple[str, str]] = []
        m.bus.add_lifecycle_hook(lambda kind, p: hooks.append((kind, p.name)))
        ended = asyncio.get_running_loop().create_future()
        m.add_process("w", "sh", args=["-c", "read x; echo bye"], env=env, redirect_output=["out"],
                      redirect_input=True, restart="never")
        await until(lambda: m.list("w"), 5)
        m.get_process("w.1").monitor_io("out", lambda label, msg: None, on_end=lambda: ended.set_result(True))
        m.get_process("w.1").write("\n")
        assert await asyncio.wait_for(ended, 5)
        assert hooks == [("spawn", "w.1"), ("exit", "w.1")]


async def test_a_spawn_error_names_the_instance_and_the_program(env) -> None:
    async with Manager() as m:
        process_errors: list[str] = []
        m.subscribe("spawn_error", lambda e, msg: process_errors.append(msg["error"]))
        m.add_process("w", "app", cwd="/nonexistent-dir", env=env, restart="never")
        await until(lambda: process_errors, 5)
        assert process_errors == ["w.1: working directory '/nonexistent-dir' does not exist"]
