"""S-e / S05: malformed, oversized and slow requests, and too many connections.

Every attack gets a 4xx or a closed connection, never a 5xx, and afterwards the daemon
still answers ``GET /ping`` in under 100 ms with its memory back near the baseline.
The barrage runs against a real ``hu daemon`` process with its default limits; the
timing cases (slowloris, idle, slow body, the cap) run in-process with short limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import os
import socket
import time
from pathlib import Path

import pytest

from honcho_uv.http.limits import Limits
from honcho_uv.http.wire import MAX_BODY_BYTES
from tests.kit.api import JSON, assert_4xx_or_closed, exchange, open_raw, serve, status_of
from tests.kit.hu import Running
from tests.kit.wait import until

H = "Host: 127.0.0.1\r\n"
_BOMB = gzip.compress(b"[" + b" " * (64 << 20) + b"]", 9)
INI = "[process:web]\ncmd = sleep 1000\n"


def _post(path: str, body: bytes, ctype: str = "application/json") -> bytes:
    return (f"POST {path} HTTP/1.1\r\n{H}Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


def _ping_seconds(daemon: Running) -> float:
    """The time a fresh TCP connection takes to get ``GET /ping`` answered (200 asserted)."""
    start = time.perf_counter()
    with socket.create_connection(daemon.tcp, timeout=5) as s:
        s.sendall(f"GET /ping HTTP/1.1\r\n{H}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    elapsed = time.perf_counter() - start
    assert status_of(data) == 200, data[:200]
    return elapsed


def _best_ping(daemon: Running, tries: int = 3) -> float:
    return min(_ping_seconds(daemon) for _ in range(tries))


async def _chunked_forever(address, *, limit: int = 16 << 20) -> tuple[bytes, int]:
    """POST an endless chunked JSON body until the server answers or closes; (answer, bytes sent)."""
    reader, writer = await open_raw(address)
    sent = 0
    answer = b""
    try:
        writer.write(f"POST /processes/web/_scale HTTP/1.1\r\n{H}Content-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
        with contextlib.suppress(ConnectionError):
            while sent < limit:
                writer.write(chunk)
                sent += 0x10000
                await writer.drain()
                with contextlib.suppress(asyncio.TimeoutError):
                    answer += await asyncio.wait_for(reader.read(65536), 0.001)
                if answer or reader.at_eof():
                    break
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            answer += await asyncio.wait_for(reader.read(65536), 3)
    finally:
        writer.close()
    return answer, sent


@pytest.mark.async_timeout(60)
async def test_barrage_gives_4xx_or_close_and_the_daemon_stays_healthy(daemon):
    d = daemon(ini=INI, tcp=True)
    _best_ping(d)
    baseline = d.rss()
    tcp, unix = d.tcp, d.sock
    cases: list[tuple[str, Path | tuple[str, int], bytes, dict]] = [
        ("Content-Length 10 GB, no body", tcp,
         f"POST /processes/web/_scale HTTP/1.1\r\n{H}Content-Type: application/json\r\n"
         "Content-Length: 10000000000\r\n\r\n".encode(), {"head_only": True}),
        ("10 MB JSON", tcp, _post("/processes/web/_scale", b'{"n": "' + b"1" * (10 << 20) + b'"}'), {"head_only": True}),
        ("malformed JSON", tcp, _post("/processes/web/_scale", b'{"n": 1'), {}),
        ("wrong JSON types", tcp, _post("/processes/web/_scale", b'{"n": [1, {"a": null}]}'), {}),
        ("wrong JSON types (unix, template)", unix, _post("/processes", b'{"name": 5, "cmd": ["x"]}'), {}),
        ("a JSON array body", tcp, _post("/processes/web/_signal", b'["TERM"]'), {}),
        ("100 000-deep nested arrays", tcp, _post("/processes/web/_scale", b"[" * 100000 + b"]" * 100000), {}),
        ("100 000-deep nested objects", unix, _post("/processes", b'{"a":' * 100000 + b"1" + b"}" * 100000), {}),
        ("64 KiB header line", tcp, f"GET /ping HTTP/1.1\r\n{H}X-Big: {'a' * 65536}\r\n\r\n".encode(), {}),
        ("64 KiB request line", tcp, f"GET /{'a' * 65536} HTTP/1.1\r\n{H}\r\n".encode(), {}),
        ("1000 headers", tcp, (f"GET /ping HTTP/1.1\r\n{H}" + "".join(f"X-H{i}: v\r\n" for i in range(1000))
                               + "\r\n").encode(), {}),
        ("HTTP/0.9", tcp, b"GET /ping\r\n", {"timeout": 2}),
        ("HTTP/0.9 (unix)", unix, b"GET /ping\r\n", {"timeout": 2}),
        ("garbage bytes", tcp, bytes(range(256)) * 16, {}),
        ("garbage bytes (unix)", unix, os.urandom(4096).replace(b"\n", b"x"), {}),
        ("NUL in the request line", tcp, f"GET /pi\x00ng HTTP/1.1\r\n{H}\r\n".encode(), {}),
        ("bad Content-Length", tcp, f"POST /_quit HTTP/1.1\r\n{H}Content-Length: -1\r\n\r\n".encode(), {}),
        ("two Content-Lengths", tcp, f"POST /_quit HTTP/1.1\r\n{H}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{{}}".encode(), {}),
        ("CL and chunked", tcp, (f"POST /processes/web/_scale HTTP/1.1\r\n{H}Content-Type: application/json\r\n"
                                 "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").encode(), {}),
        ("bad chunk size", tcp, (f"POST /processes/web/_scale HTTP/1.1\r\n{H}Content-Type: application/json\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n").encode(), {}),
        ("unknown method", tcp, f"BREW /ping HTTP/1.1\r\n{H}\r\n".encode(), {}),
        ("HTTP/2 preface", tcp, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", {}),
        ("half-closed mid-head", tcp, b"GET /ping HTTP/1.1\r\nHo", {"half_close": True}),
        ("half-closed mid-body", tcp, _post("/processes/web/_scale", b'{"n": 1}')[:-3], {"half_close": True}),
        ("gzip bomb (1 KiB -> 64 MiB)", tcp, (f"POST /processes/web/_scale HTTP/1.1\r\n{H}Content-Type: application/json\r\n"
                                             f"Content-Encoding: gzip\r\nContent-Length: {len(_BOMB)}\r\n\r\n").encode()
         + _BOMB, {"head_only": True}),
        ("bad gzip body", tcp, (f"POST /processes/web/_scale HTTP/1.1\r\n{H}Content-Type: application/json\r\n"
                                  "Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\nxxxx").encode(), {}),
    ]

    statuses = {}
    responses = await asyncio.gather(*(exchange(address, data, **{"timeout": 5.0, **kwargs})
                                       for _, address, data, kwargs in cases))  # all at once
    for (what, *_), response in zip(cases, responses, strict=True):
        assert_4xx_or_closed(response, what)
        statuses[what] = status_of(response)
    answer, sent = await _chunked_forever(tcp)
    assert_4xx_or_closed(answer, "chunked forever")
    statuses["chunked forever"] = status_of(answer)
    assert sent < 16 << 20, "the server stopped the endless body"
    assert statuses["Content-Length 10 GB, no body"] == 413
    assert statuses["10 MB JSON"] == 413 and statuses["chunked forever"] == 413
    assert statuses["malformed JSON"] == statuses["100 000-deep nested arrays"] == 400
    assert statuses["wrong JSON types"] == statuses["wrong JSON types (unix, template)"] == 400
    assert statuses["bad gzip body"] == 400 and statuses["gzip bomb (1 KiB -> 64 MiB)"] == 413
    assert statuses["1000 headers"] in (400, 431) and statuses["64 KiB header line"] in (400, 431)
    assert d.proc.poll() is None, d.output()
    assert _best_ping(d) < 0.1
    assert d.rss() < baseline + (24 << 20), "memory back near the baseline"
    assert "Traceback" not in d.output() and "internal error" not in d.output(), d.output()[-4000:]


async def test_a_half_closed_socket_still_gets_its_answer(daemon):
    d = daemon(tcp=True)
    response = await exchange(d.tcp, f"GET /ping HTTP/1.1\r\n{H}\r\n".encode(), half_close=True, timeout=3)
    assert status_of(response) in (200, None)
    assert d.proc.poll() is None and _best_ping(d) < 0.1


async def test_500_idle_connections_are_capped_and_the_owner_socket_still_answers(daemon):
    d = daemon(tcp=True)
    baseline = d.rss()
    cap = Limits().max_connections

    def daemon_fds() -> int:
        return len(os.listdir(f"/proc/{d.proc.pid}/fd"))

    fds_before = daemon_fds()
    conns = []
    for _ in range(500):
        try:
            conns.append(await open_raw(d.tcp))
        except OSError:
            break

    async def refusal(reader: asyncio.StreamReader) -> bool:
        """Whether this connection was refused: a 429, or closed by the daemon."""
        with contextlib.suppress(ConnectionError):
            return status_of(await reader.read(1024)) == 429 or reader.at_eof()
        return reader.at_eof()

    answers = [asyncio.ensure_future(refusal(reader)) for reader, _ in conns]

    def refused() -> int:
        return sum(1 for a in answers if a.done() and a.result())

    # Every connection over the cap is answered; the ones within it stay open, unanswered.
    await until(lambda: refused() >= 500 - cap - 5, 10, "the connections over the cap to be refused")
    fds = daemon_fds()
    # the owner's unix socket has its own cap: a TCP flood cannot lock the owner out
    reader, writer = await open_raw(d.sock)
    writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    owner = await asyncio.wait_for(reader.read(1024), 2)
    writer.close()
    refused_count = refused()
    for answer in answers:
        answer.cancel()
    for _, w in conns:
        w.close()
    assert status_of(owner) == 200
    assert refused_count >= 500 - cap - 5, f"only {refused_count} of 500 refused"
    assert fds <= fds_before + cap + 10, f"{fds} fds open in the daemon"
    # the daemon closes its side of the flood's connections before it is measured again
    await until(lambda: daemon_fds() <= fds_before + 5, 10, "the daemon to close the flood's connections")
    assert _best_ping(d) < 0.1
    assert d.rss() < baseline + (16 << 20)


async def test_slowloris_and_idle_connections_are_closed_at_the_header_deadline(sock_dir):
    limits = Limits(header_timeout=1.0, idle_timeout=1.0)

    async with serve(sock_dir, limits=limits) as api:
        reader, writer = await open_raw(api.tcp_address)
        idle_reader, idle_writer = await open_raw(api.tcp_address)
        writers = [writer, idle_writer]
        start = time.monotonic()
        closed_after = None
        for byte in b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n":  # one header byte per second would do
            try:
                writer.write(bytes([byte]))
                await writer.drain()
                data = await asyncio.wait_for(reader.read(1024), 0.25)
            except TimeoutError:
                continue
            except ConnectionError:
                data = b""
            assert_4xx_or_closed(data, "slowloris")
            closed_after = time.monotonic() - start
            break
        assert closed_after is not None and closed_after < 2.0, "slowloris closed at the header deadline"
        assert await asyncio.wait_for(idle_reader.read(1024), 2) == b"", "an idle socket is closed too"
        # keep-alive idle after a request: closed at idle_timeout
        reader, writer = await open_raw(api.tcp_address)
        writer.write(f"GET /ping HTTP/1.1\r\n{H}\r\n".encode())
        first = await asyncio.wait_for(reader.readuntil(b"}"), 2)
        assert status_of(first) == 200
        start = time.monotonic()
        assert await asyncio.wait_for(reader.read(1024), 3) == b""
        assert time.monotonic() - start < 2.5
        assert api.handler.guard is not None and api.handler.guard.timed_out >= 2
        async with api.tcp.get(api.t("/ping")) as r:
            assert r.status == 200
        for w in [*writers, writer]:
            w.close()


async def test_a_slow_body_gets_408(sock_dir):
    async with serve(sock_dir, tcp=False, limits=Limits(body_timeout=0.5)) as api:
        reader, writer = await open_raw(api.sock)
        writer.write(b"POST /_quit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{")
        data = await asyncio.wait_for(reader.read(1024), 3)
        writer.close()
        assert status_of(data) == 408, data
        assert not api.manager.stopping, "the request did not run"


async def test_connection_cap_is_per_listening_socket_and_frees_slots(sock_dir):
    async with serve(sock_dir, limits=Limits(max_connections=4)) as api:
        held = [await open_raw(api.tcp_address) for _ in range(4)]
        reader, writer = await open_raw(api.tcp_address)
        refused = await asyncio.wait_for(reader.read(1024), 2)
        writer.close()
        assert status_of(refused) == 429 and b"too_many_connections" in refused
        async with api.unix.get(api.u("/ping")) as r:
            assert r.status == 200, "the unix socket has its own slots"
        for _, w in held:
            w.close()
        await asyncio.sleep(0.05)
        for _ in range(3):  # slots are free again (a fresh session per request)
            async with api.tcp.get(api.t("/ping"), headers={"Connection": "close"}) as r:
                assert r.status == 200
        assert api.handler.guard is not None and api.handler.guard.refused == 1


async def test_oversized_bodies_are_refused_before_they_are_read(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        reader, writer = await open_raw(api.sock)
        writer.write(f"POST /processes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        writer.close()
        assert status_of(data) == 413, "answered before any body byte was sent"
        body = b"{" + b" " * MAX_BODY_BYTES + b"}"
        async with api.unix.post(api.u("/processes"), data=io.BytesIO(body), headers=JSON) as r:
            assert r.status == 413 and (await r.json())["error"] == "body_too_large"


async def test_many_requests_on_one_keepalive_connection_do_not_leak(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        for _ in range(300):
            async with api.unix.get(api.u("/ping")) as r:
                assert r.status == 200
        guard = api.handler.guard
        assert guard is not None and guard.open_count() <= 2


def test_listening_socket_survives_a_client_reset(daemon):
    d = daemon(tcp=True)
    for _ in range(20):
        s = socket.create_connection(d.tcp)
        s.sendall(f"POST /processes/web/_scale HTTP/1.1\r\n{H}Content-Length: 10\r\n\r\n".encode())
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST
    assert d.proc.poll() is None and _best_ping(d) < 0.1
    assert "Traceback" not in d.output()


async def test_short_connections_one_after_another_never_fill_the_cap(sock_dir):
    """Regression: a connection opened and closed between two accepts was counted as still
    connecting for a grace period, so 128 quick sequential clients locked the port."""

    async with serve(sock_dir, unix=False, limits=Limits(max_connections=4)) as api:
        for i in range(60):
            response = await exchange(api.tcp_address, f"GET /ping HTTP/1.1\r\n{H}Connection: close\r\n\r\n".encode())
            assert status_of(response) == 200, (i, response[:60])
        assert api.handler.guard is not None and api.handler.guard.refused == 0
