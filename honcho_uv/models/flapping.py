"""gaffer's flapping rule, as a validated value."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from honcho_uv.errors import InvalidOption

__all__ = ["FlappingInfo", "is_seconds"]

#: The order of the values in the ini and flag forms (``flapping = 2 1 7 5``).
_POSITIONAL = "'attempts window retry_in max_retry'"


def is_seconds(value: Any) -> bool:
    """A finite number of seconds >= 0 (JSON's NaN and Infinity are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


@dataclass(frozen=True)
class FlappingInfo:
    """gaffer's flapping rule: *attempts* unexpected exits within *window* seconds is a flap.

    A flap puts the template in BACKOFF for *retry_in* seconds; the flap after *max_retry*
    retries makes it FATAL. Retries reset after *stable_after* seconds with no unexpected exit
    (gaffer reset them on any slow crash, so it never gave up; see gaffer-spec.md §2.4).
    """

    attempts: int = 2
    window: float = 1.0
    retry_in: float = 7.0
    max_retry: int = 5
    stable_after: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or isinstance(self.attempts, bool) or self.attempts < 1:
            raise InvalidOption("flapping.attempts", "must be a whole number >= 1")
        if not isinstance(self.max_retry, int) or isinstance(self.max_retry, bool) or self.max_retry < 0:
            raise InvalidOption("flapping.max_retry", "must be a whole number >= 0")
        for name in ("window", "retry_in", "stable_after"):
            if not is_seconds(getattr(self, name)):
                raise InvalidOption(f"flapping.{name}", "must be a finite number of seconds >= 0")

    @classmethod
    def coerce(cls, value: Any, option: str = "flapping") -> FlappingInfo | None:
        """Accept a FlappingInfo, a dict, a sequence ``(attempts, window, retry_in, max_retry)``
        with an optional fifth ``stable_after``, a string ``"2 1 7 5"`` (the gafferd ini form;
        commas work too), True (defaults) or None/False (off).

        A dict names its keys, so the keys it leaves out take their defaults; a sequence or a
        string must give all four values (or five): ``"3 2"`` is an error, not a rule with
        two values guessed. Errors are :class:`InvalidOption` naming *option* (``flapping``
        for a template field, ``--flapping`` for the flag) or the bad field.
        """
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, FlappingInfo):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {f.name for f in fields(cls)}
            if unknown:
                raise InvalidOption(option, f"unknown key(s) {', '.join(sorted(unknown))}")
            return cls(**value)
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if isinstance(value, Sequence):
            if len(value) not in (4, 5):
                raise InvalidOption(option, f"expected 4 values, {_POSITIONAL} (or a fifth, stable_after), "
                                            f"got {len(value)}: {' '.join(map(str, value))[:60]!r}")
            try:
                # Each position takes the type of its field's default (attempts and max_retry
                # are whole numbers), so adding a field never shifts another's type.
                kw = {f.name: _field_type(f.default)(float(v)) for f, v in zip(fields(cls), value, strict=False)}
            except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf); ValueError: int(nan)
                raise InvalidOption(option, f"expected {_POSITIONAL} (finite numbers)") from None
            return cls(**kw)  # type: ignore[arg-type]  # each value has its field's type
        raise InvalidOption(option, f"cannot read {value!r}")


def _field_type(default: object) -> type[int] | type[float]:
    """int for a field whose default is an int, else float."""
    return int if isinstance(default, int) else float
