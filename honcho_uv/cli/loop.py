"""The one place that picks the event loop: uvloop when installed, stock asyncio otherwise.

``HU_LOOP=asyncio`` forces the stock loop (for comparisons and debugging).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "run_loop"]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    if os.environ.get("HU_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run *coro* to completion on a fresh loop (uvloop when available)."""
    factory = loop_factory()
    if hasattr(asyncio, "Runner"):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)
    if factory is not None:  # Python 3.10: no Runner
        loop = factory()
        try:
            asyncio.set_event_loop(loop)
            return loop.run_until_complete(coro)
        finally:
            asyncio.set_event_loop(None)
            loop.close()
    return asyncio.run(coro)
