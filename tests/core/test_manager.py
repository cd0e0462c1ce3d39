"""The Manager: numbering, scaling, restarts, requested vs unexpected exits, restart policies,
flapping end to end, applications, the sync and async forms, the event catalogue (issue 2)."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from typing import Any

import psutil
import pytest

from honcho_uv import ExitStatus, FlappingInfo, InvalidOption, Manager, Process, UnknownProcess
from tests.kit.events import EventLog
from tests.kit.procs import assert_no_survivors, tree
from tests.kit.wait import until

SLEEP = "sleep 60"


def names(m: Manager, name: str | None = None) -> list[str]:
    return [p.name for p in m.list(name)]


def state(m: Manager, name: str) -> str:
    return m.get_process_status(name)["state"]


class PolicyLog:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ExitStatus, str]] = []

    def __call__(self, process: Process, status: ExitStatus, outcome: str) -> None:
        self.calls.append((process.name, status, outcome))

    @property
    def outcomes(self) -> list[str]:
        return [c[2] for c in self.calls]


async def test_numbering_and_scaling(env) -> None:
    async with Manager() as m:
        events = EventLog(m)
        m.add_process("w", SLEEP, env=env, numprocesses=2, port=7000)
        await until(lambda: names(m) == ["w.1", "w.2"])
        assert m.scale("w", 4) == 4
        await until(lambda: names(m) == ["w.1", "w.2", "w.3", "w.4"])
        assert m.scale("w", "+1") == 5
        await until(lambda: len(names(m)) == 5)
        keep = {p.name: p.os_pid for p in m.list("w") if p.number <= 3}
        assert m.scale("w", "-2") == 3
        await until(lambda: names(m) == ["w.1", "w.2", "w.3"])
        assert {p.name: p.os_pid for p in m.list("w")} == keep  # the highest numbers went
        assert [e["instance"] for e in events.named("reap")] == ["w.5", "w.4"]
        assert m.scale("w", "=2") == 2
        await until(lambda: names(m) == ["w.1", "w.2"])
        assert m.ttin("w") == 3
        await until(lambda: names(m) == ["w.1", "w.2", "w.3"])
        assert m.get_process("w.3").env["PORT"] == "7002"  # the number's port, again
        assert m.ttou("w", 2) == 1
        await until(lambda: names(m) == ["w.1"])
        assert m.scale("w", "-10") == 0  # never below zero
        await until(lambda: names(m) == [])
        with pytest.raises(InvalidOption):
            m.scale("w", "lots")
        with pytest.raises(InvalidOption):
            m.scale("w", True)  # type: ignore[arg-type]
        with pytest.raises(UnknownProcess):
            m.scale("nope", 1)
        assert m.get_process_status("w")["max_processes"] == 0


async def test_regression_scale_down_then_up_before_the_exit(env) -> None:
    # The freed numbers were never respawned: a requested exit did not re-run _manage.
    async with Manager() as m:
        m.add_process("w", "sh -c 'trap \"sleep 0.3; exit 0\" TERM; sleep 60 & wait'", env=env, numprocesses=3)
        await until(lambda: len(m.list("w")) == 3)
        old = [m.get_process("w.2"), m.get_process("w.3")]
        m.scale("w", 1)
        m.scale("w", 3)
        await until(lambda: not any(p.alive for p in old), 5)
        await until(lambda: len(m.list("w")) == 3 and not set(m.list("w")) & set(old), 5)
        assert m.get_process_status("w")["state"] == "RUNNING"


async def test_restart_keeps_number_and_port_and_stops_old_first(env) -> None:
    async with Manager() as m:
        events = EventLog(m)
        m.add_process("w", SLEEP, env=env, numprocesses=2, port=7100)
        await until(lambda: len(m.list("w")) == 2)
        old = m.get_process("w.2")
        old_pid = old.os_pid
        await m.restart_process("w.2")
        new = await until(lambda: m.list("w") and m.get_process("w").instances.get(2))
        await until(lambda: new.alive and any(e["os_pid"] == new.os_pid for e in events.named("spawn")))
        assert new is not old and new.number == 2 and new.env["PORT"] == "7101" and new.os_pid != old_pid
        assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == psutil.STATUS_ZOMBIE
        w2 = [(e, msg["os_pid"]) for e, msg in events.items
              if e in ("exit", "spawn") and msg.get("instance") == "w.2"]
        assert w2[-2:] == [("exit", old_pid), ("spawn", new.os_pid)]  # old gone before the new spawned
        assert m.get_process("w.1").alive  # the other instance untouched
        # a whole-template restart: every instance, same numbers and ports
        before = {p.number: p.os_pid for p in m.list("w")}
        await m.restart_process("w")
        await until(lambda: len(m.list("w")) == 2)
        after = {p.number: p.os_pid for p in m.list("w")}
        assert set(after) == {1, 2} and not set(after.values()) & set(before.values())


async def test_regression_start_process_of_an_instance_brings_back_the_one_stopped(env) -> None:
    # start_process("w.2") after stop_process("w.2") was "no process named 'w.2'": the
    # instance stayed held until a start of the whole type.
    async with Manager() as m:
        m.add_process("w", SLEEP, env=env, numprocesses=3)
        await until(lambda: len(m.list("w")) == 3)
        w1, w3 = m.get_process("w.1").os_pid, m.get_process("w.3").os_pid
        await m.stop_process("w.2")
        assert names(m, "w") == ["w.1", "w.3"]
        await m.start_process("w.2")
        await until(lambda: names(m, "w") == ["w.1", "w.2", "w.3"])
        assert (m.get_process("w.1").os_pid, m.get_process("w.3").os_pid) == (w1, w3), "the others untouched"
        # The whole type stopped: one instance comes back alone; a start of the type, all.
        await m.stop_process("w")
        await m.start_process("w.3")
        await until(lambda: names(m, "w") == ["w.3"])
        await m.wait_spawned()
        assert names(m, "w") == ["w.3"] and state(m, "w") == "RUNNING"
        await m.start_process("w")
        await until(lambda: names(m, "w") == ["w.1", "w.2", "w.3"])
        with pytest.raises(UnknownProcess, match=r"w\.4 is not in the formation \(w has 3 instances; scale it"):
            m.start_process("w.4")


async def test_requested_exits_never_reach_the_exit_policy(env) -> None:
    policy = PolicyLog()
    async with Manager(exit_policy=policy) as m:
        m.add_process("w", SLEEP, env=env, numprocesses=3)
        await until(lambda: len(m.list("w")) == 3)
        await m.restart_process("w.1")
        m.scale("w", 2)  # scale-down
        await until(lambda: len(m.list("w")) == 2)
        await m.stop_process("w.2")
        await m.stop_process("w")
        m.add_process("x", SLEEP, env=env)
        await until(lambda: m.list("x"))
    assert policy.calls == []  # Manager.stop is requested too


async def test_unexpected_exit_outcomes(env) -> None:
    policy = PolicyLog()
    async with Manager(exit_policy=policy) as m:
        events = EventLog(m)
        m.add_process("a", SLEEP, env=env, restart="always")
        m.add_process("n", SLEEP, env=env, restart="never")
        await until(lambda: m.list("a") and m.list("n"))
        first = m.get_process("a.1")
        first.send_signal(signal.SIGKILL)  # not requested: unexpected
        m.get_process("n.1").send_signal(signal.SIGTERM)
        await until(lambda: len(policy.calls) == 2)
        assert sorted(policy.calls) == [("a.1", ExitStatus(None, 9), "restart"),
                                        ("n.1", ExitStatus(None, 15), "exited")]
        await until(lambda: m.list("a") and m.get_process("a.1") is not first)
        assert state(m, "n") == "EXITED" and not m.list("n")
        exits = {e["instance"]: e for e in events.named("exit")}
        assert exits["a.1"]["term_signal"] == 9 and exits["a.1"]["exit_status"] is None
        assert exits["a.1"]["requested"] is False


@pytest.mark.parametrize(
    ("policy", "code", "restarts"),
    [
        ("always", 0, True),  # always restarts a clean exit too
        ("always", 3, True),
        ("on-failure", 0, False),  # a clean exit is left alone
        ("on-failure", 3, True),
        ("never", 3, False),
    ],
)
async def test_restart_policies(env, policy, code, restarts) -> None:
    log = PolicyLog()
    async with Manager(exit_policy=log) as m:
        events = EventLog(m)
        m.add_process("p", f"sh -c 'sleep 0.1; exit {code}'", env=env, restart=policy,
                      flapping=FlappingInfo(attempts=5, window=0.1))
        await until(lambda: log.calls)
        assert log.calls[0][1] == ExitStatus(code, None)
        assert log.outcomes[0] == ("restart" if restarts else "exited")
        if restarts:
            await until(lambda: len(events.named("spawn")) >= 2)
        else:
            assert state(m, "p") == "EXITED"
            await m.start_process("p")  # a user start brings it back
            await until(lambda: len(events.named("spawn")) == 2)


async def test_flapping_end_to_end_reaches_fatal(env) -> None:
    log = PolicyLog()
    async with Manager(exit_policy=log) as m:
        events = EventLog(m)
        m.add_process("crash", "false", env=env, flapping=FlappingInfo(attempts=2, window=1, retry_in=0.2,
                                                                      max_retry=2))
        await until(lambda: events.named("fatal"), 10)
        assert log.outcomes == ["restart", "backoff", "restart", "backoff", "restart", "fatal"]
        assert state(m, "crash") == "FATAL"
        assert [e for e in events.names() if e in ("flap", "fatal", "backoff", "retry")] == [
            "flap", "backoff", "retry", "flap", "backoff", "retry", "flap", "fatal"]
        spawns = len(events.named("spawn"))
        assert spawns == 6
        assert m.get_process_info("crash")["retries"] == 0
        # FATAL: nothing respawns (proving an absence needs a bounded wait: 3 x retry_in)
        await asyncio.sleep(0.6)
        assert len(events.named("spawn")) == spawns and m.idle
        # a user start leaves FATAL with a fresh history
        await m.start_process("crash")
        await until(lambda: len(log.calls) >= 8)
        assert log.outcomes[6:8] == ["restart", "backoff"]


@pytest.mark.parametrize("how", ["stop_process", "remove_process", "manager_stop"])
async def test_stop_during_backoff_cancels_the_retry(env, how) -> None:
    m = Manager()
    m.start()
    events = EventLog(m)
    m.add_process("crash", "false", env=env, flapping=FlappingInfo(attempts=2, window=1, retry_in=0.3))
    await until(lambda: state(m, "crash") == "BACKOFF")
    spawns = len(events.named("spawn"))
    if how == "stop_process":
        await m.stop_process("crash")
        assert state(m, "crash") == "STOPPED"
    elif how == "remove_process":
        await m.remove_process("crash")
        assert "crash" not in m.processes and events.named("delete")
    else:
        m.stop()
        await m.wait_stopped()
    await asyncio.sleep(0.6)  # twice retry_in: the cancelled retry would have fired by now
    assert len(events.named("spawn")) == spawns
    assert not events.named("retry")
    m.stop()
    await m.wait_stopped()


@pytest.mark.parametrize("turns", [0, 1, 2, 3, 5, 8])
async def test_regression_stop_right_after_add_does_not_hang_or_leak(env, marker, turns) -> None:
    # A stop racing the spawn returned at once and left the child running unsupervised.
    async with Manager() as m:
        m.add_process("w", SLEEP, env=env, numprocesses=3)
        for _ in range(turns):
            await asyncio.sleep(0)
        await asyncio.wait_for(m.stop_process("w"), 5)
        assert_no_survivors(marker, 1)
        assert m.get_process_status("w")["state"] == "STOPPED" and not m.running


@pytest.mark.parametrize("turns", [0, 1, 2, 3, 5, 8])
async def test_regression_manager_stop_right_after_add_does_not_hang(env, marker, turns) -> None:
    # Manager.stop waited forever for the supervisor of a child spawned after stop() ran.
    m = Manager()
    m.start()
    m.add_process("w", SLEEP, env=env, numprocesses=3)
    for _ in range(turns):
        await asyncio.sleep(0)
    m.stop()
    await asyncio.wait_for(m.wait_stopped(), 5)
    assert_no_survivors(marker, 1)


class App:
    def __init__(self, name: str, journal: list[Any]) -> None:
        self.name, self.journal = name, journal
        self.manager: Manager | None = None

    def start(self, loop: asyncio.AbstractEventLoop, manager: Manager) -> None:
        self.manager = manager
        self.journal.append(("start", self.name, loop is manager.loop))

    def stop(self) -> None:
        assert self.manager is not None
        alive = [p for p in self.manager.running.values() if p.alive]
        self.journal.append(("stop", self.name, alive == []))

    def restart(self) -> None:
        self.journal.append(("restart", self.name, True))


async def test_applications_start_in_order_stop_in_reverse_after_processes(env) -> None:
    journal: list[Any] = []
    m = Manager()
    m.start(applications=[App("a", journal), App("b", journal)])
    m.add_process("w", "sh -c 'trap \"sleep 0.2; exit\" TERM; sleep 60 & wait'", env=env, numprocesses=2)
    await until(lambda: len(m.list("w")) == 2)
    m.restart()
    await until(lambda: len(journal) == 4)
    m.stop()
    await m.wait_stopped()
    assert journal == [("start", "a", True), ("start", "b", True), ("restart", "a", True),
                       ("restart", "b", True), ("stop", "b", True), ("stop", "a", True)]


def test_readme_style_sync_usage(loop_factory, env, marker) -> None:
    journal: list[Any] = []
    spawned = threading.Event()

    class Watcher(App):
        def start(self, loop: asyncio.AbstractEventLoop, manager: Manager) -> None:
            super().start(loop, manager)
            manager.subscribe("spawn", lambda event, msg: spawned.set())

    m = Manager(loop=loop_factory())
    m.start(applications=[Watcher("watcher", journal)])
    m.add_process("web", sys.executable, args=tree()[1:], env=env, numprocesses=2)
    stopper = threading.Thread(target=lambda: (spawned.wait(10), m.stop()))
    stopper.start()
    m.run()
    stopper.join()
    assert journal == [("start", "watcher", True), ("stop", "watcher", True)]
    assert not m.running
    m.loop.close()
    assert_no_survivors(marker, 1)


def test_regression_run_closes_the_loop_it_created(env, marker) -> None:
    # Manager() with no running loop creates one; run() left it open (a ResourceWarning).
    m = Manager()
    m.start()
    m.add_process("w", SLEEP, env=env)
    m.on_idle(lambda: None)
    threading.Timer(0.3, m.stop).start()
    m.run()
    assert m.loop is None or m.loop.is_closed()


async def test_async_with_manager(env, marker) -> None:
    async with Manager() as m:
        assert m.loop is asyncio.get_running_loop()
        m.add_process("w", SLEEP, env=env, numprocesses=2)
        await until(lambda: len(m.list()) == 2)
        pids = [p.os_pid for p in m.list()]
    assert not m.running and m.get_process_status("w")["state"] == "STOPPED"
    assert all(not psutil.pid_exists(pid) for pid in pids)


async def test_regression_wait_spawned_right_after_add_waits_for_every_instance(env) -> None:
    """`hu start` imported aiohttp in a thread "after the spawns" but wait_spawned() returned
    before the start task had even scheduled them: the import fought the spawns for the GIL."""
    async with Manager() as m:
        m.add_process("w", SLEEP, env=env, numprocesses=3)
        m.add_process("bad", "/nonexistent/program", env=env, restart="never")
        await m.wait_spawned()
        assert sorted(p.name for p in m.list("w") if p.os_pid) == ["w.1", "w.2", "w.3"]
        m.scale("w", 5)
        await m.wait_spawned()
        assert len([p for p in m.list("w") if p.os_pid]) == 5


async def test_stop_and_restart_from_another_thread(env) -> None:
    m = Manager()
    m.start()
    events = EventLog(m)
    m.add_process("w", SLEEP, env=env)
    await until(lambda: m.list("w"))
    await asyncio.to_thread(m.restart)
    await until(lambda: len(events.named("spawn")) == 2)
    await asyncio.to_thread(m.stop)
    await m.wait_stopped()


PROCESS_EVENTS = ("spawn", "exit", "reap", "stop_pid")


async def test_event_catalogue_payloads(env) -> None:
    events: EventLog
    async with Manager() as m:
        events = EventLog(m)
        m.add_process("w", SLEEP, env=env, numprocesses=2)  # create, start, spawn x2
        await until(lambda: len(m.list("w")) == 2)
        m.scale("w", 1)  # update, reap, exit
        await until(lambda: len(m.list("w")) == 1)
        await m.stop_process("w.1")  # stop_pid, exit
        await m.stop_process("w")  # stop
        m.update_process("w", cmd="sleep 61")  # update
        await m.remove_process("w")  # delete
        m.add_process("f", "false", env=env, flapping=FlappingInfo(2, 1, 0.1, 0))  # exit, flap, fatal
        await until(lambda: events.named("fatal"))
    seen = set(events.names())
    assert {"create", "start", "spawn", "update", "reap", "exit", "stop_pid", "stop", "delete", "flap",
            "fatal"} <= seen
    for event, msg in events.items:
        base = event.split(".")[-1] if event.startswith("proc.") else event
        assert msg["event"] == event and "name" in msg
        if base in PROCESS_EVENTS:
            assert {"pid", "os_pid", "name"} <= set(msg), (event, msg)
            assert isinstance(msg["pid"], int) and isinstance(msg["os_pid"], int)
        if base == "exit":
            assert "exit_status" in msg and "term_signal" in msg
    # each change is one event: a "." subscriber never sees a proc.<name>.<event> copy
    assert not [e for e, _ in events.items if e.startswith("proc.")]
    exits = [m_ for m_ in events.named("exit") if m_["name"] == "f"]
    assert exits[0]["exit_status"] == 1 and exits[0]["term_signal"] is None


async def test_proc_name_subscription(env) -> None:
    async with Manager() as m:
        got: list[str] = []
        m.subscribe("proc.w", lambda event, msg: got.append(event))
        m.add_process("w", SLEEP, env=env)
        m.add_process("other", SLEEP, env=env)
        await until(lambda: "proc.w.spawn" in got and len(m.list()) == 2)
        assert all(e.startswith("proc.w.") for e in got) and got.count("proc.w.spawn") == 1


async def test_lookups_and_errors(env) -> None:
    async with Manager() as m:
        m.add_process("w", SLEEP, env=env, numprocesses=2)
        await until(lambda: len(m.list("w")) == 2)
        p = m.get_process("w.2")
        assert m.get_process(p.id) is p and m.running[p.id] is p
        with pytest.raises(UnknownProcess):
            m.get_process(str(p.id))  # a string is always a name, never an internal id
        assert m.pids("w") == [m.get_process("w.1").id, p.id]
        assert m.send_signal("w", "CONT") == 2
        with pytest.raises(UnknownProcess):
            m.get_process("w.3")
        with pytest.raises(UnknownProcess):
            m.get_process(10**9)
        with pytest.raises(UnknownProcess):
            m.stop_process("nope")
        with pytest.raises(InvalidOption):
            m.get_process("../w")
        from honcho_uv import StateError
        with pytest.raises(StateError):
            m.add_process("w", SLEEP)


async def test_update_process_restarts_with_new_settings(env) -> None:
    async with Manager() as m:
        m.add_process("w", SLEEP, env=env, port=7200)
        await until(lambda: m.list("w"))
        old = m.get_process("w.1")
        m.update_process("w", port=7300, numprocesses=2)
        await until(lambda: len(m.list("w")) == 2 and old not in m.list("w"))
        assert sorted(p.env["PORT"] for p in m.list("w")) == ["7300", "7301"]


async def test_regression_scale_refuses_ports_past_65535_before_changing_anything(env) -> None:
    # -p 65500 then scaling handed out 65536 and up (issue 15, finding 9, at scale time).
    async with Manager() as m:
        m.add_process("w", "sleep", args=["30"], env=env, port=65530, numprocesses=1)
        await until(lambda: m.list("w"))
        with pytest.raises(InvalidOption, match=r"scale: w\.7 would get port 65536, past 65535"):
            m.scale("w", 7)
        assert m.get_process_status("w")["numprocesses"] == 1
        assert m.scale("w", 6) == 6  # 65535 is still a port
