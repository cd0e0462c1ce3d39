"""The detach rules of ``hu attach``'s input (http/attach_client.py): what is sent, and when
the session ends."""

from __future__ import annotations

import asyncio

from honcho_uv.http.attach_client import _Input


def _frames(raw: bool, *reads: bytes) -> list[bytes | None]:
    queue: asyncio.Queue[bytes | str | None] = asyncio.Queue()
    reader = _Input(raw, queue)
    for data in reads:
        reader.feed(data)
    return [queue.get_nowait() for _ in range(queue.qsize())]  # type: ignore[misc]


def test_raw_mode_sends_keys_as_typed_and_ctrl_bracket_detaches_keeping_what_came_before():
    assert _frames(True, b"ls\r", b"\x03", b"ab\x1dcd", b"never sent") == [b"ls\r", b"\x03", b"ab", None]


def test_raw_mode_end_of_input_detaches():
    assert _frames(True, b"x", b"") == [b"x", None]


def test_line_mode_sends_whole_lines_and_a_line_of_only_ctrl_bracket_detaches():
    assert _frames(False, b"one\ntw", b"o\n\x1d\nthree\n") == [b"one\n", b"two\n", None]


def test_line_mode_ctrl_bracket_inside_a_line_is_just_a_character():
    assert _frames(False, b"a\x1db\n") == [b"a\x1db\n"]


def test_line_mode_end_of_input_sends_the_partial_line_then_detaches():
    assert _frames(False, b"last", b"") == [b"last", None]
