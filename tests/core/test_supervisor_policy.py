"""The Supervisor's restart policy and flapping, driven through the spawner and clock seams.

No OS process and no real waiting: children are :class:`FakeChild` objects that exit when told,
and time moves only with :meth:`FakeClock.advance`, so "nothing respawns before the retry" is
checked exactly instead of by sleeping and hoping.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from honcho_uv import FlappingInfo, InvalidOption, Manager, ProcessState, UnknownProcess
from honcho_uv.core.exits import MIN_RESPAWN_INTERVAL_S
from tests.core.fakes import FakeClock, FakeSpawner
from tests.kit.wait import until


class Rig:
    """A Manager on fakes, plus what its exit policy saw."""

    def __init__(self, **spawner: Any) -> None:
        self.spawner = FakeSpawner(**spawner)
        self.clock = FakeClock()
        self.outcomes: list[tuple[str, int, str]] = []
        self.manager = Manager(spawner=self.spawner, clock=self.clock, subreaper=False,
                               exit_policy=lambda p, status, outcome: self.outcomes.append(
                                   (p.name, status.returncode, outcome)))

    def state(self, name: str = "w") -> ProcessState:
        return self.manager.supervisor(name).state

    async def spawned(self, n: int) -> None:
        await until(lambda: len(self.spawner.children) >= n and self.manager.supervisor("w").alive(), 5,
                    f"{n} spawns")
        await self.manager.wait_spawned()

    async def crash(self, code: int = 1) -> None:
        """Make the newest live child exit unexpectedly, and wait until that is handled."""
        child = self.spawner.alive()[-1]
        before = len(self.outcomes)
        child.exit(code)
        await until(lambda: len(self.outcomes) > before, 5, "the exit to be handled")


async def _run(body: Any, **spawner: Any) -> None:
    rig = Rig(**spawner)
    async with rig.manager:
        await body(rig)
    rig.spawner.close()


async def test_a_flap_backs_off_for_exactly_retry_in_on_the_injected_clock() -> None:
    async def body(rig: Rig) -> None:
        rig.manager.add_process("w", "app", restart="always", flapping=FlappingInfo(2, 1.0, 7.0, 5))
        await rig.spawned(1)
        await rig.crash()
        assert rig.outcomes[-1][2] == "restart" and len(rig.spawner.children) == 2  # respawned at once
        await rig.spawned(2)
        await rig.crash()  # the second exit within the window: a flap
        assert rig.outcomes[-1][2] == "backoff" and rig.state() is ProcessState.BACKOFF
        rig.clock.advance(6.99)
        await asyncio.sleep(0)
        assert len(rig.spawner.children) == 2 and rig.state() is ProcessState.BACKOFF
        rig.clock.advance(0.01)
        await rig.spawned(3)
        assert rig.manager.supervisor("w").flap.retries == 1

    await _run(body)


async def test_the_flap_after_max_retry_retries_is_fatal_and_only_a_start_leaves_it() -> None:
    async def body(rig: Rig) -> None:
        rig.manager.add_process("w", "app", restart="always", flapping=FlappingInfo(1, 1.0, 2.0, 1))
        await rig.spawned(1)
        await rig.crash()
        assert rig.outcomes[-1][2] == "backoff"
        rig.clock.advance(2.0)
        await rig.spawned(2)
        await rig.crash()
        assert rig.outcomes[-1][2] == "fatal" and rig.state() is ProcessState.FATAL
        assert rig.clock.pending == []  # FATAL schedules nothing
        await rig.manager.start_process("w")
        await rig.spawned(3)
        assert rig.state() is ProcessState.RUNNING and rig.manager.supervisor("w").flap.retries == 0

    await _run(body)


async def test_retries_reset_after_stable_after_seconds_without_a_crash() -> None:
    async def body(rig: Rig) -> None:
        rig.manager.add_process("w", "app", restart="always",
                                flapping=FlappingInfo(1, 1.0, 1.0, 1, stable_after=10.0))
        await rig.spawned(1)
        await rig.crash()  # flap 1: BACKOFF (retry 1 of 1)
        rig.clock.advance(1.0)
        await rig.spawned(2)
        rig.clock.advance(10.0)  # stable long enough: the retries start over
        await rig.crash()
        assert rig.outcomes[-1][2] == "backoff", rig.outcomes  # not FATAL

    await _run(body)


async def test_a_stop_cancels_the_pending_retry() -> None:
    async def body(rig: Rig) -> None:
        rig.manager.add_process("w", "app", restart="always", flapping=FlappingInfo(1, 1.0, 5.0, 3))
        await rig.spawned(1)
        await rig.crash()
        assert rig.clock.pending
        await rig.manager.stop_process("w")
        assert rig.clock.pending == [] and rig.state() is ProcessState.STOPPED
        rig.clock.advance(60.0)
        await asyncio.sleep(0)
        assert len(rig.spawner.children) == 1

    await _run(body)


async def test_regression_respawn_interval_runs_on_the_injected_clock() -> None:
    # Review bug 9: with flapping off, the anti-spin respawn interval read time.monotonic()
    # instead of the injected clock, so a test could not drive it (and a fake clock lied).
    async def body(rig: Rig) -> None:
        rig.manager.add_process("w", "app", restart="always", flapping=None)
        await rig.spawned(1)
        rig.clock.advance(0.25)  # the child lived 0.25 s on the Manager's clock
        await rig.crash()
        assert rig.outcomes[-1][2] == "restart" and len(rig.spawner.children) == 1
        assert rig.clock.pending == [rig.clock.time + MIN_RESPAWN_INTERVAL_S - 0.25]
        rig.clock.advance(MIN_RESPAWN_INTERVAL_S - 0.25)
        await rig.spawned(2)

    await _run(body)


async def test_restart_policies_decide_on_the_exit_code() -> None:
    async def body(rig: Rig) -> None:
        rig.manager.add_process("w", "app", restart="on-failure", flapping=None)
        await rig.spawned(1)
        rig.clock.advance(5.0)
        await rig.crash(1)
        assert rig.outcomes[-1] == ("w.1", 1, "restart")
        await rig.spawned(2)
        rig.clock.advance(5.0)
        await rig.crash(0)
        assert rig.outcomes[-1] == ("w.1", 0, "exited") and rig.state() is ProcessState.EXITED
        assert len(rig.spawner.children) == 2

    await _run(body)


async def test_requested_stops_never_reach_the_policy_or_the_exit_hook() -> None:
    async def body(rig: Rig) -> None:
        rig.manager.add_process("w", "app", restart="always", numprocesses=3)
        await rig.spawned(3)
        rig.manager.scale("w", 1)  # stops w.3 and w.2
        await until(lambda: len(rig.spawner.alive()) == 1)
        await rig.manager.restart_process("w.1")
        await rig.spawned(4)
        assert rig.outcomes == []
        assert [c.env["PS"] for c in rig.spawner.children] == ["w.1", "w.2", "w.3", "w.1"]

    await _run(body)


async def test_a_stubborn_child_is_killed_after_its_grace_and_the_escalation_is_published() -> None:
    async def body(rig: Rig) -> None:
        events: list[dict[str, Any]] = []
        rig.manager.subscribe("escalate", lambda e, msg: events.append(msg))
        rig.manager.add_process("w", "app", graceful_timeout=0.05)
        await rig.spawned(1)
        await rig.manager.stop_process("w")
        child = rig.spawner.children[0]
        assert child.signals[:2] == [15, 18] and child.signals[-1] == 9 and child.returncode == -9
        await until(lambda: events, 5)
        assert events[0]["instance"] == "w.1" and "did not stop within 0.05s of SIGTERM" in events[0]["message"]

    await _run(body, stubborn=True)


async def test_a_spawn_that_fails_counts_as_exit_127() -> None:
    async def body(rig: Rig) -> None:
        rig.manager.add_process("w", "app", restart="never")
        await until(lambda: rig.outcomes, 5)
        assert rig.outcomes == [("w.1", 127, "exited")]
        assert "No such file" in (rig.manager.supervisor("w").spawn_error or "")

    await _run(body, fail=FileNotFoundError(2, "No such file or directory"))


async def test_regression_scale_from_the_embedding_api_is_bounded() -> None:
    # Review bug 3: only the HTTP handler checked MAX_NUMPROCESSES; m.scale("w", 10**6) forked.
    async def body(rig: Rig) -> None:
        rig.manager.add_process("w", "app")
        await rig.spawned(1)
        for n in (10**6, "10001", "+10000", "=99999999999"):
            with pytest.raises(InvalidOption, match="scale"):
                rig.manager.scale("w", n)
        assert rig.manager.scale("w", "-5") == 0  # never below 0
        assert len(rig.spawner.children) == 1

    await _run(body)


async def test_regression_a_type_named_with_digits_is_a_name_not_an_id() -> None:
    # Review bug 2: "12" was read as internal id 12 by restart/stop but as a type by start.
    async def body(rig: Rig) -> None:
        rig.manager.add_process("12", "app")
        rig.manager.add_process("w", "app", numprocesses=12)
        await until(lambda: len(rig.spawner.alive()) == 13, 5)
        target = rig.manager.get_process("12")
        assert target is rig.manager.supervisor("12")
        await rig.manager.restart_process("12")
        await until(lambda: len(rig.spawner.children) == 14, 5)
        assert rig.spawner.children[-1].env["PS"] == "12.1"  # the type "12" restarted, not id 12
        assert rig.manager.get_process(12).name.startswith("w.")  # an int is an id
        with pytest.raises(UnknownProcess):
            rig.manager.get_process("13")

    await _run(body)
