"""Streams: SSE, websocket and raw readers each receive what a child printed; stdin; drops."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest

from honcho_uv.core.feed import Feed
from tests.kit.api import serve
from tests.kit.procs import TICKER
from tests.kit.wait import until


async def _web(api, **settings):
    api.manager.add_process("web", "/bin/sh", args=["-c", TICKER], redirect_output=["out", "out"], **settings)
    (process,) = await until(lambda: api.manager.list("web"), what="web.1")
    return process


async def test_output_as_sse_websocket_and_raw(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        process = await _web(api)
        url = api.u(f"/streams/{process.id}/out")
        async with api.unix.get(url, headers={"Accept": "text/event-stream"}) as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            assert await r.content.readline() == b"event: output\n"
            assert (await r.content.readline()).startswith(b"data: tick ")
        async with api.unix.get(url + "?feed=eventsource") as r:
            assert await r.content.readline() == b"event: output\n"
        async with api.unix.ws_connect(url) as ws:
            msg = await ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.BINARY and msg.data.startswith(b"tick ")
        async with api.unix.get(url) as r:
            assert r.headers["Content-Type"] == "application/octet-stream"
            assert (await r.content.readline()).startswith(b"tick ")
        async with api.unix.get(api.u(f"/streams/{process.id}/nope")) as r:
            assert r.status == 404
        async with api.unix.get(api.u(f"/streams/{process.id}/stdin")) as r:
            assert r.status == 405


async def test_output_stream_ends_when_the_process_exits(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        api.manager.add_process("once", "/bin/sh", args=["-c", "sleep 0.3; echo bye"], redirect_output=["out"],
                                restart="never")
        (process,) = await until(lambda: api.manager.list("once"), what="once.1")
        async with api.unix.get(api.u(f"/streams/{process.id}/out")) as r:
            assert await r.read() == b"bye\n"


async def test_stdin_write_reaches_the_child(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        api.manager.add_process("cat", "cat", redirect_output=["out"], redirect_input=True)
        (process,) = await until(lambda: api.manager.list("cat"), what="cat.1")
        async with api.unix.get(api.u(f"/streams/{process.id}/out")) as stream:
            async with api.unix.post(api.u(f"/streams/{process.id}/stdin"), json={"data": "hello json\n"}) as r:
                assert r.status == 200 and (await r.json())["written"] == 11
            assert await stream.content.readline() == b"hello json\n"
            async with api.unix.post(api.u(f"/streams/{process.id}/stdin"), data=b"raw \xff\n",
                                     headers={"Content-Type": "application/octet-stream"}) as r:
                assert r.status == 200
            assert await stream.content.readline() == b"raw \xff\n"
        api.manager.add_process("deaf", "sleep 100")
        (deaf,) = await until(lambda: api.manager.list("deaf"), what="deaf.1")
        async with api.unix.post(api.u(f"/streams/{deaf.id}/stdin"), json={"data": "x"}) as r:
            assert r.status == 409 and (await r.json())["error"] == "state_conflict"


async def test_watch_stats_stream_and_log_follow(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        async with api.unix.get(api.u("/watch/proc/web")) as watch:
            await _web(api)
            event = json.loads(await watch.content.readline())
            assert event["topic"].startswith("proc.web.") and event["name"] == "web"
        async with api.unix.get(api.u("/watch"), headers={"Accept": "text/event-stream"}) as watch:
            api.manager.scale("web", 2)
            assert (await watch.content.readline()).startswith(b"event: ")
        async with api.unix.get(api.u("/stats/web/stream")) as stats:
            sample = json.loads(await stats.content.readline())
            assert sample["name"].startswith("web.") and sample["os_pid"] and "mem_info1" in sample
        async with api.unix.ws_connect(api.u("/stats/web/stream")) as ws:
            assert json.loads((await ws.receive(timeout=5)).data)["event"] == "stat"
        async with api.unix.get(api.u("/logs/web.1?lines=2&follow=1")) as logs:
            lines = [json.loads(await logs.content.readline()) for _ in range(4)]
            assert [line["name"] for line in lines] == ["web.1"] * 4
            seqs = [line["seq"] for line in lines]
            assert seqs == sorted(seqs) and len(set(seqs)) == 4, "backlog then live, no gap or repeat"
        async with api.unix.get(api.u("/watch/a..b")) as r:
            assert r.status in (400, 404)
        async with api.unix.get(api.u("/stats/nope/stream")) as r:
            assert r.status == 404


async def test_feed_waits_wake_on_put_time_out_on_their_own_deadline_and_end_on_close():
    """A wait is a future and one re-armed timer per feed (wait_for cost a task per wait):
    the timeout must still be each wait's own, not that of the wait that armed the timer."""
    loop = asyncio.get_running_loop()
    feed = Feed()
    loop.call_later(0.1, feed.put, b"x")
    t0 = loop.time()
    assert await feed.batch(0.3) == [b"x"] and loop.time() - t0 < 0.25, "a put wakes the waiter"
    t1 = loop.time()
    assert await feed.batch(0.3) == []  # the timer armed for the first wait fires early
    assert 0.28 <= loop.time() - t1 < 1.0, "a wait times out on its own deadline"
    waiting = asyncio.ensure_future(feed.batch(10))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    loop.call_later(0.05, feed.close)
    t2 = loop.time()
    with pytest.raises(EOFError):
        await feed.batch(10)
    assert loop.time() - t2 < 1.0, "close ends a wait at once"


