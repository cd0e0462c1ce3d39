"""S-f..S-h / S06..S08: names are identifiers, never paths; no command execution over TCP
unless allowed; signals from an allow-list to managed processes only; the environment and
tracebacks never leave the server."""

from __future__ import annotations

import io
import json
import os

import pytest

from tests.kit.api import JSON, exchange, serve, status_of
from tests.kit.wait import until

SECRET = "hunter2-secret-value"
TRAVERSALS = ["../../etc/passwd", "..%2f..%2fetc%2fpasswd", "..%252f..%252fetc%252fpasswd", "%00", "web%00",
              "web/../x", "web%2f..%2fx", "w%C3%A9b", "%EF%BC%8E%EF%BC%8E%EF%BC%8Fetc", "web\\..\\x", "x" * 10000,
              "web.0", "web.-1", "web.1.2", "%2e%2e", "web%0d%0aX-Injected:%201", "~root", "$(id)"]
DOT_SEGMENTS = [".", ".."]  # merged away by URL normalisation: they reach another route, never a file
NAME_ROUTES = ["/processes/{}", "/processes/{}/pids", "/stats/{}", "/stats/{}/stream", "/logs/{}", "/watch/{}",
               "/pids/{}", "/streams/{}/out"]


async def test_bodies_and_names(sock_dir):
    async with serve(sock_dir, tcp=False) as api:
        s, u = api.unix, api.u
        json_h = {"Content-Type": "application/json"}
        async with s.post(u("/processes"), data=io.BytesIO(b"{" + b" " * (2 << 20) + b"}"), headers=json_h) as r:
            assert r.status == 413 and (await r.json())["error"] == "body_too_large"
        async with s.post(u("/processes"), data=b"{not json", headers=json_h) as r:
            assert r.status == 400 and (await r.json())["error"] == "bad_request"
        async with s.post(u("/processes"), data=b"[" * 100000 + b"]" * 100000, headers=json_h) as r:
            assert r.status == 400
        async with s.post(u("/processes"), data=b'{"a":' * 40 + b"1" + b"}" * 40, headers=json_h) as r:
            assert r.status == 400
        async with s.post(u("/processes"), json={"name": 5, "cmd": "x"}) as r:
            assert r.status == 400
        for name in ("..%2f..%2fetc%2fpasswd", "%00", "web%00", "w%C3%A9b", "x" * 10000, "web.0", "web.-1"):
            async with s.get(u(f"/processes/{name}")) as r:
                assert r.status in (400, 404, 431), name
                assert "root:" not in await r.text()
        async with s.get(u("/processes/web/../../etc/passwd")) as r:
            assert r.status == 404


async def test_traversal_names_on_every_route_give_4xx_and_never_file_contents(sock_dir):
    async with serve(sock_dir) as api:
        api.manager.add_process("web", "sleep 30")
        for route in NAME_ROUTES:
            for name in TRAVERSALS + DOT_SEGMENTS:
                path = route.format(name)
                for address in (api.sock, api.tcp_address):  # raw: no client-side normalisation
                    response = await exchange(address, f"GET {path} HTTP/1.1\r\nHost: localhost\r\n"
                                              "Connection: close\r\n\r\n".encode(), timeout=2)
                    if name not in DOT_SEGMENTS:
                        assert 400 <= (status_of(response) or 400) < 500, (path[:80], response[:60])
                    assert b"root:" not in response and b"Traceback" not in response, path[:80]
        for name in TRAVERSALS[:8]:
            response = await exchange(api.sock, f"POST /processes/{name}/_stop HTTP/1.1\r\nHost: x\r\n"
                                      "Content-Type: application/json\r\nContent-Length: 2\r\n"
                                      "Connection: close\r\n\r\n{{}}".encode(), timeout=2)
            assert status_of(response) in (400, 404), (name, response[:80])
        assert [p.name for p in api.manager.list("web")] == ["web.1"]


