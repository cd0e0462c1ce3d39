"""The name grammar of process types and instances: the one place it is written.

The Procfile parser, the CLI and the HTTP API all check names through :func:`validate_name`
and :func:`split_instance_name`.
"""

from __future__ import annotations

import re

from honcho_uv.errors import InvalidOption

__all__ = ["NAME_PATTERN", "split_instance_name", "validate_name"]

#: A process type name. Instance names add ``.N`` (N >= 1, at most six digits).
NAME_PATTERN = r"[A-Za-z0-9_-]+"
_NAME_RE = re.compile(rf"\A{NAME_PATTERN}\Z")
_INSTANCE_RE = re.compile(rf"\A({NAME_PATTERN})(?:\.([1-9][0-9]{{0,5}}))?\Z")


def validate_name(name: str, what: str = "process name") -> str:
    """Return *name* if it is a valid process type name, else raise :class:`InvalidOption`
    naming *what*."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidOption(what, f"invalid name {str(name)[:60]!r} (use letters, digits, '_' and '-')")
    return name


def split_instance_name(name: str, what: str = "process name") -> tuple[str, int | None]:
    """``"web.2"`` -> ``("web", 2)``; ``"web"`` -> ``("web", None)``.

    Raises:
        InvalidOption: if *name* is not a type name with an optional ``.N`` suffix (N >= 1).
    """
    match = _INSTANCE_RE.match(name) if isinstance(name, str) else None
    if match is None:
        raise InvalidOption(what, f"invalid name {str(name)[:60]!r} (expected NAME or NAME.N)")
    type_name, number = match.groups()
    return type_name, int(number) if number else None