async def test_a_burst_reaches_a_raw_subscriber_in_few_writes_and_whole():
    """Each pipe read used to be its own write (task wake-up, syscall) to every subscriber;
    a chatty source is now written in batches, COALESCE_S apart, with nothing lost."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from honcho_uv.http.streams import COALESCE_S, serve_feed

    loop = asyncio.get_running_loop()

    async def handler(request):
        feed = Feed()
        for i in range(200):  # one chunk a millisecond for 0.2 s
            # (i + 1): uvloop turns call_later(0) into call_soon, which can run after the 1 ms timer
            loop.call_later((i + 1) / 1000, feed.put, b"%04d\n" % i)
        loop.call_later(0.25, feed.close)
        return await serve_feed(request, feed, "output")

    app = web.Application()
    app.router.add_get("/s", handler)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/s")
        http_chunks, body = 0, b""
        async for data, end_of_chunk in resp.content.iter_chunks():
            body += data
            http_chunks += end_of_chunk
    assert body == b"".join(b"%04d\n" % i for i in range(200))
    assert http_chunks <= 20, f"{http_chunks} writes for 200 chunks (COALESCE_S={COALESCE_S})"


async def test_feed_keeps_up_without_loss_and_counts_drops_for_a_slow_reader():
    fast, slow = Feed(max_items=100), Feed(max_items=100)
    got = []
    for i in range(1000):
        fast.put(i)
        slow.put(i)
        if i % 50 == 49:
            got.extend(await fast.batch(0.1))
    assert got == list(range(1000)) and fast.dropped == 0
    assert slow.dropped == 900 and await slow.batch(0.1) == list(range(900, 1000)), "oldest dropped"
    big = Feed(max_bytes=10)
    for _ in range(5):
        big.put(b"abcd")
    assert big.dropped == 3 and await big.batch(0.1) == [b"abcd", b"abcd"]
    big.close()
    try:
        await big.batch(0.1)
    except EOFError:
        pass
    else:
        raise AssertionError("a closed, drained feed raises EOFError")


async def test_a_stalled_client_does_not_block_others_or_the_output(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        api.manager.add_process("spew", "/bin/sh", args=["-c", "yes 0123456789abcdef | head -c 60000000; sleep 100"],
                                redirect_output=["out"])
        (process,) = await until(lambda: api.manager.list("spew"), what="spew.1")
        url = api.u(f"/streams/{process.id}/out?feed=eventsource")
        async with api.unix.get(url) as stalled:  # never read from
            await stalled.content.readline()
            total = 0
            async with api.unix.get(api.u(f"/streams/{process.id}/out")) as reader:
                async for chunk in reader.content.iter_any():
                    total += len(chunk)
                    if total >= 5_000_000:
                        break
            assert total >= 5_000_000
            await until(lambda: any(f.dropped for f in api.handler._feeds._feeds), what="drops for the stalled")


async def test_attach_checks_answer_a_plain_get_and_refuse_what_would_show_nothing(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        api.manager.add_process("plain", "sleep 30")
        api.manager.add_process("blind", "sleep 30", tty=True)  # a terminal whose output is dropped
        api.manager.add_process("term", "sleep 30", tty=True, redirect_output=["out"])
        for name in ("plain", "blind", "term"):
            await until(lambda n=name: api.manager.list(n), what=name)
        ids = {name: api.manager.list(name)[0].id for name in ("plain", "blind", "term")}
        async with api.unix.get(api.u(f"/attach/{ids['term']}")) as r:
            assert r.status == 200 and (await r.json())["tty"] is True
        async with api.unix.get(api.u(f"/attach/{ids['plain']}")) as r:
            assert r.status == 409 and "hu start --stdin plain" in (await r.json())["message"]
        async with api.unix.get(api.u(f"/attach/{ids['blind']}")) as r:
            assert r.status == 409 and "would show nothing" in (await r.json())["message"]


async def test_regression_a_failed_attach_handshake_leaves_the_instance_free(sock_dir):
    # The claim was made before the handshake and kept when it failed: every later attach was
    # refused as "attached by pid N" until --force (review finding).
    async with serve(sock_dir, tcp=False) as api:
        api.manager.add_process("term", "sleep 30", tty=True, redirect_output=["out"])
        (process,) = await until(lambda: api.manager.list("term"), what="term.1")
        bad = {"Upgrade": "websocket", "Connection": "Upgrade"}  # no Sec-WebSocket-Key
        async with api.unix.get(api.u(f"/attach/{process.id}"), headers=bad) as r:
            assert r.status == 400
        async with api.unix.get(api.u(f"/attach/{process.id}")) as r:
            assert r.status == 200, await r.text()