def test_a_procfile_with_a_path_like_name_is_refused_with_its_line():
    from honcho_uv.errors import ProcfileError
    from honcho_uv.procfile import parse_procfile

    for bad in ("../x: echo", "web/x: echo", "w\u00e9b: echo", "web.1: echo", ".: echo"):
        with pytest.raises(ProcfileError, match=r"Procfile:2"):
            parse_procfile("ok: true\n" + bad + "\n")


async def test_exec_over_tcp_is_refused_unless_allowed(sock_dir):
    body = {"name": "evil", "cmd": "true"}

    async with serve(sock_dir) as api:
        async with api.tcp.post(api.t("/processes"), json=body) as r:
            assert r.status == 403 and (await r.json())["error"] == "forbidden"
        async with api.unix.post(api.u("/processes"), json={**body, "start": False}) as r:
            assert r.status == 201
        async with api.tcp.put(api.t("/processes/evil"), json={"cmd": "id"}) as r:
            assert r.status == 403
        assert api.manager.get_template("evil").cmd == "true"
    async with serve(sock_dir, allow_exec=True) as api:
        async with api.tcp.post(api.t("/processes"), json={**body, "start": False}) as r:
            assert r.status == 201


async def test_exec_capable_routes_over_tcp_change_nothing(sock_dir):
    async with serve(sock_dir) as api:
        api.manager.add_process("web", "sleep 30", env={"A": "1"})
        for method, path, body in (
                ("PUT", "/processes/web", {"env": {"LD_PRELOAD": "/tmp/evil.so"}}),
                ("PUT", "/processes/web", {"cmd": "sh -c id", "shell": True}),
                ("POST", "/processes", {"name": "x", "cmd": "id", "uid": 0}),
                ("PATCH", "/processes/web", {"cmd": "id"}),
                ("POST", "/processes/web/_reload", {"path": "/tmp/evil"}),
                ("POST", "/system.multicall", {}),
                ("POST", "/__class__", {}),
                ("GET", "/processes/web/__init__", None),
                ("POST", "/processes/web/__class__", {})):
            async with api.tcp.request(method, api.t(path), json=body) as r:
                assert r.status in (403, 404, 405), (method, path, r.status)
        template = api.manager.get_template("web")
        assert template.cmd == "sleep 30" and dict(template.env) == {"A": "1"}
        assert api.manager.processes == ["web"]


@pytest.mark.parametrize("value,status", [
    ("TERM", 200), ("usr1", 200), ("SIGHUP", 200), (15, 200), ("9", 200),
    ("SYS", 400), (31, 400), ("SEGV", 400), (0, 400), (-1, 400), (99999, 400), ("RTMIN", 400), ("64", 400),
    (1.5, 400), (True, 400), (None, 400), ([15], 400), ({"n": 15}, 400), ("", 400), ("TERM; rm -rf /", 400),
    ("x" * 10000, 400),
])
async def test_signals_come_from_an_allow_list(sock_dir, value, status):
    async with serve(sock_dir, unix=False) as api:
        api.manager.add_process("web", "sleep 30", graceful_timeout=0.2)
        await until(lambda: api.manager.list("web"), what="web.1")
        async with api.tcp.post(api.t("/processes/web/_signal"), json={"signal": value}) as r:
            assert r.status == status, await r.text()


async def test_raw_os_pids_are_never_accepted(sock_dir):
    async with serve(sock_dir) as api:
        api.manager.add_process("web", "sleep 30")
        (process,) = await until(lambda: api.manager.list("web"), what="web.1")
        stranger = os.getpid()  # not a managed process: our own test runner
        # pid 1 is init; it is also web.1's internal id when this test runs first in its process.
        for target in {stranger, process.os_pid, 1} - {process.id}:
            async with api.tcp.post(api.t(f"/pids/{target}/_signal"), json={"signal": "KILL"}) as r:
                assert r.status == 404, target
            async with api.tcp.post(api.t(f"/processes/{target}/_signal"), json={"signal": "KILL"}) as r:
                assert r.status == 404, target
            async with api.tcp.delete(api.t(f"/pids/{target}")) as r:
                assert r.status == 404, target
            async with api.tcp.post(api.t("/processes/web/_signal"), json={"signal": "TERM", "pid": target}) as r:
                assert r.status == 200  # extra keys are ignored: the target is the name in the URL
        assert process.alive or process.exit_status is not None


