"""Regression (issue 14): a stats round of 5,000 processes took 0.14 s and ran every 0.1 s on
the loop, so sampling alone kept a core and the loop busy. The ticker now waits three times
as long as its last round took (a quarter of the time at most), and no less than 0.1 s."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from honcho_uv.core import stats


class _SlowSampler:
    """Each round "takes" *cost* seconds of the injected clock (no real sleep)."""

    def __init__(self, clock: list[float], cost: float):
        self.clock, self.cost, self.rounds = clock, cost, 0

    def sample_many(self, targets: list[tuple[int, float | None]]) -> list[dict[str, Any] | None]:
        self.rounds += 1
        self.clock[0] += self.cost
        return [{"os_pid": pid} for pid, _ in targets]

    def forget(self, pid: int, create_time: float | None) -> None:
        pass


@pytest.mark.parametrize("cost,delay", [(0.001, stats.SAMPLE_INTERVAL_S), (0.2, 0.6)])
async def test_the_next_round_waits_three_times_as_long_as_the_last_one_took(cost: float, delay: float) -> None:
    loop = asyncio.get_running_loop()
    clock = [0.0]
    sampler = _SlowSampler(clock, cost)
    ticker = stats.StatsTicker(loop, sampler, lambda key, sample: None, lambda key: None,  # type: ignore[arg-type]
                               now=lambda: clock[0])
    ticker.add("p", 1, None, {})
    try:
        assert ticker._timer is not None
        ticker._timer.cancel()
        ticker._tick()  # one round now, as the timer would
        assert sampler.rounds == 1 and ticker._timer is not None
        assert ticker._timer.when() - loop.time() == pytest.approx(delay, abs=0.02)
    finally:
        ticker.close()
