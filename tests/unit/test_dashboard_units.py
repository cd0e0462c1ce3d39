"""The dashboard's pure parts: cutting the tail of log chunks, the byte-bounded feed of chunks,
the address grammar of --ui."""

from __future__ import annotations

import pytest

from honcho_uv.core.feed import Feed
from honcho_uv.errors import ConfigError
from honcho_uv.http.dashboard import parse_ui_address
from honcho_uv.http.dashboard.session import tail_lines


def test_tail_lines_cuts_only_the_newest_lines_with_their_own_seq() -> None:
    chunks = [(0, 1.0, "web.1", b"a\nbb\n"), (5, 2.0, "web.2", b"ccc\n\x1b[31mred\x1b[0m\n")]
    assert tail_lines(chunks, 10) == [[0, 1.0, "web.1", "a"], [2, 1.0, "web.1", "bb"],
                                      [5, 2.0, "web.2", "ccc"], [9, 2.0, "web.2", "red"]]
    assert tail_lines(chunks, 3) == [[2, 1.0, "web.1", "bb"], [5, 2.0, "web.2", "ccc"], [9, 2.0, "web.2", "red"]]
    assert tail_lines(chunks, 0) == []


def test_tail_lines_of_a_huge_chunk_is_cheap_and_exact() -> None:
    data = b"".join(b"line %d\n" % i for i in range(200_000))
    lines = tail_lines([(0, 0.0, "w.1", data)], 250)
    assert [text for _, _, _, text in lines] == [f"line {i}" for i in range(199_750, 200_000)]
    assert lines[-1][0] == data.rindex(b"line 199999")


def test_a_feed_bounds_tuples_by_the_size_it_is_given() -> None:
    feed = Feed(max_items=100, max_bytes=10, size=lambda chunk: len(chunk[1]))
    for i in range(5):
        feed.put((i, b"abcd"))
    assert len(feed) == 2 and feed.dropped == 3  # 8 bytes kept of 20


@pytest.mark.parametrize("text, host, port", [("8123", "127.0.0.1", 8123), (":0", "127.0.0.1", 0),
                                              ("0.0.0.0:80", "0.0.0.0", 80), ("[::1]:9", "::1", 9)])
def test_ui_addresses(text: str, host: str, port: int) -> None:
    bind = parse_ui_address(text)
    assert (bind.host, bind.port) == (host, port)


@pytest.mark.parametrize("text", ["unix:/tmp/x.sock", "web", "99999", "http://x:1"])
def test_bad_ui_addresses_name_the_flag(text: str) -> None:
    with pytest.raises(ConfigError, match="--ui"):
        parse_ui_address(text)
