"""EventEmitter: dotted topics, prefix subscription, thread-safe publish, bounded queues.

Design note. gaffer's emitter (gaffer-spec.md §4) had four defects this one fixes:
``unsubscribe(".")`` never worked; subscribers of a bare first component got every
event twice; it was not thread-safe although documented so; its bounded queue dropped
events silently. Here:

* ``publish`` may be called from any thread; delivery always happens on the loop, in
  publish order, on a later loop iteration (never inside ``publish``);
* publishing ``a.b.c`` reaches subscribers of ``a``, ``a.b``, ``a.b.c`` and ``"."``,
  each listener once per event and pattern;
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
from collections.abc import Callable
from typing import Any

__all__ = ["EventEmitter", "EventQueue"]

log = logging.getLogger(__name__)

Listener = Callable[..., Any]
WILDCARD = "."


def _patterns(evtype: str) -> list[str]:
    """``"a.b.c"`` -> ``["a", "a.b", "a.b.c"]``."""
    parts = evtype.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


class EventQueue:
    """A bounded queue of ``(evtype, args)`` for one async consumer; drops the oldest when full.

    Iterate with ``async for evtype, args in queue``; ``dropped`` counts what was lost.
    Close with :meth:`close` (or use as a context manager) to unsubscribe.
    """

    def __init__(self, emitter: EventEmitter, pattern: str, maxsize: int):
        self._emitter = emitter
        self.pattern = pattern
        # Invariant: len(_items) <= maxsize; every drop increments `dropped`.
        self._items: collections.deque[tuple[str, tuple[Any, ...]]] = collections.deque(maxlen=maxsize)
        self._wakeup: asyncio.Event = asyncio.Event()
        self.dropped = 0
        self.closed = False
        emitter.subscribe(pattern, self._put)

    def _put(self, evtype: str, *args: Any) -> None:
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append((evtype, args))
        self._wakeup.set()

    async def get(self) -> tuple[str, tuple[Any, ...]]:
        """The next event; raises ``EOFError`` once closed and drained."""
        while not self._items:
            if self.closed:
                raise EOFError
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._items.popleft()

    def __aiter__(self) -> EventQueue:
        return self

    async def __anext__(self) -> tuple[str, tuple[Any, ...]]:
        try:
            return await self.get()
        except EOFError:
            raise StopAsyncIteration from None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._emitter.unsubscribe(self.pattern, self._put)
            self._wakeup.set()

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
        self._pending: collections.deque[tuple[str, tuple[Any, ...], dict[str, Any]]] = collections.deque(
            maxlen=max_queue
        )
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

    def publish(self, evtype: str, *args: Any, **kwargs: Any) -> None:
        """Queue *evtype* for delivery on the loop. Safe from any thread; never calls listeners."""
        if self.closed:
            return
        loop = self._loop
        if loop is None or _on_loop_thread(loop):
            self._enqueue(evtype, args, kwargs)
        else:
            try:
                loop.call_soon_threadsafe(self._enqueue, evtype, args, kwargs)
            except RuntimeError:  # loop closed: nobody is left to deliver to
                pass

    def _enqueue(self, evtype: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
            if not self._warned_drop:
                self._warned_drop = True
                log.warning("event queue full: dropping the oldest events (%d dropped)", self.dropped)
        self._pending.append((evtype, args, kwargs))
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
            evtype, args, kwargs = self._pending.popleft()
            self._deliver(evtype, args, kwargs)

    def _deliver(self, evtype: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        with self._lock:
            targets = []
            for pattern in (WILDCARD, *_patterns(evtype)):
                listeners = self._listeners.get(pattern)
                if listeners:
                    targets.extend((pattern, key) for key in listeners)
        for pattern, (once, listener) in targets:
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


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return not loop.is_running()
