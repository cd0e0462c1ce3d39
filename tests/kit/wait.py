"""Deadlines, not sleeps: poll a condition until it holds or a deadline passes.

``wait_for`` is for synchronous tests (it sleeps between polls); ``until`` is for coroutines
(it yields to the loop between polls, so the code under test keeps running). Both return the
predicate's first truthy value and raise :class:`AssertionError` naming *what* on timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

__all__ = ["steady", "until", "wait_for"]


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "", *, interval: float = 0.02) -> Any:
    """Poll *predicate* every *interval* seconds until it returns a truthy value (returned)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


async def until(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "", *,
                interval: float = 0.01) -> Any:
    """:func:`wait_for` on the running loop. The predicate may return an awaitable (a
    coroutine predicate): it is awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(interval)


async def steady(read: Callable[[], Any], *, polls: int = 5, interval: float = 0.05, timeout: float = 10.0,
                 what: str = "") -> Any:
    """The value of *read* once it holds still across *polls* consecutive reads *interval*
    seconds apart (a count that stopped moving: a blocked writer, settled descriptors)."""
    deadline = time.monotonic() + timeout
    value, same = read(), 1
    while same < polls:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or read} still changing after {timeout}s (last {value!r})")
        await asyncio.sleep(interval)
        current = read()
        value, same = current, same + 1 if current == value else 1
    return value
