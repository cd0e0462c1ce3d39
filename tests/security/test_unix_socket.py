"""S-a / S01: the unix socket: 0600 in a 0700 directory, never wider for an instant, the
peer's uid checked, a too-long path and a foreign directory refused with a clear error."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import types
from pathlib import Path

import pytest

from honcho_uv.core.manager import Manager
from honcho_uv.errors import ConfigError, StateError
from honcho_uv.http import HttpHandler, binds, security
from honcho_uv.rundir import runtime_dir
from tests.kit.api import serve
from tests.kit.hu import hu
from tests.kit.wait import wait_for


async def test_unix_socket_is_0600_in_a_private_dir_and_removed_at_stop(sock_dir):
    async with serve(sock_dir, tcp=False):
        st = os.stat(sock_dir / "api.sock")
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        assert stat.S_IMODE(os.stat(sock_dir).st_mode) == 0o700
        assert not [p for p in os.listdir(sock_dir) if p != "api.sock"], "no temp file left behind"
    assert not (sock_dir / "api.sock").exists()


async def test_stale_socket_is_replaced_and_live_one_refused(sock_dir):
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock_dir / "api.sock"))  # bound, never listening, then closed: a dead owner's file
    stale.close()

    async with serve(sock_dir, tcp=False) as api:
        async with api.unix.get(api.u("/ping")) as r:
            assert r.status == 200
        second = HttpHandler([f"unix:{sock_dir}/api.sock"])
        manager = Manager()
        with pytest.raises(StateError, match="already serving"):
            second.start(asyncio.get_running_loop(), manager)
        async with api.unix.get(api.u("/ping")) as r:
            assert r.status == 200, "the live server keeps its socket"


def test_refuses_a_path_that_is_not_a_socket_too_long_or_in_a_foreign_dir(sock_dir):
    (sock_dir / "file").write_text("keep me")
    loop = asyncio.new_event_loop()
    try:
        for addresses, match in [([f"unix:{sock_dir}/file"], "not a socket"),
                                 ([f"unix:{sock_dir}/{'x' * 120}.sock"], "longer than the 107"),
                                 (["unix:/nonexistent-dir/a.sock"], "does not exist")]:
            with pytest.raises(ConfigError, match=match):
                HttpHandler(addresses).start(loop, Manager(loop))
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
async def test_another_user_cannot_connect(sock_dir):
    async def as_nobody(path):
        proc = await asyncio.create_subprocess_exec(
            "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", _CLIENT, path,
            stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        return out.decode().strip()

    async with serve(sock_dir, tcp=False):
        path = str(sock_dir / "api.sock")
        assert await as_nobody(path) == "ERR 13", "EACCES: the directory and socket modes keep nobody out"
        # Defence in depth: even with the modes opened up, SO_PEERCRED refuses another uid.
        os.chmod(sock_dir, 0o755)
        os.chmod(path, 0o666)
        assert await as_nobody(path) == "HTTP/1.1 403 Forbidden"


async def test_the_socket_is_created_under_umask_077_and_never_seen_wider(sock_dir, monkeypatch):
    """Proof by construction (the umask in force at bind(), which creates the file) and by
    observation (a thread lstat()ing the directory without pause through 20 start/stops)."""
    umasks: list[int] = []

    class Recording(socket.socket):
        def bind(self, address):  # type: ignore[no-untyped-def]
            current = os.umask(0o077)
            os.umask(current)
            umasks.append(current)
            return super().bind(address)

    fake = types.SimpleNamespace(**{k: getattr(socket, k) for k in dir(socket) if not k.startswith("__")})
    fake.socket = Recording
    monkeypatch.setattr(binds, "socket", fake)
    seen: dict[str, set[int]] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for entry in os.scandir(sock_dir):
                try:
                    mode = entry.stat(follow_symlinks=False).st_mode
                except FileNotFoundError:
                    continue
                if stat.S_ISSOCK(mode):
                    seen.setdefault(entry.name, set()).add(stat.S_IMODE(mode))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    try:
        for _ in range(20):
            async with serve(sock_dir, tcp=False):
                pass
    finally:
        stop.set()
        watcher.join()
    assert umasks and all(u == 0o077 for u in umasks), [oct(u) for u in umasks]
    assert seen, "the watcher saw the sockets"
    modes = set().union(*seen.values())
    assert all(m & 0o077 == 0 for m in modes), f"group/world bits seen: {sorted(map(oct, modes))}"


def test_the_process_umask_is_restored_after_binding(sock_dir):
    before = os.umask(0o022)
    os.umask(before)
    binds.bind_socket(binds.parse_bind(f"unix:{sock_dir}/u.sock")).close()
    after = os.umask(before)
    assert after == before


async def test_peer_uid_check_refuses_another_uid_and_admits_ours_and_root(sock_dir, monkeypatch):
    """SO_PEERCRED is defence in depth behind the file modes; the seam is security.peer_uid."""

    async with serve(sock_dir, tcp=False) as api:
        async with api.unix.get(api.u("/ping")) as r:
            assert r.status == 200
        assert security.peer_uid.__module__ == "honcho_uv.http.security"
        for fake_uid, status in ((os.getuid(), 200), (0, 200), (65534, 403), (12345, 403)):
            monkeypatch.setattr(security, "peer_uid", lambda request, uid=fake_uid: uid)
            async with api.unix.get(api.u("/ping")) as r:
                assert r.status == status, fake_uid
                if status == 403:
                    assert (await r.json())["error"] == "forbidden"


async def test_peer_uid_reads_so_peercred(sock_dir):
    seen = []

    async with serve(sock_dir, tcp=False) as api:
        original = security.peer_uid

        def spy(request):  # type: ignore[no-untyped-def]
            uid = original(request)
            seen.append(uid)
            return uid

        security.peer_uid = spy
        try:
            async with api.unix.get(api.u("/ping")) as r:
                assert r.status == 200
        finally:
            security.peer_uid = original

    assert seen == [os.getuid()]


def test_runtime_dir_is_created_0700_and_a_loose_one_is_tightened(tmp_path):
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    old = os.umask(0)  # the worst umask: mkdir(mode=0o700) must not depend on it
    try:
        path = runtime_dir({"XDG_RUNTIME_DIR": str(xdg)})
    finally:
        os.umask(old)
    assert path == xdg / "hu" and stat.S_IMODE(os.stat(path).st_mode) == 0o700
    os.chmod(path, 0o777)
    runtime_dir({"XDG_RUNTIME_DIR": str(xdg)})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700


def test_hu_start_socket_is_0600_in_a_0700_runtime_dir(app):
    xdg = app.root / "xdg"  # a fresh runtime directory: hu creates hu/ in it
    xdg.mkdir()
    app.write("Procfile", "web: sleep 30\n")
    proc = app.popen("start", env={"XDG_RUNTIME_DIR": str(xdg)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)

    def sockets() -> list[Path]:
        assert proc.poll() is None, "hu start made its socket"
        return list((xdg / "hu").glob("*.sock")) if (xdg / "hu").is_dir() else []

    try:
        socks = wait_for(sockets, 15, "hu start's socket")
        assert stat.S_IMODE(os.stat(xdg / "hu").st_mode) == 0o700
        assert stat.S_IMODE(os.lstat(socks[0]).st_mode) == 0o600
    finally:
        proc.terminate()
        proc.wait(15)


def test_a_too_long_socket_path_is_a_clear_error_from_the_cli():
    deep = "/tmp/" + "d" * 120 + "/x.sock"
    result = hu("daemon", "--bind", f"unix:{deep}")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "longer than the 107" in result.stderr