async def test_the_environment_is_redacted_from_every_listing(sock_dir):
    async with serve(sock_dir) as api:
        api.manager.add_process("web", "sleep 30", env={"DB_PASSWORD": SECRET, "PLAIN": SECRET + "2"})
        (process,) = await until(lambda: api.manager.list("web"), what="web.1")
        paths = ["/processes", "/processes/web", "/processes/web/pids", "/pids", f"/pids/{process.id}",
                 "/stats", "/stats/web", "/logs", "/logs/web", "/version", "/ping"]
        for path in paths:
            for session, url in ((api.unix, api.u(path)), (api.tcp, api.t(path))):
                async with session.get(url) as r:
                    text = await r.text()
                    assert r.status == 200, path
                    assert SECRET not in text, f"{path} leaks an env value"
        async with api.unix.get(api.u("/processes/web")) as r:
            assert sorted((await r.json())["env"]) == ["DB_PASSWORD", "PLAIN"], "names only"
        async with api.unix.get(api.u("/watch")) as watch:
            async with api.unix.put(api.u("/processes/web"), json={"env": {"NEW": SECRET}}) as r:
                assert r.status == 200
            seen = b""
            while b"update" not in seen:
                seen += await watch.content.readline()
            assert SECRET.encode() not in seen


async def test_a_bug_gives_500_without_traceback(sock_dir, monkeypatch, caplog):
    async with serve(sock_dir, tcp=False) as api:
        monkeypatch.setattr(api.manager, "jobs", lambda: 1 / 0)
        async with api.unix.get(api.u("/processes")) as r:
            text = await r.text()
            assert r.status == 500 and "Traceback" not in text and "ZeroDivision" not in text
            assert (await r.json())["error"] == "internal_error"

    assert "ZeroDivisionError" in caplog.text, "the bug is logged on the server"


async def test_no_traceback_or_internal_path_in_any_error_body(sock_dir):
    async with serve(sock_dir) as api:
        probes = [("GET", "/nope", None), ("GET", "/processes/nope", None), ("POST", "/processes", b"{"),
                  ("POST", "/processes", b'{"name": "x", "cmd": "a \'unclosed"}'),
                  ("POST", "/processes", b'{"name": "x", "cmd": "true", "uid": 99999999999999999999}'),
                  ("POST", "/processes", b'{"name": "x", "cmd": "true", "flapping": "nan 1 1 1"}'),
                  ("POST", "/processes", b'{"name": "x", "cmd": "true", "graceful_timeout": NaN}'),
                  ("POST", "/processes", b'{"name": "x", "cmd": "true", "redirect_output": 5}'),
                  ("POST", "/processes", b'{"name": "x", "cmd": "true", "args": 5}'),
                  ("DELETE", "/pids/999999999999999999999", None), ("GET", "/logs?lines=1e999", None)]
        for method, path, body in probes:
            async with api.unix.request(method, api.u(path), data=body, headers=JSON) as r:
                text = await r.text()
                assert 400 <= r.status < 500, (path, body, r.status, text)
                assert "Traceback" not in text and "/honcho_uv/" not in text and 'File "' not in text, text
                assert set(json.loads(text)) == {"error", "message"}


async def test_scale_is_bounded_so_a_client_cannot_fork_bomb_the_host(sock_dir):
    """Regression: {"n": 1000000000} over loopback TCP asked the Manager for a billion children."""

    async with serve(sock_dir, unix=False) as api:
        api.manager.add_process("web", "sleep 30", start=False)
        for n in (10**9, "1000000000", "+10001", "=99999999999", 10001, "9" * 5000):
            async with api.tcp.post(api.t("/processes/web/_scale"), json={"n": n}) as r:
                assert r.status == 400, n
        assert api.manager.get_template("web").numprocesses == 1 and not api.manager.list("web")
        async with api.tcp.post(api.t("/processes/web/_scale"), json={"n": "-5"}) as r:
            assert r.status == 200 and (await r.json())["numprocesses"] == 0
