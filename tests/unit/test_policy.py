"""Restart and flapping decisions driven by a fake monotonic clock (DESIGN.md "Restart policy")."""

from __future__ import annotations

import time

import pytest

from honcho_uv.models import ExitStatus, FlappingInfo
from honcho_uv.policy import FlapHistory, Verdict, record_retry, record_unexpected_exit, wants_restart

R, B, F = Verdict.RESTART, Verdict.BACKOFF, Verdict.FATAL
GAFFER = FlappingInfo()  # attempts=2, window=1, retry_in=7, max_retry=5, stable_after=10


def replay(info: FlappingInfo | None, events: list[tuple[str, float]]) -> list[Verdict]:
    """Feed ("exit", t) and ("retry", t) events to a fresh history; return the exit verdicts."""
    history = FlapHistory()
    out = []
    for kind, now in events:
        if kind == "exit":
            out.append(record_unexpected_exit(history, info, now))
        else:
            record_retry(history, now)
    return out


HISTORIES = [
    # flapping off: always restart
    (None, [("exit", 0), ("exit", 0.01), ("exit", 0.02)], [R, R, R]),
    # one exit is never a flap
    (GAFFER, [("exit", 0)], [R]),
    # gaffer's defaults: two exits within one second flap
    (GAFFER, [("exit", 0), ("exit", 0.5)], [R, B]),
    # exactly the window apart still counts as within (span > window is the escape)
    (GAFFER, [("exit", 0), ("exit", 1.0)], [R, B]),
    # slower than the window: restart each time
    (GAFFER, [("exit", 0), ("exit", 1.5), ("exit", 3.0), ("exit", 4.6)], [R, R, R, R]),
    # attempts=3: the third exit within the window flaps
    (FlappingInfo(attempts=3, window=1), [("exit", 0), ("exit", 0.3), ("exit", 0.6)], [R, R, B]),
    # attempts=3: the window slides over the last three exits
    (FlappingInfo(attempts=3, window=1), [("exit", 0), ("exit", 0.9), ("exit", 1.5), ("exit", 1.8)], [R, R, R, B]),
    # attempts > max_retry still works (gaffer's history deque was bounded by max_retry)
    (FlappingInfo(attempts=4, window=1, max_retry=1), [("exit", 0), ("exit", .1), ("exit", .2), ("exit", .3)],
     [R, R, R, B]),
    # max_retry=0: the first flap is fatal
    (FlappingInfo(max_retry=0), [("exit", 0), ("exit", 0.1)], [R, F]),
]


@pytest.mark.parametrize(("info", "events", "verdicts"), HISTORIES)
def test_flapping_histories(info, events, verdicts) -> None:
    assert replay(info, events) == verdicts


def crash_loop(info: FlappingInfo, cycles: int, start: float = 0.0) -> tuple[list[Verdict], FlapHistory, float]:
    """A process that dies at once: two exits 50 ms apart, then a retry after retry_in, repeated."""
    history = FlapHistory()
    now = start
    verdicts = []
    for _ in range(cycles):
        verdicts.append(record_unexpected_exit(history, info, now))
        now += 0.05
        verdict = record_unexpected_exit(history, info, now)
        verdicts.append(verdict)
        if verdict is not B:
            break
        now += info.retry_in
        record_retry(history, now)
        now += 0.05
    return verdicts, history, now


def test_regression_retries_accumulate_when_retry_in_exceeds_window() -> None:
    # gaffer reset retries whenever the span of the history exceeded the window, which the
    # retry_in wait always does with its defaults: it retried every 7 s forever.
    verdicts, history, _ = crash_loop(GAFFER, cycles=10)
    assert verdicts == [R, B] * 5 + [R, F]
    assert history.retries == 0  # reset after giving up, ready for a manual start


def test_retries_count_each_backoff() -> None:
    history = FlapHistory()
    for i in range(3):
        record_unexpected_exit(history, GAFFER, 10 * i)
        assert record_unexpected_exit(history, GAFFER, 10 * i + 0.1) is B
        record_retry(history, 10 * i + 7.1)
        assert history.retries == i + 1


def test_retries_reset_after_stable_after() -> None:
    info = FlappingInfo(attempts=2, window=1, retry_in=1, max_retry=2, stable_after=10)
    history = FlapHistory()
    assert [record_unexpected_exit(history, info, t) for t in (0, 0.1)] == [R, B]
    record_retry(history, 1.1)
    assert [record_unexpected_exit(history, info, t) for t in (1.2, 1.3)] == [R, B]
    assert history.retries == 2
    record_retry(history, 2.3)
    # stable for 10 s after the retry: the next flap starts counting from zero again
    assert [record_unexpected_exit(history, info, t) for t in (12.3, 12.35)] == [R, B]
    assert history.retries == 1


def test_not_stable_yet_keeps_counting() -> None:
    info = FlappingInfo(attempts=2, window=1, retry_in=1, max_retry=1, stable_after=10)
    history = FlapHistory()
    assert [record_unexpected_exit(history, info, t) for t in (0, 0.1)] == [R, B]
    record_retry(history, 1.1)
    # 9.9 s after the retry is not yet stable: the second flap is fatal
    assert [record_unexpected_exit(history, info, t) for t in (11.0, 11.05)] == [R, F]


def test_slow_crashes_between_flaps_delay_the_reset() -> None:
    info = FlappingInfo(attempts=2, window=1, retry_in=1, max_retry=1, stable_after=10)
    history = FlapHistory()
    assert [record_unexpected_exit(history, info, t) for t in (0, 0.1)] == [R, B]
    record_retry(history, 1.1)
    # one slow crash every 5 s: never 10 s quiet, so the retry is still counted
    assert [record_unexpected_exit(history, info, t) for t in (6, 11, 16, 16.5)] == [R, R, R, F]


def test_history_reset() -> None:
    history = FlapHistory()
    record_unexpected_exit(history, GAFFER, 0)
    record_unexpected_exit(history, GAFFER, 0.1)
    history.reset()
    assert (list(history.exits), history.retries, history.quiet_since) == ([], 0, None)


OK, FAIL, KILLED = ExitStatus(0, None), ExitStatus(1, None), ExitStatus(None, 9)


@pytest.mark.parametrize(
    ("policy", "status", "restart"),
    [
        ("always", OK, True),  # always: even code 0 is unexpected and restarted
        ("always", FAIL, True),
        ("always", KILLED, True),
        ("on-failure", OK, False),  # on-failure: a clean exit stays down
        ("on-failure", FAIL, True),
        ("on-failure", KILLED, True),  # a signal death is a failure
        ("never", OK, False),
        ("never", FAIL, False),
        ("never", KILLED, False),
    ],
)
def test_wants_restart_matrix(policy: str, status: ExitStatus, restart: bool) -> None:
    assert wants_restart(policy, status) is restart


def test_wall_clock_jumps_are_irrelevant(monkeypatch: pytest.MonkeyPatch) -> None:
    # Decisions read only the injected clock: a wall clock jumping a day either way (or any
    # call to a real clock at all) cannot change them.
    def boom() -> float:
        raise AssertionError("policy read a real clock")

    monkeypatch.setattr(time, "time", boom)
    monkeypatch.setattr(time, "monotonic", boom)
    expected, _, _ = crash_loop(GAFFER, cycles=10, start=0.0)
    jumped, _, _ = crash_loop(GAFFER, cycles=10, start=86400.0 * 365)
    assert jumped == expected == [R, B] * 5 + [R, F]
