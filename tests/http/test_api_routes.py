"""Every route of the API against a real Manager over the owner's unix socket."""

from __future__ import annotations

from tests.kit.api import serve
from tests.kit.procs import TICKER
from tests.kit.wait import until


async def test_every_route(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        s, u = api.unix, api.u

        async def call(method, path, body=None, status=200):
            kwargs = {"json": {} if body is None else body} if method in ("POST", "PUT") else {}
            async with s.request(method, u(path), **kwargs) as r:
                data = await r.json()
                assert r.status == status, (method, path, r.status, data)
                return data

        assert await call("GET", "/ping") == {"ok": True}
        assert (await call("GET", "/version"))["name"] == "honcho_uv"
        created = await call("POST", "/processes", {"name": "web", "cmd": "/bin/sh", "args": ["-c", TICKER],
                                                     "env": {"SECRET_TOKEN": "hunter2"},
                                                     "redirect_output": ["out", "out"]}, status=201)
        assert created == {"ok": True, "name": "web"}
        await until(lambda: api.manager.list("web"), what="web.1")
        listing = await call("GET", "/processes")
        (web,) = listing["processes"]
        assert web["name"] == "web" and web["state"] == "RUNNING" and web["running"] == 1
        assert web["env"] == ["SECRET_TOKEN"], "env values are never listed"
        assert web["instances"][0]["name"] == "web.1" and web["instances"][0]["os_pid"] > 0
        one = await call("GET", "/processes/web")
        assert "hunter2" not in str(one)
        assert (await call("POST", "/processes/web/_scale", {"n": 2}))["numprocesses"] == 2
        assert (await call("POST", "/processes/web/_scale", {"n": "+1"}))["numprocesses"] == 3
        assert (await call("POST", "/processes/web/_scale", {"n": "-1"}))["numprocesses"] == 2
        await until(lambda: len(api.manager.list("web")) == 2, what="2 instances")
        pids = await call("GET", "/processes/web/pids")
        assert [p["name"] for p in pids["processes"]] == ["web.1", "web.2"]
        all_pids = (await call("GET", "/pids"))["pids"]
        assert {p["name"] for p in all_pids} == {"web.1", "web.2"}
        first = all_pids[0]
        detail = await call("GET", f"/pids/{first['id']}")
        assert detail["os_pid"] == first["os_pid"] and detail["stats"]["mem_info1"] > 0
        assert "env" not in detail
        await call("POST", f"/pids/{first['id']}/_signal", {"signal": "CONT"})
        await call("POST", "/processes/web/_signal", {"signal": "WINCH"})
        stats = await call("GET", "/stats")
        assert stats["stats"][0]["name"] == "web" and len(stats["stats"][0]["stats"]) == 2
        assert (await call("GET", "/stats/web"))["name"] == "web"
        await until(lambda: api.handler.logs.tail("web", 5), what="log lines")
        logs = await call("GET", "/logs?lines=3")
        # system lines (started, stopped) come with every selection, as in `hu logs`
        output = [line for line in logs["lines"] if line["name"] != "system"]
        assert len(logs["lines"]) == 3 and output and all(line["line"].startswith("tick") for line in output)
        assert all(line["name"] in ("web.1", "system") for line in (await call("GET", "/logs/web.1?lines=5"))["lines"])
        # restart one instance: web.2 gets a new os pid, web.1 keeps its own
        before = {p.name: p.os_pid for p in api.manager.list("web")}
        await call("POST", "/processes/web.2/_restart")
        after = {p.name: p.os_pid for p in api.manager.list("web")}
        assert after["web.1"] == before["web.1"] and after["web.2"] != before["web.2"]
        await call("POST", "/processes/web/_restart")
        assert all(p.os_pid not in before.values() for p in api.manager.list("web"))
        # stop one instance by id: held until the next start
        victim = api.manager.list("web")[1]
        await call("DELETE", f"/pids/{victim.id}")
        assert [p.name for p in api.manager.list("web")] == ["web.1"]
        await call("POST", "/processes/web/_stop")
        assert api.manager.list("web") == [] and (await call("GET", "/processes/web"))["state"] == "STOPPED"
        await call("POST", "/processes/web/_start")
        await until(lambda: len(api.manager.list("web")) == 2, what="restarted instances")
        await call("PUT", "/processes/web", {"numprocesses": 1, "env": {"A": "b"}})
        await until(lambda: len(api.manager.list("web")) == 1, what="updated template")
        assert (await call("GET", "/processes/web"))["env"] == ["A"]
        await call("DELETE", "/processes/web")
        assert (await call("GET", "/processes")) == {"processes": []}
        # errors are JSON with the right code
        assert (await call("GET", "/processes/web", status=404))["error"] == "unknown_process"
        assert (await call("GET", "/pids/999", status=404))["error"] == "unknown_process"
        assert (await call("GET", "/pids/web.1", status=400))["error"] == "bad_request"
        assert (await call("GET", "/nowhere", status=404))["error"] == "not_found"
        assert (await call("POST", "/processes", {"name": "x", "cmd": "true", "bogus": 1}, status=400))[
            "error"] == "invalid_option"
        await call("POST", "/processes", {"name": "x", "cmd": "sleep 100"}, status=201)
        assert (await call("POST", "/processes", {"name": "x", "cmd": "true"}, status=409))["error"] == "state_conflict"
        assert (await call("POST", "/processes/x/_scale", {"n": "lots"}, status=400))["error"] == "invalid_option"
        assert (await call("POST", "/processes/x/_signal", {"signal": "SEGV"}, status=400))["error"] == "bad_request"
        assert (await call("POST", "/processes/x/_signal", {"signal": 9999}, status=400))["error"] == "bad_request"


async def test_quit_calls_the_callback(sock_dir):
    called = []
    async with serve(sock_dir, tcp=False, on_quit=lambda: called.append(True)) as api:
        async with api.unix.post(api.u("/_quit"), json={}) as r:
            assert r.status == 202
        await until(lambda: called, what="on_quit")


async def test_quit_without_callback_stops_the_manager(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        async with api.unix.post(api.u("/_quit"), json={}) as r:
            assert r.status == 202
        await api.manager.wait_stopped()
        assert not (sock_dir / "api.sock").exists(), "the socket file is removed at stop"
