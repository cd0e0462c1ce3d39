"""The one bounded drop-oldest queue: for event consumers and for every HTTP stream subscriber.

Guarantees:

* the producer side (:meth:`Feed.put`) is synchronous, O(1) and never blocks: it is called
  from the Manager's output sink and from event and stats listeners, so a slow consumer can
  never slow the console, the Manager or another consumer;
* the queue is bounded by items and by bytes (``bytes`` items count their length, or what
  the *size* function says, e.g. for a tuple carrying a chunk of output); when full
  the **oldest** items are dropped and counted in ``dropped``; a consumer that keeps up loses
  nothing;
* waiting is cheap, because a busy stream wakes its consumer thousands of times a second: a
  wait is one future, and the timeout of a wait is one timer per feed, re-armed only when it
  fires early (not an ``asyncio.wait_for`` task and timer per wait);
* after :meth:`Feed.close`, waiters get what is queued, then ``EOFError``.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_ITEMS", "Feed"]

DEFAULT_MAX_ITEMS = 4096
DEFAULT_MAX_BYTES = 8 << 20


def _byte_size(item: Any) -> int:
    return len(item) if isinstance(item, bytes) else 0


class Feed:
    """A bounded drop-oldest queue for one consumer (on one loop).

    Invariants: ``len(_items) <= max_items``; ``_bytes`` is the byte size (*size*) of the queued items
    and stays <= ``max_bytes`` except for a single item larger than it; each drop increments
    ``dropped``; ``_waiter`` is the pending future of the one consumer waiting, else None, and
    ``_timer`` (if any) fires at or before ``_deadline``, the end of that wait's timeout.
    """

    def __init__(self, max_items: int = DEFAULT_MAX_ITEMS, max_bytes: int = DEFAULT_MAX_BYTES,
                 size: Callable[[Any], int] = _byte_size):
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._size = size
        self._items: collections.deque[Any] = collections.deque()
        self._bytes = 0
        self._waiter: asyncio.Future[None] | None = None
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.dropped = 0
        self.delivered = 0
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any) -> None:
        """Queue *item* (dropping the oldest when full); ignored once closed."""
        if self.closed:
            return
        self._items.append(item)
        self._bytes += self._size(item)
        while len(self._items) > 1 and (len(self._items) > self.max_items or self._bytes > self.max_bytes):
            self._bytes -= self._size(self._items.popleft())
            self.dropped += 1
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # nobody waits: the next wait arms a timer again
        loop = waiter.get_loop()
        if loop.time() >= self._deadline:
            waiter.set_result(None)
        else:
            self._timer = loop.call_at(self._deadline, self._on_timer)

    async def _wait(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        if timeout is not None:
            self._deadline = loop.time() + timeout
            if self._timer is None:
                self._timer = loop.call_at(self._deadline, self._on_timer)
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def batch(self, timeout: float | None = None) -> list[Any]:
        """Everything queued, waiting up to *timeout* for something (``[]`` on timeout).

        Raises:
            EOFError: the feed is closed and drained.
        """
        if not self._items:
            if self.closed:
                raise EOFError
            await self._wait(timeout)
            if not self._items:
                if self.closed:
                    raise EOFError
                return []
        items = list(self._items)
        self._items.clear()
        self._bytes = 0
        self.delivered += len(items)
        return items

    async def get(self) -> Any:
        """The oldest item, waiting for one.

        Raises:
            EOFError: the feed is closed and drained.
        """
        while not self._items:
            if self.closed:
                raise EOFError
            await self._wait(None)
        item = self._items.popleft()
        self._bytes -= self._size(item)
        self.delivered += 1
        return item

    def close(self) -> None:
        """End the feed: a waiting consumer gets what is queued, then EOFError."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake()
