"""EventEmitter: dotted topics, prefix subscription, thread-safe publish, bounded queues.

Design note. gaffer's emitter (gaffer-spec.md §4) had four defects this one fixes:
``unsubscribe(".")`` never worked; subscribers of a bare first component got every
event twice; it was not thread-safe although documented so; its bounded queue dropped
events silently. Here:

* ``publish`` may be called from any thread; delivery always happens on the loop, in
  publish order, on a later loop iteration (never inside ``publish``);
* publishing ``a.b.c`` reaches subscribers of ``a``, ``a.b``, ``a.b.c`` and ``"."``,
  each listener once per event and pattern;
* an event may have alias topics (``publish("exit", msg, also=("proc.web.exit",))``): it is
  queued once, reaches the patterns of every topic (each with the topic that matched it), and
  ``"."`` only through the first: a ``"."`` subscriber sees each change once and never has
  to filter copies;
* the pending queue is bounded; when full the oldest event is dropped and ``dropped``
  counts it (and a warning is logged once per burst);
* :meth:`EventEmitter.queue` gives an async consumer its own bounded drop-oldest queue
  with a drop counter, so a slow consumer (an HTTP client) never stalls anyone else.

Events notify; they never drive control flow (the Manager decides restarts itself).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from honcho_uv.core.feed import Feed

__all__ = ["EventEmitter", "EventQueue", "on_loop_thread"]

log = logging.getLogger(__name__)

Listener = Callable[..., Any]
WILDCARD = "."


def _patterns(evtype: str) -> list[str]:
    """``"a.b.c"`` -> ``["a", "a.b", "a.b.c"]``."""
    parts = evtype.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


class EventQueue(Feed):
    """A bounded queue of ``(evtype, args)`` for one async consumer; drops the oldest when full.

    Iterate with ``async for evtype, args in queue``; ``dropped`` counts what was lost.
    Close with :meth:`close` (or use as a context manager) to unsubscribe. It is a
    :class:`~honcho_uv.core.feed.Feed` subscribed to one pattern.
    """

    def __init__(self, emitter: EventEmitter, pattern: str, maxsize: int):
        super().__init__(max_items=maxsize)
        self._emitter = emitter
        self.pattern = pattern
        emitter.subscribe(pattern, self._put)

    def _put(self, evtype: str, *args: Any) -> None:
        self.put((evtype, args))

    def __aiter__(self) -> EventQueue:
        return self

    async def __anext__(self) -> tuple[str, tuple[Any, ...]]:
        try:
            item: tuple[str, tuple[Any, ...]] = await self.get()
        except EOFError:
            raise StopAsyncIteration from None
        return item

    def close(self) -> None:
        if not self.closed:
            self._emitter.unsubscribe(self.pattern, self._put)
        super().close()

    def __enter__(self) -> EventQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventEmitter:
    """Publish/subscribe on dotted topics, delivered on an asyncio loop.

    Args:
        loop: the loop that delivers events; may be bound later with :meth:`bind`.
        max_queue: events that may wait for delivery; older ones are dropped past it.

    Listeners are called as ``listener(evtype, *args, **kwargs)``. A listener that raises is
    logged and stays subscribed (a once-listener is removed after its first call either way).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, max_queue: int = 10000):
        self._loop = loop
        self._lock = threading.Lock()  # guards _listeners; publish/subscribe may come from any thread
        # pattern -> {(once, listener): None}; dicts keep subscription order.
        self._listeners: dict[str, dict[tuple[bool, Listener], None]] = {}
        # Invariant: only touched on the loop thread (threads go through call_soon_threadsafe).
        # Items: (topics, args, kwargs); topics[0] is the primary topic, the rest its aliases.
        self._pending: collections.deque[tuple[tuple[str, ...], tuple[Any, ...], dict[str, Any]]] = (
            collections.deque(maxlen=max_queue))
        self._drain_scheduled = False
        self._warned_drop = False
        self.dropped = 0
        self.closed = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on *loop* from now on (events published before are delivered there)."""
        self._loop = loop
        if self._pending:
            self._schedule_drain()

    # -- subscription ---------------------------------------------------------------------

    def subscribe(self, evtype: str, listener: Listener, once: bool = False) -> None:
        """Call *listener* for *evtype* and every event below it (``"."`` = all events)."""
        key = self._normalise(evtype)
        with self._lock:
            self._listeners.setdefault(key, {})[(once, listener)] = None

    on = subscribe

    def subscribe_once(self, evtype: str, listener: Listener) -> None:
        """Like :meth:`subscribe`, removed after the first delivery."""
        self.subscribe(evtype, listener, once=True)

    once = subscribe_once

    def unsubscribe(self, evtype: str, listener: Listener, once: bool = False) -> None:
        """Remove a subscription (``"."`` included); unknown subscriptions are ignored."""
        key = self._normalise(evtype)
        with self._lock:
            listeners = self._listeners.get(key)
            if listeners is not None:
                listeners.pop((once, listener), None)
                if not listeners:
                    del self._listeners[key]

    def unsubscribe_once(self, evtype: str, listener: Listener) -> None:
        self.unsubscribe(evtype, listener, once=True)

    def queue(self, evtype: str = WILDCARD, maxsize: int = 1000) -> EventQueue:
        """A bounded drop-oldest :class:`EventQueue` subscribed to *evtype* (call on the loop)."""
        return EventQueue(self, evtype, maxsize)

    @staticmethod
    def _normalise(evtype: str) -> str:
        if evtype == WILDCARD:
            return WILDCARD
        return evtype.rstrip(".")

    # -- publishing -----------------------------------------------------------------------

    def publish(self, evtype: str, *args: Any, also: Sequence[str] = (), **kwargs: Any) -> None:
        """Queue *evtype* (and its alias topics *also*) for delivery on the loop, once.

        Safe from any thread; never calls listeners itself.
        """
        if self.closed:
            return
        topics = (evtype, *also)
        loop = self._loop
        if loop is None or on_loop_thread(loop):
            self._enqueue(topics, args, kwargs)
        else:
            try:
                loop.call_soon_threadsafe(self._enqueue, topics, args, kwargs)
            except RuntimeError:  # loop closed: nobody is left to deliver to
                pass

    def _enqueue(self, topics: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
            if not self._warned_drop:
                self._warned_drop = True
                log.warning("event queue full: dropping the oldest events (%d dropped)", self.dropped)
        self._pending.append((topics, args, kwargs))
        self._schedule_drain()

    def _schedule_drain(self) -> None:
        if not self._drain_scheduled and self._loop is not None and not self._loop.is_closed():
            self._drain_scheduled = True
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        self._drain_scheduled = False
        self._warned_drop = False
        # Deliver only what is queued now; events published by listeners go to the next round.
        for _ in range(len(self._pending)):
            topics, args, kwargs = self._pending.popleft()
            self._deliver(topics, args, kwargs)

    def _deliver(self, topics: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        # Each pattern matched by any topic of the event, once, with the first topic that
        # matched it; "." matches the primary topic only, so "." listeners see each event once.
        patterns: dict[str, str] = {WILDCARD: topics[0]}
        for evtype in topics:
            for pattern in _patterns(evtype):
                patterns.setdefault(pattern, evtype)
        with self._lock:
            targets = [(pattern, evtype, key) for pattern, evtype in patterns.items()
                       for key in self._listeners.get(pattern, ())]
        for pattern, evtype, (once, listener) in targets:
            if once:
                self.unsubscribe(pattern, listener, once=True)
            try:
                listener(evtype, *args, **kwargs)
            except Exception:
                log.exception("event listener %r failed on %s", listener, evtype)

    def close(self) -> None:
        """Drop every subscription and pending event; later publishes are ignored."""
        self.closed = True
        with self._lock:
            self._listeners.clear()
        self._pending.clear()


def on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    """True on *loop*'s thread, or while *loop* is not running (no other thread can be in it)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return not loop.is_running()
