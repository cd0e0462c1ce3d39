"""Detached processes, stats sampling, spawn failures, output backpressure (issue 2)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from honcho_uv import FlappingInfo, Manager
from honcho_uv.core.stats import StatsSampler
from tests.kit.events import EventLog, Output
from tests.kit.procs import carriers, kill_carriers, tree
from tests.kit.wait import steady, until

STAT_KEYS = {"mem_info1", "mem_info2", "cpu", "mem", "ctime", "os_pid", "username", "nice", "cmdline", "children"}


def catch_loop_errors() -> list[dict[str, Any]]:
    """Collect anything the running loop would log as 'Exception in callback'."""
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
    return errors


async def test_regression_detach_is_launched_not_monitored_and_survives_stop(env, marker) -> None:
    async with Manager() as m:
        events = EventLog(m)
        m.add_process("d", sys.executable, args=tree()[1:], env=env, detach=True)
        await until(lambda: events.named("spawn"))
        spawn = events.named("spawn")[0]
        assert spawn["detached"] is True and spawn["instance"] == "d.1"
        os_pid = spawn["os_pid"]
        assert psutil.Process(os_pid).environ()["HU_TEST_MARKER"] == marker
        assert not m.running and m.list() == []
    try:
        survivor = psutil.Process(os_pid)
        assert survivor.is_running() and survivor.status() != psutil.STATUS_ZOMBIE  # survived stop()
    finally:
        kill_carriers(marker)


async def test_process_monitor_and_unmonitor(env) -> None:
    errors = catch_loop_errors()
    async with Manager() as m:
        m.add_process("t", sys.executable, args=tree("--depth", "1", "--width", "2")[1:], env=env)
        await until(lambda: m.list("t") and len(m.get_process("t.1").stats()["children"]) == 2)
        process = m.get_process("t.1")
        got: list[tuple[str, dict[str, Any]]] = []
        listener = lambda event, msg: got.append((event, msg))  # noqa: E731
        process.monitor(listener)
        assert process.id in m.bus.sampled()
        await until(lambda: len(got) >= 3)
        event, msg = got[-1]
        assert event == "stat" and STAT_KEYS <= set(msg)
        assert msg["pid"] == process.id and msg["os_pid"] == process.os_pid and msg["name"] == "t.1"
        assert msg["mem_info1"] > 0 and msg["mem_info2"] >= msg["mem_info1"]
        assert msg["username"] == psutil.Process().username() and msg["cmdline"].startswith("python")
        assert len(msg["children"]) == 2 and all(STAT_KEYS <= set(c) for c in msg["children"])
        assert all(c["os_pid"] != process.os_pid and "pid" not in c for c in msg["children"])
        process.unmonitor(listener)
        assert not m.bus.sampled()  # the timer runs only while someone subscribes
        count = len(got)
        await asyncio.sleep(0.3)
        assert len(got) == count
    assert errors == []


async def test_manager_monitor_covers_later_instances(env) -> None:
    async with Manager() as m:
        m.add_process("w", "sleep 60", env=env)
        await until(lambda: m.list("w"))
        seen: dict[str, int] = {}

        def listener(event: str, msg: dict[str, Any]) -> None:
            seen[msg["name"]] = seen.get(msg["name"], 0) + 1

        m.monitor("w", listener)
        m.scale("w", 2)
        await until(lambda: seen.get("w.1", 0) >= 2 and seen.get("w.2", 0) >= 2)
        m.unmonitor("w", listener)
        assert not m.bus.sampled()
        summary = m.stats("w")
        assert summary["name"] == "w" and len(summary["stats"]) == 2 and summary["mem_info1"] > 0


async def test_process_exiting_mid_sample_never_raises(env) -> None:
    errors = catch_loop_errors()
    async with Manager() as m:
        m.add_process("short", sys.executable, args=tree("--depth", "1", "--exit-after", "0.35")[1:], env=env,
                      restart="never")
        await until(lambda: m.list("short"))
        process = m.get_process("short.1")
        got: list[Any] = []
        process.monitor(lambda event, msg: got.append(msg))
        await until(lambda: m.get_process_status("short")["state"] == "EXITED")
        assert process.id not in m.bus.sampled()
        assert process.stats() is None
        assert got  # it was sampled while alive
    assert errors == []
    assert StatsSampler().sample(2**22 + 12345) is None  # no such pid: None, no exception


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("missing", "No such file"),  # the executable does not exist
        ("not-executable", "Permission denied"),  # a file without the x bit
        ("bad-cwd", "working directory"),  # the cwd does not exist
    ],
)
async def test_spawn_failures_are_data_and_back_off(env, tmp_path: Path, kind: str, fragment: str) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    settings: dict[str, Any] = {
        "missing": {"cmd": str(tmp_path / "nope")},
        "not-executable": {"cmd": str(script)},
        "bad-cwd": {"cmd": "true", "cwd": str(tmp_path / "gone")},
    }[kind]

    async with Manager() as m:
        events = EventLog(m)
        m.add_process("bad", env=env, **settings)  # default flapping: attempts=2, retry_in=7
        await until(lambda: m.get_process_status("bad")["state"] == "BACKOFF")
        errors = await until(lambda: events.named("spawn_error")[1:] and events.named("spawn_error"))
        assert errors and fragment in errors[0]["error"]
        assert fragment in m.get_process_info("bad")["spawn_error"]
        attempts = len(errors)
        await asyncio.sleep(0.3)  # not a tight loop: nothing more until retry_in
        assert len(events.named("spawn_error")) == attempts == 2
        assert not events.named("spawn")
        # with a short retry the failures end in FATAL
        m.update_process("bad", flapping=FlappingInfo(2, 1, 0.05, 1))
        await m.start_process("bad")
        await until(lambda: m.get_process_status("bad")["state"] == "FATAL")


async def test_output_backpressure_pause_and_resume(env, tmp_path: Path) -> None:
    total = 8 << 20
    progress = tmp_path / "progress"

    def flooded() -> int:
        try:
            return int(progress.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    loop = asyncio.get_running_loop()
    async with Manager() as m:
        out = Output(m)
        events = EventLog(m)
        m.pause_output()
        m.add_process("flood", sys.executable, args=tree("--flood", str(total), "--progress", str(progress), "--exit-after", "0")[1:],
                      env=env, redirect_output=["out"], restart="never")
        await until(lambda: flooded() > 0)
        # the child blocks writing: its count stops growing well short of the total
        stalled_at = await steady(flooded, what="the flooded byte count")
        assert stalled_at < total and out.get("flood.1") == b""
        # ...while timers and other processes go on
        fired = loop.create_future()
        started = time.monotonic()
        loop.call_later(0.05, fired.set_result, None)
        await asyncio.wait_for(fired, 1)
        assert time.monotonic() - started < 0.5
        m.add_process("other", "sh -c 'exit 7'", env=env, restart="never")
        await until(lambda: any(e["exit_status"] == 7 for e in events.named("exit", "other")))
        m.resume_output()
        await until(lambda: m.get_process_status("flood")["state"] == "EXITED", 20)
        data = out.get("flood.1")
        assert len(data) == total == flooded()
        assert data == (b"x" * 65535 + b"\n") * (total // 65536)


async def test_send_signal_reaches_the_group(env, tmp_path: Path) -> None:
    record = tmp_path / "signals"

    async with Manager() as m:
        m.add_process("s", sys.executable, args=tree("--record-signals", str(record),
                                                     "--ready", str(tmp_path / "ready"))[1:], env=env)
        await until(lambda: (tmp_path / "ready").exists())
        assert m.send_signal("s.1", signal.SIGUSR1) == 1
        await until(lambda: record.exists() and record.read_text() == "SIGUSR1\n")
        assert m.send_signal("s", "USR2") == 1
        await until(lambda: record.read_text() == "SIGUSR1\nSIGUSR2\n")


async def test_env_marker_reaches_grandchildren(env, marker) -> None:
    # a sanity check of the survivor scan itself: forks keep the environment
    async with Manager() as m:
        m.add_process("t", sys.executable, args=tree("--depth", "2", "--width", "1")[1:], env=env)
        await until(lambda: len(carriers(marker)) == 3)
        assert {os.getsid(p.pid) for p in carriers(marker)} == {m.get_process("t.1").os_pid}
