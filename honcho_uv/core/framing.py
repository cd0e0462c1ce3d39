"""Bytes in, labelled lines out: the framing under the console printer.

Everything is a bytes operation on whole chunks, never a Python object per line: a chunk's
complete lines are cut at its last newline, and the prefix is inserted with one
``bytes.replace``. A line is never split or merged with another source's line: a trailing
partial line waits in its source's buffer until its newline arrives, until an idle flush, or
until it reaches :data:`MAX_LINE_BYTES` (then it is emitted as a line of its own).
Bytes pass through untouched: invalid UTF-8, NUL and ANSI codes are not interpreted.
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["MAX_LINE_BYTES", "LineFramer", "prefix_lines"]

#: A partial line longer than this is emitted without waiting for its newline (a 1 MiB line
#: still arrives whole; a 20 MiB stream with no newline does not grow memory without bound).
MAX_LINE_BYTES = 4 << 20


class LineFramer:
    """Per-source partial-line buffers.

    Invariant: ``_partial[key]`` is non-empty and holds no newline; a key without pending
    bytes has no entry.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES):
        self._partial: dict[Hashable, bytearray] = {}
        self._max_line = max_line

    def feed(self, key: Hashable, data: bytes) -> bytes:
        """Add *data* from *key*; return its newly complete lines (each ending in ``\\n``), or b""."""
        nl = data.rfind(b"\n")
        pending = self._partial.get(key)
        if nl < 0:
            if pending is None:
                pending = self._partial[key] = bytearray()
            pending += data
            if len(pending) >= self._max_line:
                return self.flush(key)
            return b""
        # One copy of the chunk at most: a read cut inside a line (most reads are: pipes do
        # not care where lines end) used to cost a slice, an append and a bytes() copy, and at
        # 256 KiB reads those three passes outran the cache and tripled the framing cost.
        view = memoryview(data)
        if pending is not None:
            lines = b"".join((pending, view[: nl + 1]))
            del self._partial[key]
        else:
            lines = data if nl == len(data) - 1 else bytes(view[: nl + 1])
        if nl != len(data) - 1:
            self._partial[key] = bytearray(view[nl + 1 :])
        return lines

    def flush(self, key: Hashable) -> bytes:
        """The pending partial line of *key* with a newline added, or b"" if none."""
        pending = self._partial.pop(key, None)
        if not pending:
            return b""
        pending += b"\n"
        return bytes(pending)

    def pending(self, key: Hashable) -> bool:
        return key in self._partial

    def keys(self) -> list[Hashable]:
        return list(self._partial)


def prefix_lines(lines: bytes, prefix: bytes) -> list[bytes]:
    """``b"a\\nb\\n"`` with prefix ``P`` -> ``[P, b"a\\nPb", b"\\n"]`` (join to write).

    *lines* must be non-empty and end with a newline.
    """
    if not prefix:
        return [lines]
    body = lines[:-1]
    if b"\n" in body:
        body = body.replace(b"\n", b"\n" + prefix)
    return [prefix, body, b"\n"]
