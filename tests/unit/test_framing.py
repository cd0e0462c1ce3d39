"""Bytes in, whole lines out: LineFramer and prefix_lines over every chunk boundary."""

from __future__ import annotations

import pytest

from honcho_uv.core.framing import LineFramer, prefix_lines

STREAMS = [
    # one line in one chunk
    [b"a\n"],
    # a line split in the middle
    [b"hel", b"lo\n"],
    # a line split right before its newline
    [b"hello", b"\n"],
    # two lines and a partial in one chunk, the rest later
    [b"a\nb\nc", b"c\n"],
    # a lone newline (an empty line)
    [b"\n", b"\n"],
    # invalid UTF-8, NUL and ANSI codes pass through untouched
    [b"\xff\xfe\x00\x1b[31mred", b"\x1b[0m\n"],
    # CRLF stays CRLF
    [b"dos\r", b"\nline\r\n"],
]


def _feed_all(chunks: list[bytes]) -> tuple[bytes, bytes]:
    framer = LineFramer()
    out = b"".join(framer.feed("k", chunk) for chunk in chunks)
    return out, framer.flush("k")


@pytest.mark.parametrize("chunks", STREAMS)
def test_every_split_gives_the_same_whole_lines(chunks: list[bytes]) -> None:
    data = b"".join(chunks)
    expected, rest = data[: data.rfind(b"\n") + 1], data[data.rfind(b"\n") + 1:]
    for cut in range(len(data) + 1):  # the stream cut at every possible byte as well
        for pieces in (chunks, [data[:cut], data[cut:]]):
            out, partial = _feed_all([p for p in pieces if p])
            assert out == expected
            assert partial == (rest + b"\n" if rest else b"")


def test_a_partial_line_waits_and_is_flushed_with_a_newline() -> None:
    framer = LineFramer()
    assert framer.feed("k", b"prompt> ") == b""
    assert framer.pending("k") and framer.keys() == ["k"]
    assert framer.flush("k") == b"prompt> \n"
    assert not framer.pending("k") and framer.flush("k") == b""


def test_sources_never_mix_their_partial_lines() -> None:
    framer = LineFramer()
    assert framer.feed(1, b"one-") == b""
    assert framer.feed(2, b"two-") == b""
    assert framer.feed(1, b"end\n") == b"one-end\n"
    assert framer.feed(2, b"end\n") == b"two-end\n"


def test_an_endless_line_is_cut_at_the_maximum() -> None:
    framer = LineFramer(max_line=10)
    assert framer.feed("k", b"0123456") == b""
    assert framer.feed("k", b"789abc") == b"0123456789abc\n"  # emitted whole once over the limit
    assert not framer.pending("k")


@pytest.mark.parametrize(
    ("lines", "prefix", "expected"),
    [
        (b"a\n", b"P ", [b"P ", b"a", b"\n"]),
        (b"a\nb\n", b"P ", [b"P ", b"a\nP b", b"\n"]),
        (b"\n", b"P ", [b"P ", b"", b"\n"]),
        (b"a\nb\n", b"", [b"a\nb\n"]),
    ],
)
def test_prefix_lines_puts_the_prefix_before_each_line(lines: bytes, prefix: bytes, expected: list[bytes]) -> None:
    assert prefix_lines(lines, prefix) == expected
    assert b"".join(prefix_lines(lines, prefix)).count(b"\n") == lines.count(b"\n")
