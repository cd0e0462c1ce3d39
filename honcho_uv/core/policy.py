"""Restart and flapping decisions as pure functions of (history, now).

The Manager owns the clock (``time.monotonic`` unless a test injects one) and the timers;
this module only decides. See DESIGN.md "Restart policy and flapping" and gaffer-spec.md
§2.4 for gaffer's rule and its defect (retries never accumulated when retry_in > window).
"""

from __future__ import annotations

import collections
import enum
from dataclasses import dataclass, field

from honcho_uv.models import ExitStatus, FlappingInfo

__all__ = ["FlapHistory", "Verdict", "record_retry", "record_unexpected_exit", "wants_restart"]


class Verdict(enum.Enum):
    """What to do after an unexpected exit that the restart policy wants restarted."""

    RESTART = "restart"  # restart the instance now
    BACKOFF = "backoff"  # flapping: stop the template, retry after retry_in
    FATAL = "fatal"  # flapping after max_retry retries: give up


def wants_restart(policy: str, status: ExitStatus) -> bool:
    """Does restart policy *policy* restart a process that ended with *status*?

    ``always`` restarts every unexpected exit (code 0 included), ``on-failure`` every exit that
    is not code 0 (a signal death is a failure), ``never`` none.
    """
    if policy == "always":
        return True
    if policy == "on-failure":
        return not status.success
    return False


@dataclass
class FlapHistory:
    """Per-template flapping memory.

    Invariants: ``exits`` holds at most ``attempts`` monotonic timestamps, oldest first;
    ``retries`` counts BACKOFF cycles since the template was last stable; ``quiet_since`` is
    the later of the last unexpected exit and the last retry start.
    """

    exits: collections.deque[float] = field(default_factory=collections.deque)
    retries: int = 0
    quiet_since: float | None = None

    def reset(self) -> None:
        self.exits.clear()
        self.retries = 0
        self.quiet_since = None


def record_unexpected_exit(history: FlapHistory, info: FlappingInfo | None, now: float) -> Verdict:
    """Record an unexpected exit at *now* and decide.

    *attempts* exits within *window* seconds is a flap. A flap is BACKOFF while fewer than
    *max_retry* retries were spent since the template was last stable (``stable_after``
    seconds without an unexpected exit), FATAL after. Without *info* (flapping off) the
    verdict is always RESTART.
    """
    if info is None:
        return Verdict.RESTART
    if history.quiet_since is not None and now - history.quiet_since >= info.stable_after:
        history.retries = 0
        history.exits.clear()
    history.quiet_since = now
    history.exits.append(now)
    while len(history.exits) > info.attempts:
        history.exits.popleft()
    if len(history.exits) < info.attempts or history.exits[-1] - history.exits[0] > info.window:
        return Verdict.RESTART
    history.exits.clear()
    if history.retries < info.max_retry:
        history.retries += 1
        return Verdict.BACKOFF
    history.retries = 0
    return Verdict.FATAL


def record_retry(history: FlapHistory, now: float) -> None:
    """A BACKOFF retry starts the template again at *now*: the quiet period restarts."""
    history.quiet_since = now
