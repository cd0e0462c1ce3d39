"""Seconds as the formats write them.

hu keeps durations as float seconds (``--timeout 2.5``, ``ready_timeout = 1.5``); the formats
take either a decimal (systemd, gafferd, Compose durations) or whole seconds only
(supervisord, launchd, Kubernetes). Guarantees:

* :func:`check_timeout` accepts a finite number above 0 and at most :data:`MAX_TIMEOUT`, kept
  to the millisecond (rounded up), as an ``int`` when whole;
* :func:`decimal_seconds` never writes an exponent (``1e-05``, ``1e+06``), which systemd and
  Go durations do not read, and loses no digit Python would print;
* :func:`whole_seconds` rounds *up*: a format that waits a little longer than asked is safe,
  one that kills sooner is not.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal

from honcho_uv.errors import InvalidOption

__all__ = ["DEFAULT_TIMEOUT", "MAX_TIMEOUT", "check_timeout", "decimal_seconds", "duration", "whole_seconds"]

DEFAULT_TIMEOUT = 5
# Above 0, since TimeoutStopSec=0 means "wait forever" to systemd; small enough that every
# format's integer (launchd, supervisord, Kubernetes) stays in range.
MAX_TIMEOUT = 1_000_000
_MILLISECOND = Decimal("0.001")


def _exact(seconds: float) -> Decimal:
    # repr() is the shortest text that reads back as the same float: 1.1 stays 1.1, not
    # the 1.100000000000000088... a plain Decimal(float) would give.
    return Decimal(repr(float(seconds)))


def check_timeout(seconds: float | None, option: str) -> float:
    """The stop timeout *seconds* (None: :data:`DEFAULT_TIMEOUT`), checked and rounded up to
    the millisecond (systemd would read a smaller fraction as 0, "no timeout").

    Raises:
        InvalidOption: not a finite number above 0 and at most :data:`MAX_TIMEOUT`, naming *option*.
    """
    if seconds is None:
        return DEFAULT_TIMEOUT
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
        raise InvalidOption(option, f"must be a number of seconds above 0 and at most {MAX_TIMEOUT}, "
                                    f"got {seconds!r}")
    exact = _exact(seconds).quantize(_MILLISECOND, rounding=ROUND_CEILING)
    return int(exact) if exact == exact.to_integral_value() else float(exact)


def decimal_seconds(seconds: float) -> str:
    """``5``, ``2.5``, ``0.001``: *seconds* as a plain decimal."""
    exact = _exact(seconds)
    if exact == exact.to_integral_value():
        return str(int(exact))
    return format(exact.normalize(), "f")


def whole_seconds(seconds: float, minimum: int = 1) -> int:
    """*seconds* rounded up to a whole number, at least *minimum*."""
    return max(minimum, math.ceil(seconds))


def duration(seconds: float) -> str:
    """``10s``, ``1.5s``: a Compose / Go duration."""
    return f"{decimal_seconds(seconds)}s"
