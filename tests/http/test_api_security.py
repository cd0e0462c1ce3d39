"""The security battery (reliability-anchors.md S01-S08) against real sockets."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import socket
import stat
import sys
import tempfile

import pytest

from httpkit import serve
from honcho_uv.errors import ConfigError, StateError
from honcho_uv.http import HttpHandler
from honcho_uv.manager import Manager

TOKEN = "s3cret-token-value"


def test_unix_socket_is_0600_in_a_private_dir_and_removed_at_stop(run, sock_dir):
    async def scenario():
        async with serve(sock_dir, tcp=False):
            st = os.stat(sock_dir / "api.sock")
            assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
            assert stat.S_IMODE(os.stat(sock_dir).st_mode) == 0o700
            assert not [p for p in os.listdir(sock_dir) if p != "api.sock"], "no temp file left behind"
        assert not (sock_dir / "api.sock").exists()

    run(scenario())


def test_stale_socket_is_replaced_and_live_one_refused(run, sock_dir):
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock_dir / "api.sock"))  # bound, never listening, then closed: a dead owner's file
    stale.close()

    async def scenario():
        async with serve(sock_dir, tcp=False) as api:
            async with api.unix.get(api.u("/ping")) as r:
                assert r.status == 200
            second = HttpHandler([f"unix:{sock_dir}/api.sock"])
            manager = Manager()
            with pytest.raises(StateError, match="already serving"):
                second.start(asyncio.get_running_loop(), manager)
            async with api.unix.get(api.u("/ping")) as r:
                assert r.status == 200, "the live server keeps its socket"

    run(scenario())


def test_refuses_a_path_that_is_not_a_socket_too_long_or_in_a_foreign_dir(sock_dir):
    (sock_dir / "file").write_text("keep me")
    loop = asyncio.new_event_loop()
    try:
        for binds, match in [([f"unix:{sock_dir}/file"], "not a socket"),
                             ([f"unix:{sock_dir}/{'x' * 120}.sock"], "longer than the 107"),
                             (["unix:/nonexistent-dir/a.sock"], "does not exist")]:
            with pytest.raises(ConfigError, match=match):
                HttpHandler(binds).start(loop, Manager(loop))
        foreign = tempfile.mkdtemp(dir="/tmp")
        os.chown(foreign, 65534, 65534)
        try:
            with pytest.raises(ConfigError, match="owned by uid 65534"):
                HttpHandler([f"unix:{foreign}/a.sock"]).start(loop, Manager(loop))
        finally:
            shutil.rmtree(foreign)
    finally:
        loop.close()
    assert (sock_dir / "file").read_text() == "keep me"


def test_tcp_policy():
    assert HttpHandler(["tcp://:0"]).binds[0].host == "127.0.0.1"
    with pytest.raises(ConfigError, match="--allow-remote"):
        HttpHandler(["tcp://0.0.0.0:5000"])
    with pytest.raises(ConfigError, match="token"):
        HttpHandler(["tcp://0.0.0.0:5000"], allow_remote=True)
    with pytest.raises(ConfigError, match="--allow-remote"):
        HttpHandler(["tcp://192.0.2.1:5000"], token=TOKEN)
    HttpHandler(["tcp://0.0.0.0:5000"], allow_remote=True, token=TOKEN)  # allowed (not started)
    assert TOKEN not in repr(HttpHandler(["tcp://127.0.0.1:0"], token=TOKEN).policy)


def test_token(run, sock_dir, caplog):
    async def scenario():
        async with serve(sock_dir, token=TOKEN) as api:
            t = api.t("/processes")
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {TOKEN[:-1]}"},
                            {"Authorization": f"Basic {TOKEN}"}):
                async with api.tcp.get(t, headers=headers) as r:
                    assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
                    assert (await r.json())["error"] == "unauthorized"
            async with api.tcp.get(t + f"?token={TOKEN}") as r:
                assert r.status == 401, "a token in the query string is never accepted"
            async with api.tcp.get(t + f"?token={TOKEN}", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                assert r.status == 401
            async with api.tcp.get(t, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                assert r.status == 200
            async with api.unix.get(api.u("/processes")) as r:
                assert r.status == 200, "the owner's unix socket needs no token"

    run(scenario())
    assert TOKEN not in caplog.text


def test_host_origin_method_and_content_type(run, sock_dir):
    async def scenario():
        async with serve(sock_dir) as api:
            s, t = api.tcp, api.t
            for host in ("evil.example", "127.0.0.1.nip.io", "evil.example:80"):
                async with s.get(t("/ping"), headers={"Host": host}) as r:
                    assert r.status == 403, host
            for host in ("localhost", "127.0.0.1:9", "[::1]:80"):
                async with s.get(t("/ping"), headers={"Host": host}) as r:
                    assert r.status == 200, host
            async with s.post(t("/processes/web/_stop"), json={}, headers={"Origin": "https://evil.example"}) as r:
                assert r.status == 403
            async with s.get(t("/ping"), headers={"Origin": "null"}) as r:
                assert r.status == 403
            async with s.get(t("/ping"), headers={"Origin": "http://localhost:3000"}) as r:
                assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers
            async with s.get(t("/processes/web/_restart")) as r:
                assert r.status == 405 and (await r.json())["error"] == "method_not_allowed"
            for ctype, body in (("text/plain", b"{}"), ("application/x-www-form-urlencoded", b"a=b")):
                async with s.post(t("/processes/web/_restart"), data=body, headers={"Content-Type": ctype}) as r:
                    assert r.status == 415, ctype
            async with s.post(t("/_quit")) as r:
                assert r.status == 415, "a POST without a body still needs the JSON content type"

    run(scenario())


def test_bodies_and_names(run, sock_dir):
    async def scenario():
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

    run(scenario())


def test_exec_over_tcp_is_refused_unless_allowed(run, sock_dir):
    body = {"name": "evil", "cmd": "true"}

    async def scenario():
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

    run(scenario())


def test_a_bug_gives_500_without_traceback(run, sock_dir, monkeypatch, caplog):
    async def scenario():
        async with serve(sock_dir, tcp=False) as api:
            monkeypatch.setattr(api.manager, "jobs", lambda: 1 / 0)
            async with api.unix.get(api.u("/processes")) as r:
                text = await r.text()
                assert r.status == 500 and "Traceback" not in text and "ZeroDivision" not in text
                assert (await r.json())["error"] == "internal_error"

    run(scenario())
    assert "ZeroDivisionError" in caplog.text, "the bug is logged on the server"


_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("ERR", e.errno); sys.exit(0)
s.sendall(b"GET /ping HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n")
print(s.recv(100).split(b"\\r\\n")[0].decode())
"""


@pytest.mark.skipif(os.getuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_another_user_cannot_connect(run):
    async def as_nobody(path):
        proc = await asyncio.create_subprocess_exec(
            "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", _CLIENT, path,
            stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        return out.decode().strip()

    async def scenario(directory):
        async with serve(directory, tcp=False):
            path = str(directory / "api.sock")
            assert await as_nobody(path) == "ERR 13", "EACCES: the directory and socket modes keep nobody out"
            # Defence in depth: even with the modes opened up, SO_PEERCRED refuses another uid.
            os.chmod(directory, 0o755)
            os.chmod(path, 0o666)
            assert await as_nobody(path) == "HTTP/1.1 403 Forbidden"

    directory = tempfile.mkdtemp(prefix="hu-t-", dir="/tmp")
    os.chmod(directory, 0o700)
    try:
        from pathlib import Path

        run(scenario(Path(directory)))
    finally:
        shutil.rmtree(directory)
