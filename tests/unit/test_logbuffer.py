"""The log ring buffer keeps whole chunks, trims by bytes, and cuts lines on read."""

from __future__ import annotations

from honcho_uv.console.logbuffer import LogBuffer


def feed(buf: LogBuffer, name: str, data: bytes) -> None:
    buf._add(name, data)  # the framed-lines entry point (the sink frames before calling it)


def test_tail_returns_the_last_lines_in_order_across_instances():
    buf = LogBuffer()
    feed(buf, "web.1", b"a1\na2\n")
    feed(buf, "web.2", b"b1\n")
    feed(buf, "web.1", b"a3\n")
    assert [(line.name, line.data) for line in buf.tail(None, 10)] == [
        ("web.1", b"a1"), ("web.1", b"a2"), ("web.2", b"b1"), ("web.1", b"a3")]
    assert [line.data for line in buf.tail("web", 2)] == [b"b1", b"a3"]
    assert [line.data for line in buf.tail("web.1", 10)] == [b"a1", b"a2", b"a3"]
    seqs = [line.seq for line in buf.tail(None, 10)]
    assert seqs == [0, 3, 6, 9], "each line's seq is the position of its first byte"


def test_ring_is_bounded_by_bytes_without_counting_lines():
    """bytes.count per chunk took a third of the loop at 450 MB/s: the ring is bounded by
    bytes only, and whole chunks are dropped oldest first."""
    buf = LogBuffer(bytes_per_process=10_000)
    for i in range(1000):
        feed(buf, "web.1", b"".join(b"%05d-%05d\n" % (i, j) for j in range(10)))
    size = buf._sizes["web.1"]
    assert 10_000 - 120 < size <= 10_000 and size == sum(len(c[2]) for c in buf._lines["web.1"])
    tail = buf.tail("web.1", 100)
    assert len(tail) == 100 and tail[-1].data == b"00999-00009" and tail[0].data == b"00990-00000"
    assert len(buf.tail("web.1", 10_000)) == size // 12, "every kept line can be read"


def test_followers_get_each_line():
    buf = LogBuffer()
    got = []
    buf.follow(got.append)
    feed(buf, "w.1", b"x\ny\n")
    buf.unfollow(got.append)
    feed(buf, "w.1", b"z\n")
    assert [line.data for line in got] == [b"x", b"y"]
