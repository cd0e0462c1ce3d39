"""Stopping: escalation to SIGKILL, whole trees, escapees, parallelism, no zombies or fds left
(issue 2, items 7 and 10)."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from honcho_uv import Manager
from tests.kit.events import EventLog
from tests.kit.procs import assert_no_survivors, carriers, tree, zombie_children
from tests.kit.wait import until, wait_for

STUBBORN = "sh -c \"trap '' TERM; exec sleep 60\""  # sleep inherits the ignored TERM


async def test_term_ignoring_child_is_killed_after_graceful_timeout(env, marker, tmp_path) -> None:
    record = tmp_path / "signals"

    async with Manager() as m:
        events = EventLog(m)
        m.add_process("stub", sys.executable,
                      args=tree("--ignore", "TERM", "--record-signals", str(record),
                                "--ready", str(tmp_path / "ready"))[1:],
                      env=env, graceful_timeout=0.3)
        await until(lambda: (tmp_path / "ready").exists())
        started = time.monotonic()
        await m.stop_process("stub")
        elapsed = time.monotonic() - started
        assert 0.3 <= elapsed < 1.5
        await until(lambda: events.named("exit"))
        assert events.named("exit")[0]["term_signal"] == 9
        assert not record.exists()  # TERM ignored (and SIGCONT is not one it records)
        assert not carriers(marker)


async def test_stop_signal_then_sigcont_to_the_group(env, marker, tmp_path) -> None:
    record = tmp_path / "signals"

    async with Manager() as m:
        m.add_process("p", sys.executable, args=tree("--record-signals", str(record), "--ready",
                                                     str(tmp_path / "ready"))[1:], env=env,
                      stop_signal="USR1", graceful_timeout=0.3)
        await until(lambda: (tmp_path / "ready").exists())
        await m.stop_process("p")
        assert record.read_text() == "SIGUSR1\n"  # USR1 is recorded, not fatal: SIGKILL followed


async def test_term_ignoring_grandchild_in_the_group_is_killed(env, marker) -> None:
    async with Manager() as m:
        # sh dies on TERM at once; its python child ignores TERM and stays in the group
        inner = " ".join(tree("--ignore", "TERM", "--depth", "1", "--width", "2"))
        m.add_process("g", f"sh -c '{inner} & wait'", env=env, graceful_timeout=0.3)
        await until(lambda: len(carriers(marker)) == 4)  # sh, python, two forks
        started = time.monotonic()
        await m.stop_process("g")
        assert time.monotonic() - started < 2.0
        assert not carriers(marker)


async def test_fifty_stubborn_processes_stop_in_about_one_timeout(env, marker) -> None:
    async with Manager() as m:
        m.add_process("stub", STUBBORN, env=env, numprocesses=50, graceful_timeout=0.3)
        await until(lambda: [p.name() for p in carriers(marker)] == ["sleep"] * 50, 20)
        started = time.monotonic()
        await m.stop_process("stub")
        elapsed = time.monotonic() - started
        assert elapsed < 0.3 + 2.0, f"serial stop? {elapsed:.2f}s"
        assert not carriers(marker)


@pytest.mark.linux_only
async def test_setsid_double_fork_escapee_is_gone_after_stop(env, marker) -> None:
    m = Manager()
    m.start()
    m.add_process("esc", sys.executable, args=tree("--setsid-leaf", "--depth", "1")[1:], env=env,
                  graceful_timeout=0.3)
    # root + child + the escapee (its intermediate exited)
    await until(lambda: len(carriers(marker)) == 3, 10)
    escapee = [p for p in carriers(marker) if os.getsid(p.pid) == p.pid]
    assert len(escapee) == 1 and escapee[0].ppid() == os.getpid()  # adopted: we are a subreaper
    m.stop()
    await m.wait_stopped()
    assert_no_survivors(marker, 2)
    await until(lambda: not zombie_children(), 2)


async def test_no_zombie_children_left(env, marker) -> None:
    async with Manager() as m:
        m.add_process("t", sys.executable, args=tree("--depth", "2", "--width", "2")[1:], env=env,
                      numprocesses=3, graceful_timeout=0.5)
        m.add_process("quick", "true", env=env, restart="never", numprocesses=5)
        await until(lambda: len(carriers(marker)) == 3 * 7, 10)
    assert_no_survivors(marker, 2)
    wait_for(lambda: not zombie_children(), 2, "no zombie children")


@pytest.mark.linux_only
async def test_orphan_zombies_the_reaper_had_not_reached_are_reaped_at_stop(env, monkeypatch) -> None:
    """CI regression: members of a stopped tree re-parented to us as zombies while the Reaper
    thread still waited on the loop's own children, and stayed zombies once the Manager
    released the Reaper. Here the Reaper never reaches them at all (it still reaps the
    Manager's own children); stop must reap them."""
    from honcho_uv.core.reaper import Reaper

    consider = Reaper._consider

    def consider_only_our_own_children(self: Reaper, pid: int) -> None:
        if pid in self._watched:
            consider(self, pid)
        else:
            time.sleep(0.05)

    monkeypatch.setattr(Reaper, "_consider", consider_only_our_own_children)

    async with Manager() as m:
        # The background subshell exits at once: its setsid'd child is adopted by us, exits
        # after 0.1 s, and stays our zombie because the Reaper is held off.
        m.add_process("orphaner", "sh", args=["-c", "(setsid sh -c 'sleep 0.1' &); exec sleep 60"],
                      env=env, graceful_timeout=0.3)
        await until(lambda: zombie_children(), 5)
    assert not zombie_children()


@pytest.mark.linux_only
def test_reap_adopted_zombies_reaps_orphans_and_leaves_our_own_children() -> None:
    """The sweep itself, with no Manager (so no Reaper thread reaps anything meanwhile)."""
    import subprocess

    from honcho_uv.core.procfs import ProcessTable
    from honcho_uv.core.subreaper import reap_adopted_zombies, set_subreaper

    assert set_subreaper(True)
    try:
        # An orphan in its own session that exits at once: re-parented to us, then a zombie.
        orphan = int(subprocess.run(["sh", "-c", "setsid sh -c 'exit 0' & echo $!"], check=True,
                                    capture_output=True, text=True).stdout)
        ours = subprocess.Popen(["true"])  # our own child in our session: its owner reaps it
        wait_for(lambda: {orphan, ours.pid} <= {z.pid for z in zombie_children()}, 5, "both are zombies")
        assert reap_adopted_zombies(ProcessTable()) >= 1
        zombies = {z.pid for z in zombie_children()}
        assert orphan not in zombies and ours.pid in zombies
        assert ours.wait(5) == 0
    finally:
        set_subreaper(False)


@pytest.mark.linux_only
def test_no_fd_leak_after_fifty_spawns_and_stops(loop_factory, env, marker) -> None:
    def count_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def cycle() -> None:
        async with Manager() as m:
            m.add_process("io", sys.executable, args=tree("--spew", "2")[1:], env=env, numprocesses=10,
                          redirect_output=["out", "err"], redirect_input=True)
            m.add_process("plain", "sleep 60", env=env, numprocesses=10)
            for _ in range(2):
                await until(lambda: len(m.list()) == 20, 20)
                m.stats("io")
                await m.restart_process("io")
                await m.restart_process("plain")
            await until(lambda: len(m.list()) == 20, 20)

    def run_once() -> None:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(cycle())

    run_once()  # warm-up: lazily created things (the reaper thread, caches) are not leaks
    before = count_fds()
    run_once()  # 60 spawns and stops, with stdin and two output pipes for half of them
    after = count_fds()
    assert after == before, f"{after - before} fd(s) leaked"
    assert_no_survivors(marker, 2)


@pytest.mark.async_timeout(60)
async def test_two_hundred_processes_scale_up_and_down(env, marker) -> None:
    async with Manager() as m:
        m.add_process("s", "sleep 60", env=env, numprocesses=0)
        m.scale("s", 200)
        await until(lambda: len(m.list("s")) == 200, 30)
        assert [p.number for p in m.list("s")] == list(range(1, 201))
        m.scale("s", 20)
        await until(lambda: len(m.list("s")) == 20 and len(m.running) == 20, 30)
        assert [p.number for p in m.list("s")] == list(range(1, 21))
        m.scale("s", 200)
        await until(lambda: len(m.list("s")) == 200, 30)
        m.scale("s", 0)
        await until(lambda: m.idle, 30)
    assert_no_survivors(marker, 5)
    wait_for(lambda: not zombie_children(), 2, "no zombie children")


async def test_kill_all_is_immediate(env, marker) -> None:
    m = Manager()
    m.start()
    m.add_process("stub", STUBBORN, env=env, numprocesses=3, graceful_timeout=30)
    await until(lambda: [p.name() for p in carriers(marker)] == ["sleep"] * 3)
    started = time.monotonic()
    m.stop()
    await asyncio.sleep(0.05)
    m.kill_all()  # the second Ctrl-C
    await m.wait_stopped()
    assert time.monotonic() - started < 2.0
