"""Sizes as people write them (``512k``, ``10M``, ``1G``: powers of 1024, or bytes), and the
size limits both ends of the API agree on."""

from __future__ import annotations

import re

from honcho_uv.errors import InvalidOption

__all__ = ["MAX_LOG_LINES", "parse_size"]

#: Lines per ``/logs`` request: the API serves at most this many, ``hu logs -n`` refuses more.
MAX_LOG_LINES = 10000

_SIZE_RE = re.compile(r"\A\s*(\d+)\s*([kKmMgG]?)[bB]?\s*\Z")


def parse_size(text: str | int, option: str = "--log-max-size") -> int:
    """``"10M"`` -> 10485760 (k, M and G are powers of 1024; a bare number is bytes).

    Raises:
        InvalidOption: not a size, or below 1 KiB.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        size = text
    else:
        match = _SIZE_RE.match(str(text))
        if match is None:
            raise InvalidOption(option, f"expected a size like 512k, 10M or 1G, got {str(text)[:20]!r}")
        size = int(match.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[match.group(2).lower()]
    if size < 1024:
        raise InvalidOption(option, f"must be at least 1k, got {text!r}")
    return size
