"""EventEmitter and EventQueue on both loops (gaffer-spec.md §4 and its defects)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from honcho_uv.core.events import EventEmitter, EventQueue


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __call__(self, evtype: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((evtype, args))
        self.kwargs = kwargs

    @property
    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


async def settle() -> None:
    """Let the emitter drain (delivery happens on a later loop iteration)."""
    for _ in range(3):
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("pattern", "published", "delivered"),
    [
        ("a", ["a", "a.b", "a.b.c", "ab", "b.a"], ["a", "a.b", "a.b.c"]),  # prefix at component boundaries only
        ("a.b", ["a", "a.b", "a.b.c", "a.bc"], ["a.b", "a.b.c"]),  # middle prefix
        ("a.b.c", ["a.b", "a.b.c", "a.b.c.d"], ["a.b.c", "a.b.c.d"]),  # full name and below
        ("a.b.", ["a.b.c"], ["a.b.c"]),  # a trailing dot is ignored
        (".", ["a", "x.y", "z"], ["a", "x.y", "z"]),  # '.' is everything
        ("proc", ["proc.web.exit", "exit"], ["proc.web.exit"]),  # gaffer delivered this one twice
    ],
)
async def test_prefix_matching_delivers_once(pattern: str, published: list[str], delivered: list[str]) -> None:
    emitter = EventEmitter(asyncio.get_running_loop())
    rec = Recorder()
    emitter.subscribe(pattern, rec)
    for name in published:
        emitter.publish(name, {"n": name})
    await settle()
    assert rec.names == delivered


async def test_each_pattern_and_wildcard_get_one_copy() -> None:
    emitter = EventEmitter(asyncio.get_running_loop())
    recs = {p: Recorder() for p in (".", "a", "a.b", "a.b.c")}
    for pattern, rec in recs.items():
        emitter.subscribe(pattern, rec)
    emitter.publish("a.b.c", 1, key="v")
    await settle()
    for rec in recs.values():
        assert rec.calls == [("a.b.c", (1,))] and rec.kwargs == {"key": "v"}


async def test_same_listener_on_two_patterns_gets_two_copies() -> None:
    # Documented: once per event *and pattern*.
    emitter = EventEmitter(asyncio.get_running_loop())
    rec = Recorder()
    emitter.subscribe("a", rec)
    emitter.subscribe("a", rec)  # the same subscription twice is one subscription
    emitter.subscribe("a.b", rec)
    emitter.publish("a.b")
    await settle()
    assert rec.names == ["a.b", "a.b"]


async def test_regression_unsubscribe_wildcard_works() -> None:
    # gaffer's unsubscribe(".") was a no-op, so stats and stream listeners never went away.
    emitter = EventEmitter(asyncio.get_running_loop())
    rec = Recorder()
    emitter.subscribe(".", rec)
    emitter.publish("x")
    await settle()
    emitter.unsubscribe(".", rec)
    emitter.publish("y")
    emitter.unsubscribe(".", rec)  # again: ignored
    emitter.unsubscribe("never", rec)  # unknown: ignored
    await settle()
    assert rec.names == ["x"]


async def test_subscribe_once() -> None:
    emitter = EventEmitter(asyncio.get_running_loop())
    once, alias, forever = Recorder(), Recorder(), Recorder()
    emitter.subscribe_once("a", once)
    emitter.once("a", alias)  # gaffer's alias pointed at subscribe
    emitter.subscribe("a", forever)
    emitter.publish("a.1")
    emitter.publish("a.2")
    await settle()
    assert once.names == ["a.1"] and alias.names == ["a.1"] and forever.names == ["a.1", "a.2"]


async def test_unsubscribe_once_needs_the_once_flag() -> None:
    emitter = EventEmitter(asyncio.get_running_loop())
    rec = Recorder()
    emitter.subscribe_once("a", rec)
    emitter.unsubscribe("a", rec)  # the plain subscription does not exist
    emitter.publish("a")
    await settle()
    assert rec.names == ["a"]
    emitter.subscribe_once("a", rec)
    emitter.unsubscribe_once("a", rec)
    emitter.publish("a")
    await settle()
    assert rec.names == ["a"]


async def test_publish_never_calls_listeners_inline() -> None:
    emitter = EventEmitter(asyncio.get_running_loop())
    rec = Recorder()
    emitter.subscribe(".", rec)
    emitter.publish("a")
    assert rec.calls == []
    await settle()
    assert rec.names == ["a"]


async def test_thread_safe_publish_delivered_on_the_loop_in_order() -> None:
    loop = asyncio.get_running_loop()
    emitter = EventEmitter(loop)
    got: list[int] = []
    threads: set[int] = set()
    done = asyncio.Event()

    def listener(evtype: str, n: int) -> None:
        got.append(n)
        threads.add(threading.get_ident())
        if n == 1999:
            done.set()

    emitter.subscribe("t", listener)
    worker = threading.Thread(target=lambda: [emitter.publish("t.x", i) for i in range(2000)])
    worker.start()
    await asyncio.wait_for(done.wait(), 10)
    worker.join()
    assert got == list(range(2000))
    assert threads == {threading.get_ident()}


async def test_bounded_queue_drops_oldest_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    emitter = EventEmitter(asyncio.get_running_loop(), max_queue=10)
    rec = Recorder()
    emitter.subscribe(".", rec)
    with caplog.at_level(logging.WARNING, logger="honcho_uv.events"):
        for i in range(25):
            emitter.publish("e", i)
    await settle()
    assert emitter.dropped == 15
    assert [c[1][0] for c in rec.calls] == list(range(15, 25))
    assert sum("dropping" in r.message for r in caplog.records) == 1  # one warning per burst


async def test_event_queue_drop_oldest_with_counter() -> None:
    emitter = EventEmitter(asyncio.get_running_loop())
    with emitter.queue("job", maxsize=3) as queue:
        assert isinstance(queue, EventQueue)
        for i in range(5):
            emitter.publish("job.x", i)
        emitter.publish("other", 99)
        await settle()
        assert queue.dropped == 2
        assert [await queue.get() for _ in range(3)] == [("job.x", (i,)) for i in (2, 3, 4)]
    assert queue.closed
    with pytest.raises(EOFError):
        await queue.get()
    emitter.publish("job.y", 5)  # unsubscribed by close
    await settle()
    assert not queue._items


async def test_event_queue_async_iteration_ends_on_close() -> None:
    emitter = EventEmitter(asyncio.get_running_loop())
    queue = emitter.queue(".")
    got = []

    async def consume() -> None:
        async for _evtype, args in queue:
            got.append(args[0])

    task = asyncio.create_task(consume())
    for i in range(3):
        emitter.publish("e", i)
    await settle()
    queue.close()
    await asyncio.wait_for(task, 5)
    assert got == [0, 1, 2]


async def test_raising_listener_does_not_break_others(caplog: pytest.LogCaptureFixture) -> None:
    emitter = EventEmitter(asyncio.get_running_loop())
    before, after = Recorder(), Recorder()

    def bad(evtype: str, *args: Any) -> None:
        raise ValueError("listener bug")

    emitter.subscribe(".", before)
    emitter.subscribe("a", bad)
    emitter.subscribe("a.b", after)
    with caplog.at_level(logging.ERROR, logger="honcho_uv.events"):
        emitter.publish("a.b")
        emitter.publish("a.b")
        await settle()
    assert before.names == ["a.b", "a.b"] and after.names == ["a.b", "a.b"]
    assert sum("listener" in r.message for r in caplog.records) == 2  # logged, still subscribed


async def test_publish_from_a_listener_goes_to_the_next_round() -> None:
    emitter = EventEmitter(asyncio.get_running_loop())
    rec = Recorder()

    def chain(evtype: str, n: int) -> None:
        if n < 3:
            emitter.publish("c", n + 1)

    emitter.subscribe("c", chain)
    emitter.subscribe(".", rec)
    emitter.publish("c", 0)
    emitter.publish("d", 0)
    for _ in range(10):
        await asyncio.sleep(0)
    assert rec.calls == [("c", (0,)), ("d", (0,)), ("c", (1,)), ("c", (2,)), ("c", (3,))]


async def test_publish_before_bind_is_delivered_after() -> None:
    emitter = EventEmitter()
    rec = Recorder()
    emitter.subscribe(".", rec)
    emitter.publish("early")
    emitter.bind(asyncio.get_running_loop())
    await settle()
    assert rec.names == ["early"]


async def test_close_drops_everything() -> None:
    emitter = EventEmitter(asyncio.get_running_loop())
    rec = Recorder()
    emitter.subscribe(".", rec)
    emitter.publish("a")
    emitter.close()
    emitter.publish("b")
    await settle()
    assert rec.calls == []
