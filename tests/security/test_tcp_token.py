"""S-b / S02 and S-c / S03: TCP binds loopback by default, a remote bind needs an opt-in and a
token, and the token is compared in constant time, refused in query strings, never logged."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import socket
import subprocess
import sys

import psutil
import pytest

from honcho_uv.errors import ConfigError
from honcho_uv.http import HttpHandler, security
from tests.kit.api import exchange, serve, status_of
from tests.kit.hu import hu_env

TOKEN = "tok-3f9c2a7be1d04c55a1f0e9d8c7b6a5f4"

def _listening(pid: int) -> list[tuple[str, int]]:
    return [(c.laddr.ip, c.laddr.port) for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN]


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


async def test_token(sock_dir, caplog):
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

    assert TOKEN not in caplog.text


def test_the_daemon_listens_on_loopback_only_by_default(daemon):
    d = daemon(tcp=True)
    listening = _listening(d.proc.pid)
    assert listening == [("127.0.0.1", d.port)], listening
    ss = subprocess.run(["ss", "-Hltn", f"sport = :{d.port}"], capture_output=True, text=True)
    if ss.returncode == 0 and ss.stdout.strip():
        local = [line.split()[3] for line in ss.stdout.splitlines()]
        assert local == [f"127.0.0.1:{d.port}"], ss.stdout


def test_a_bare_port_binds_loopback(daemon, sock_dir):
    d = daemon("--bind", "0")
    assert {ip for ip, _ in _listening(d.proc.pid)} == {"127.0.0.1"}


@pytest.mark.parametrize("args,needs", [
    (["--bind", "tcp://0.0.0.0:0"], "--allow-remote"),
    (["--bind", "tcp://0.0.0.0:0", "--token", TOKEN], "--allow-remote"),
    (["--bind", "tcp://0.0.0.0:0", "--allow-remote"], "token"),
    (["--bind", "tcp://[::]:0", "--allow-remote"], "token"),
])
def test_a_remote_bind_without_opt_in_and_token_refuses_to_start(args, needs):
    result = subprocess.run([sys.executable, "-m", "honcho_uv", "daemon", *args], env=hu_env(),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "refusing to listen" in result.stderr and needs in result.stderr
    assert "Traceback" not in result.stderr


def test_a_remote_bind_with_opt_in_and_token_starts_with_a_loud_warning(sock_dir):
    proc = subprocess.Popen([sys.executable, "-m", "honcho_uv", "daemon", "--bind", f"unix:{sock_dir}/d.sock",
                             "--bind", "tcp://0.0.0.0:0", "--allow-remote", "--token", TOKEN],
                            env=hu_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out = ""
        while "listening on" not in out:
            line = proc.stdout.readline()
            assert line, out
            out += line
        assert "reachable from other machines" in out and "WARNING" in out
        assert TOKEN not in out
    finally:
        proc.terminate()
        rest = proc.communicate(timeout=15)[0]
    assert TOKEN not in rest


def test_token_file_must_be_private(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    os.chmod(token_file, 0o644)
    result = subprocess.run([sys.executable, "-m", "honcho_uv", "daemon", "--bind", "tcp://127.0.0.1:0",
                             "--token-file", str(token_file)], env=hu_env(), capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "readable by others" in result.stderr
    assert TOKEN not in result.stderr


async def test_token_is_compared_with_hmac_compare_digest(sock_dir, monkeypatch):
    assert security._compare is hmac.compare_digest, "the seam defaults to the constant-time compare"
    calls = []

    def recording(a, b):  # type: ignore[no-untyped-def]
        calls.append((a, b))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(security, "_compare", recording)

    async with serve(sock_dir, unix=False, token=TOKEN) as api:
        for presented, status in (("wrong", 401), (TOKEN, 200)):
            async with api.tcp.get(api.t("/ping"), headers={"Authorization": f"Bearer {presented}"}) as r:
                assert r.status == status

    assert calls == [(b"wrong", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


async def test_1000_rapid_wrong_tokens_all_get_401_and_the_right_one_still_works(sock_dir):
    async with serve(sock_dir, unix=False, token=TOKEN) as api:
        async def attempt(i: int) -> int:
            async with api.tcp.get(api.t("/ping"), headers={"Authorization": f"Bearer {TOKEN[:-4]}{i:04d}"}) as r:
                return r.status

        statuses = await asyncio.gather(*(attempt(i) for i in range(1000)))
        assert set(statuses) == {401}
        async with api.tcp.get(api.t("/ping"), headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 200


async def test_a_non_utf8_authorization_header_is_a_401_not_a_500(sock_dir):
    """Regression: bytes that are not UTF-8 in the header made the token comparison raise."""

    async with serve(sock_dir, unix=False, token=TOKEN) as api:
        for raw in (b"Bearer \xff\xfe", b"Bearer " + TOKEN.encode()[:-1] + b"\xe9", b"\xff\xff \xff"):
            response = await exchange(api.tcp_address, b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      b"Authorization: " + raw + b"\r\nConnection: close\r\n\r\n")
            assert status_of(response) == 401, (raw, response[:100])


async def test_the_token_is_never_logged_even_at_debug(sock_dir, caplog):
    caplog.set_level(logging.DEBUG)

    async with serve(sock_dir, token=TOKEN) as api:
        for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"}):
            async with api.tcp.get(api.t("/processes"), headers=headers) as r:
                assert TOKEN not in await r.text()
        async with api.tcp.get(api.t(f"/processes?token={TOKEN}")) as r:
            assert r.status == 401 and TOKEN not in await r.text()
        bad = f"GET /ping?access_token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nX: \x00{TOKEN}\r\n\r\n"
        response = await exchange(api.tcp_address, bad.encode(), timeout=2)
        assert status_of(response) in (400, 401, None)

    assert TOKEN not in caplog.text
    assert TOKEN not in repr(HttpHandler(["tcp://127.0.0.1:0"], token=TOKEN).policy)


def test_the_daemon_log_never_shows_the_token(daemon):
    d = daemon("--token", TOKEN, tcp=True)
    with socket.create_connection(d.tcp) as s:
        s.sendall(f"GET /ping?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                  "Connection: close\r\n\r\n".encode())
        assert status_of(s.recv(4096)) == 401
    d.stop()
    assert TOKEN not in d.output()
