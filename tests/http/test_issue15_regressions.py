"""Issue 15, "every documented promise holds": the HTTP API does what docs/http.rst says.

One test per defect found by running the docs' examples, named for it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal

import aiohttp
import pytest

from tests.kit.api import JSON, exchange, serve
from tests.kit.wait import until


async def _post(api, body):
    async with api.unix.post(api.u("/processes"), json=body) as r:
        assert r.status == 201, await r.text()


async def _lines(api, name):
    async with api.unix.get(api.u(f"/logs/{name}?lines=1000")) as r:
        assert r.status == 200
        return [line["line"] for line in (await r.json())["lines"] if line["name"] != "system"]


async def test_regression_post_processes_gives_the_child_the_server_environment(sock_dir):
    # docs/http.rst's POST example ran `python ...`: over the API os_env defaulted to false,
    # so the child had no PATH and `python` was not found.
    async with serve(sock_dir, tcp=False) as api:
        await _post(api, {"name": "dump", "cmd": "env", "restart": "never"})
        assert await until(lambda: _lines(api, "dump"), what="the output of env")
        lines = await _lines(api, "dump")
        assert f"PATH={os.environ['PATH']}" in lines
        async with api.unix.get(api.u("/processes/dump")) as r:
            assert (await r.json())["os_env"] is True
        await _post(api, {"name": "bare", "cmd": "env", "os_env": False, "env": {"ONLY": "1"}, "restart": "never"})
        assert await until(lambda: _lines(api, "bare"), what="the output of env")
        assert sorted(await _lines(api, "bare")) == ["HU_PROCESS_NAME=bare.1", "ONLY=1", "PS=bare.1"], \
            "os_env=false: the template's env and the instance's own variables, nothing else"


async def test_regression_post_processes_output_can_be_streamed_by_default(sock_dir):
    # docs/http.rst's stream example got 404: redirect_output defaulted to [] over the API.
    async with serve(sock_dir, tcp=False) as api:
        await _post(api, {"name": "echo", "cmd": "cat", "redirect_input": True})
        (process,) = await until(lambda: api.manager.list("echo"), what="echo.1")
        assert process.template.redirect_output == ("stdout", "stderr")
        async with api.unix.get(api.u(f"/streams/{process.id}/stdout")) as stream:
            assert stream.status == 200
            async with api.unix.post(api.u(f"/streams/{process.id}/stdin"), json={"data": "hello\n"}) as r:
                assert r.status == 200
            assert await asyncio.wait_for(stream.content.readline(), 5) == b"hello\n"
        await _post(api, {"name": "mute", "cmd": "sleep 30", "redirect_output": []})
        (mute,) = await until(lambda: api.manager.list("mute"), what="mute.1")
        async with api.unix.get(api.u(f"/streams/{mute.id}/stdout")) as r:
            assert r.status == 404, "an explicit redirect_output wins over the API's default"


async def test_regression_the_dot_label_is_reachable_as_percent_2e(sock_dir):
    # curl drops a trailing "/." segment before sending it: the docs say to write %2E.
    async with serve(sock_dir, tcp=False) as api:
        api.manager.add_process("once", "/bin/sh", args=["-c", "sleep 0.5; echo dotted"],
                                redirect_output=["out", "err"], restart="never")
        (process,) = await until(lambda: api.manager.list("once"), what="once.1")
        request = f"GET /streams/{process.id}/%2E HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        response = await exchange(api.sock, request.encode(), timeout=10)
        assert response.startswith(b"HTTP/1.1 200"), response[:200]
        assert b"dotted" in response


async def _watch(api, path, events, headers=None, opened=None):
    """Collect the events of *path* into *events*; *opened* is set once the server answered (its
    subscription is made before the response starts)."""
    async with api.unix.get(api.u(path), headers=headers or {}) as r:
        assert r.status == 200
        if opened is not None:
            opened.set()
        sse_event = None
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                sse_event = line[len("event: "):]
            elif line.startswith("data: "):
                events.append({**json.loads(line[len("data: "):]), "sse_event": sse_event})
            elif line.startswith("{"):
                events.append(json.loads(line))


async def _watch_ws(api, path, events, opened):
    async with api.unix.ws_connect(api.u(path)) as ws:
        opened.set()
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                events.append(json.loads(msg.data))


def _changes(events):
    return [(e["event"], e.get("name"), e.get("instance"), e.get("pid")) for e in events]


async def test_regression_watch_delivers_each_event_once(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        raw, sse, ws, proc = [], [], [], []
        opened = [asyncio.Event() for _ in range(4)]
        readers = [asyncio.create_task(_watch(api, "/watch", raw, opened=opened[0])),
                   asyncio.create_task(_watch(api, "/watch", sse, {"Accept": "text/event-stream"}, opened[1])),
                   asyncio.create_task(_watch_ws(api, "/watch", ws, opened[2])),
                   asyncio.create_task(_watch(api, "/watch/proc/once", proc, opened=opened[3]))]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 5)
        await _post(api, {"name": "once", "cmd": "true", "restart": "never"})
        await until(lambda: all(("exit", "once.1") in [(e, i) for e, _, i, _ in _changes(got)]
                                for got in (raw, sse, ws, proc)), what="the exit on every watch")
        await _post(api, {"name": "marker", "cmd": "true", "start": False})
        await until(lambda: all(any(e["event"] == "create" and e["name"] == "marker" for e in got)
                                for got in (raw, sse, ws)), what="a later event: duplicates would come before it")
        for reader in readers:
            reader.cancel()
        for got in (raw, sse, ws, proc):
            counts = collections.Counter(_changes(got))
            assert counts and max(counts.values()) == 1, counts
        assert _changes(raw) == _changes(sse) == _changes(ws)
        assert [e["event"] for e in raw if e["name"] == "once"][:4] == ["create", "start", "spawn", "exit"]
        assert all(e["sse_event"] == e["event"] for e in sse)


async def test_regression_watch_proc_event_is_the_plain_name_and_topic_the_dotted_one(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        got, opened = [], asyncio.Event()
        reader = asyncio.create_task(_watch(api, "/watch/proc/once", got, opened=opened))
        await asyncio.wait_for(opened.wait(), 5)
        await _post(api, {"name": "once", "cmd": "true", "restart": "never"})
        await until(lambda: any(e["event"] == "exit" for e in got), what="the exit event")
        reader.cancel()
        for event in got:
            assert "." not in event["event"], event
            assert event["topic"] == f"proc.once.{event['event']}", event


@pytest.mark.parametrize("value,status", [
    (int(signal.SIGWINCH), 200), (str(int(signal.SIGWINCH)), 200), ("WINCH", 200), ("sigwinch", 200),
    (int(signal.SIGSEGV), 400), (int(signal.SIGSYS), 400), ("SEGV", 400), (0, 400),
])
async def test_regression_numeric_signals_are_read_by_number_within_the_allow_list(sock_dir, value, status):
    # reliability.rst said numbers get 400; the allow-list is what protects, and a number of
    # an allowed signal is that signal (docs now say so).
    async with serve(sock_dir, tcp=False) as api:
        api.manager.add_process("web", "sleep 30", graceful_timeout=0.2)
        await until(lambda: api.manager.list("web"), what="web.1")
        async with api.unix.post(api.u("/processes/web/_signal"), json={"signal": value}, headers=JSON) as r:
            assert r.status == status, await r.text()
            if status == 200:
                assert (await r.json())["signal"] == "SIGWINCH"


async def test_regression_stats_totals_are_sums_and_per_instance_maxima(sock_dir):
    # /stats mixed a sum (cpu, mem_info1) with a per-instance maximum (max_*) without saying so.
    async with serve(sock_dir, tcp=False) as api:
        api.manager.add_process("two", "/bin/sh", args=["-c", "x=$(head -c 3000000 /dev/zero | tr '\\0' a); sleep 30"],
                                numprocesses=2, graceful_timeout=0.2)
        api.manager.add_process("none", "sleep 30", numprocesses=0)
        await until(lambda: len(api.manager.list("two")) == 2, what="two instances")
        async with api.unix.get(api.u("/stats/two")) as r:
            body = await r.json()
        samples = body["stats"]
        assert len(samples) == 2
        mems = [s["mem_info1"] for s in samples]
        cpus = [s["cpu"] for s in samples]
        assert body["mem_info1"] == sum(mems) and body["max_mem_info1"] == max(mems)
        assert body["cpu"] == pytest.approx(sum(cpus)) and body["max_cpu"] == max(cpus)
        async with api.unix.get(api.u("/stats/none")) as r:
            empty = await r.json()
        assert empty == {"name": "none", "stats": [], "cpu": None, "max_cpu": None, "mem_info1": None,
                         "max_mem_info1": None}


@pytest.mark.parametrize("flapping", ["3 2", [3, 2], "4", [2, 1, 7, 5, 10, 1]])
async def test_regression_partial_flapping_values_are_refused_naming_the_key(sock_dir, flapping):
    # `flapping: "3 2"` was taken as attempts=3, window=2 and gaffer's defaults for the rest,
    # silently. Positional values are all four (or five, with stable_after) or an error.
    async with serve(sock_dir, tcp=False) as api:
        body = {"name": "x", "cmd": "sleep 30", "flapping": flapping}
        async with api.unix.post(api.u("/processes"), json=body) as r:
            assert r.status == 400, await r.text()
            error = await r.json()
        assert error["error"] == "invalid_option"
        assert error["message"].startswith("flapping: expected 4 values, 'attempts window retry_in max_retry'")
        assert api.manager.processes == []


async def test_regression_named_flapping_keys_default_the_others_and_a_fifth_value_is_stable_after(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        await _post(api, {"name": "named", "cmd": "sleep 30", "flapping": {"attempts": 3}})
        await _post(api, {"name": "five", "cmd": "sleep 30", "flapping": "2 1 7 5 30"})
        async with api.unix.get(api.u("/processes/named")) as r:
            assert (await r.json())["flapping"] == {"attempts": 3, "window": 1.0, "retry_in": 7.0, "max_retry": 5,
                                                     "stable_after": 10.0}
        async with api.unix.get(api.u("/processes/five")) as r:
            assert (await r.json())["flapping"]["stable_after"] == 30.0
