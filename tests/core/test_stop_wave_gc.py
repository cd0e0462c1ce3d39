"""Regression (issue 14): full garbage collections took about a quarter of a 5,000-process
stop. A large stop wave runs without them, and gives the threshold back after."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from honcho_uv.core.context import LARGE_WAVE, NO_FULL_COLLECTIONS, stop_all


class _Table:
    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        yield


class _Stopping:
    """A process whose stop records whether the collector ran meanwhile (or fails)."""

    def __init__(self, seen: list[bool], fail: bool = False):
        self.seen, self.fail = seen, fail

    async def stop(self) -> None:
        self.seen.append(gc.isenabled() and gc.get_threshold()[2] != NO_FULL_COLLECTIONS)
        if self.fail:
            raise RuntimeError("stop failed")


@pytest.fixture
def collector_on() -> Iterator[None]:
    was, threshold = gc.isenabled(), gc.get_threshold()
    gc.enable()
    yield
    gc.set_threshold(*threshold)  # a failing test must not leave full collections off
    if not was:
        gc.disable()


@pytest.mark.parametrize("count,paused", [(LARGE_WAVE - 1, False), (LARGE_WAVE, True)])
async def test_a_large_stop_wave_pauses_the_collector_and_gives_it_back(collector_on: None, count: int,
                                                                         paused: bool) -> None:
    seen: list[bool] = []
    processes: list[Any] = [_Stopping(seen, fail=(i == 0)) for i in range(count)]
    threshold = gc.get_threshold()
    await stop_all(processes, _Table())  # type: ignore[arg-type]
    assert len(seen) == count and set(seen) == {not paused}
    assert gc.isenabled() and gc.get_threshold() == threshold


async def test_a_collector_someone_turned_off_stays_off(collector_on: None) -> None:
    gc.disable()
    seen: list[bool] = []
    processes: list[Any] = [_Stopping(seen) for _ in range(LARGE_WAVE)]
    await stop_all(processes, _Table())  # type: ignore[arg-type]
    assert set(seen) == {False} and not gc.isenabled() and gc.get_threshold()[2] != NO_FULL_COLLECTIONS


async def test_regression_overlapping_waves_give_the_threshold_back_once_both_end(collector_on: None) -> None:
    # Each wave restored what it found: when the first ended before the second, the second put
    # back the raised threshold, and full collections were off for good (review finding).
    import asyncio

    threshold = gc.get_threshold()

    class _Held:
        def __init__(self, release: asyncio.Event):
            self.release = release

        async def stop(self) -> None:
            await self.release.wait()

    first_done, second_done = asyncio.Event(), asyncio.Event()
    first_wave: list[Any] = [_Held(first_done) for _ in range(LARGE_WAVE)]
    second_wave: list[Any] = [_Held(second_done) for _ in range(LARGE_WAVE)]
    first = asyncio.create_task(stop_all(first_wave, _Table()))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    second = asyncio.create_task(stop_all(second_wave, _Table()))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    first_done.set()
    await first
    assert gc.get_threshold()[2] == NO_FULL_COLLECTIONS  # the second wave still runs
    second_done.set()
    await second
    assert gc.get_threshold() == threshold


async def test_a_cancelled_wave_gives_the_threshold_back(collector_on: None) -> None:
    import asyncio

    threshold = gc.get_threshold()

    class _Forever(_Stopping):
        async def stop(self) -> None:
            await asyncio.Event().wait()

    forever: list[Any] = [_Forever([]) for _ in range(LARGE_WAVE)]
    wave = asyncio.create_task(stop_all(forever, _Table()))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert gc.get_threshold()[2] == NO_FULL_COLLECTIONS
    wave.cancel()
    with pytest.raises(asyncio.CancelledError):
        await wave
    assert gc.get_threshold() == threshold
