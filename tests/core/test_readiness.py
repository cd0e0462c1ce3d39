"""Readiness probes, health checks and dependencies, with real processes in one Manager."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from honcho_uv import Manager, ProcessState
from tests.kit.wait import until

LISTEN = """
import os, socket, sys, time
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(os.environ["PORT"]))); s.listen()
print("listening", flush=True)
time.sleep(60)
"""
HTTP = """
import http.server, os, sys
status = int(sys.argv[1])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(status); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""
NOTIFY = """
import os, socket, time
time.sleep(0.2)
addr = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"STATUS=warming up\\nREADY=1\\n", "\\0" + addr[1:] if addr.startswith("@") else addr)
time.sleep(60)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recorder:
    """Events and exit-policy calls of a Manager."""

    def __init__(self, manager: Manager):
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.exits: list[tuple[str, int, str]] = []
        self.failures: list[str] = []
        manager.subscribe(".", lambda e, msg: self.events.append((e, msg)))
        manager.exit_policy = lambda p, status, outcome: self.exits.append((p.name, status.returncode, outcome))
        manager.on_failure = lambda name, why: self.failures.append(why)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [m for e, m in self.events if e == event]


def _py(code: str, *args: str) -> dict[str, Any]:
    return {"cmd": sys.executable, "args": ["-u", "-c", code, *args]}


async def test_started_and_alive_probes(env: dict[str, str]) -> None:
    async with Manager() as m:
        m.add_process("a", "sleep", args=["30"], env=env, ready="started")
        m.add_process("b", "sleep", args=["30"], env=env, ready=0.3)
        await until(lambda: m.list("a") and m.list("b"))
        assert m.get_process("a.1").ready is True and m.get_process("b.1").ready is False
        await until(lambda: m.get_process("b.1").ready, 3)
        m.add_process("c", "sleep", args=["30"], env=env)  # no probe: ready is None
        await until(lambda: m.list("c"))
        assert m.get_process("c.1").ready is None and (await m.wait_ready(timeout=2)).ok


async def test_tcp_probe_needs_the_instances_own_listener(env: dict[str, str]) -> None:
    port = _free_port()
    stranger = socket.socket()
    stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    stranger.bind(("127.0.0.1", port))
    stranger.listen()
    try:
        async with Manager() as m:
            rec = Recorder(m)
            m.add_process("db", **_py("import time; time.sleep(30)"), env=env, port=port, ready="tcp",
                          ready_timeout=1.0)
            await until(lambda: rec.named("not_ready"), 5)  # a stranger on the port never made it ready
            assert "not ready within 1s (tcp)" in rec.named("not_ready")[0]["message"]
            assert not rec.named("ready")
    finally:
        stranger.close()
    async with Manager() as m:
        m.add_process("db", **_py(LISTEN, "0.3"), env=env, port=port, ready="tcp")
        result = await m.wait_ready(["db"], timeout=10)
        assert result.ok and m.get_process("db.1").ready


async def test_an_explicit_tcp_address_needs_only_a_connection(env: dict[str, str]) -> None:
    port = _free_port()
    other = socket.socket()
    other.bind(("127.0.0.1", port))
    other.listen()
    try:
        async with Manager() as m:
            m.add_process("w", "sleep", args=["30"], env=env, ready=f"tcp:127.0.0.1:{port}")
            assert (await m.wait_ready(["w"], timeout=5)).ok
    finally:
        other.close()


@pytest.mark.parametrize(("status", "ready"), [(200, True), (302, True), (500, False)])
async def test_http_probe_wants_2xx_or_3xx(env: dict[str, str], status: int, ready: bool) -> None:
    async with Manager() as m:
        m.add_process("web", **_py(HTTP, str(status)), env=env, port=_free_port(), ready="http:/healthz",
                      ready_timeout=1.5, restart="never")
        result = await m.wait_ready(["web"], timeout=10)
        assert result.ok is ready
        if not ready:
            assert "not ready within 1.5s (http:/healthz)" in result.failed["web"]


async def test_log_probe_matches_a_line_of_output(env: dict[str, str]) -> None:
    async with Manager() as m:
        m.add_process("w", "sh", args=["-c", "echo booting; sleep 0.2; echo 'ready on port 7'; sleep 30"], env=env,
                      redirect_output=["out"], ready=r"log:ready on port \d+")
        await until(lambda: m.list("w"))
        assert m.get_process("w.1").ready is False
        assert (await m.wait_ready(["w"], timeout=5)).ok


async def test_exec_probe_passes_fails_and_a_hung_one_is_killed(env: dict[str, str], tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    async with Manager() as m:
        m.add_process("w", "sleep", args=["30"], env=env, ready=f"exec:test -e {flag}", ready_timeout=5)
        await asyncio.sleep(0.3)
        assert m.get_process("w.1").ready is False
        flag.touch()
        assert (await m.wait_ready(["w"], timeout=5)).ok
        m.add_process("hung", "sleep", args=["30"], env=env, ready="exec:sleep 60", ready_timeout=1, restart="never")
        result = await m.wait_ready(["hung"], timeout=10)
        assert "hung" in result.failed
    # The hung `sleep 60` probe was killed with its process group: the marker scan at the end
    # of the test (the env fixture) finds nothing of it.


async def test_notify_probe_hears_ready_on_the_socket_hu_provides(env: dict[str, str]) -> None:
    async with Manager() as m:
        m.add_process("n", **_py(NOTIFY), env=env, ready="notify")
        await until(lambda: m.list("n"))
        assert m.get_process("n.1").env["NOTIFY_SOCKET"].startswith("@hu-notify-")
        assert (await m.wait_ready(["n"], timeout=5)).ok


async def test_a_ready_timeout_stops_the_instance_and_counts_as_its_unexpected_exit(env: dict[str, str]) -> None:
    async with Manager() as m:
        rec = Recorder(m)
        m.add_process("w", "sleep", args=["30"], env=env, ready="log:never", ready_timeout=0.5, restart="never")
        await until(lambda: rec.exits, 5)
        assert rec.exits == [("w.1", 143, "exited")]
        exit_msg = rec.named("exit")
        assert exit_msg and exit_msg[-1]["requested"] is False
        assert (await m.wait_ready(["w"], timeout=1)).failed["w"] == "w.1 not ready within 0.5s (log:never)"


async def test_failed_health_checks_restart_the_instance_without_flapping(env: dict[str, str], tmp_path: Path) -> None:
    healthy = tmp_path / "healthy"
    healthy.touch()
    async with Manager() as m:
        rec = Recorder(m)
        m.add_process("w", "sleep", args=["30"], env=env, ready="started", health=f"exec:test -e {healthy}",
                      health_interval=0.1, health_failures=3)
        await until(lambda: m.list("w"))
        first = m.get_process("w.1").os_pid
        await asyncio.sleep(0.5)
        assert m.get_process("w.1").os_pid == first  # healthy: left alone
        healthy.unlink()
        await until(lambda: rec.named("unhealthy"), 5)
        assert rec.named("unhealthy")[0]["message"] == f"w.1 unhealthy: exec:test -e {healthy} failed 3 times: restarting"
        await until(lambda: m.list("w") and m.get_process("w.1").os_pid != first, 5)
        assert rec.exits == [] and m.supervisor("w").flap.retries == 0  # a restart hu asked for


async def test_dependents_wait_without_an_os_process_then_start_in_order(env: dict[str, str], tmp_path: Path) -> None:
    order = tmp_path / "order"
    async with Manager() as m:
        rec = Recorder(m)
        m.add_process("db", "sh", args=["-c", f"sleep 0.3; echo db >> {order}; echo up; sleep 30"], env=env,
                      redirect_output=["out"], ready="log:up")
        m.add_process("migrate", "sh", args=["-c", f"echo migrate >> {order}"], env=env, oneshot=True,
                      restart="never", depends_on={"db": "ready"})
        m.add_process("web", "sh", args=["-c", f"echo web >> {order}; sleep 30"], env=env,
                      depends_on={"db": "started", "migrate": "succeeded"})
        await until(lambda: m.supervisor("web").state is ProcessState.WAITING)
        assert not m.supervisor("web").instances and not m.supervisor("migrate").instances
        assert (await m.wait_ready(timeout=10)).ok
        await until(lambda: order.read_text().split() == ["db", "migrate", "web"], 5)
        assert rec.exits == [("migrate.1", 0, "succeeded")]  # a oneshot's exit 0 is no unexpected exit
        assert next(m_["on"] for m_ in rec.named("waiting") if m_["name"] == "web") == "db started, migrate succeeded"


@pytest.mark.parametrize(("condition", "ready", "why"), [
    ("succeeded", None, "web cannot start: migrate did not succeed (migrate.1 exited with code 3)"),
    ("ready", "log:up", "web cannot start: migrate did not become ready "
                        "(migrate.1 exited with code 3 before it was ready)"),
    ("exited", None, None),  # any exit will do
])
async def test_an_unmet_dependency_fails_its_dependents_with_one_reason(env: dict[str, str], condition: str,
                                                                        ready: str | None, why: str | None) -> None:
    async with Manager() as m:
        rec = Recorder(m)
        m.add_process("migrate", "sh", args=["-c", "exit 3"], env=env, restart="never", oneshot=True, ready=ready)
        m.add_process("web", "sleep", args=["30"], env=env, depends_on={"migrate": condition})
        if why is None:
            await until(lambda: m.list("web"), 5)
        else:
            await until(lambda: rec.failures, 5)
            assert rec.failures == [why]
            assert m.supervisor("web").state is ProcessState.FATAL and not m.supervisor("web").instances


async def test_the_stop_signals_dependents_first_and_awaits_them(env: dict[str, str], tmp_path: Path) -> None:
    log, up = tmp_path / "stops", tmp_path / "up"
    trap = ("trap 'echo {name} >> " + str(log) + "; sleep 0.2; exit 0' TERM; echo {name} >> " + str(up)
            + "; while true; do sleep 0.05; done")
    async with Manager() as m:
        m.add_process("db", "sh", args=["-c", trap.format(name="db")], env=env, ready=0.2)
        m.add_process("web", "sh", args=["-c", trap.format(name="web")], env=env, depends_on={"db": "ready"})
        m.add_process("edge", "sh", args=["-c", trap.format(name="edge")], env=env, depends_on=["web"])
        assert (await m.wait_ready(timeout=10)).ok
        # Started is not yet trapping: a loaded CI machine once stopped edge before its trap ran.
        await until(lambda: up.exists() and len(up.read_text().split()) == 3, 10)
    assert log.read_text().split() == ["edge", "web", "db"]


async def test_wait_ready_reports_waiting_ready_and_failed(env: dict[str, str]) -> None:
    async with Manager() as m:
        m.add_process("slow", "sleep", args=["30"], env=env, ready=5)
        m.add_process("fine", "sleep", args=["30"], env=env)
        result = await m.wait_ready(timeout=0.3)
        assert result.waiting == ["slow"] and result.ready == ["fine"] and not result.failed
        m.add_process("bad", "sh", args=["-c", "exit 1"], env=env, ready="log:never", restart="never")
        result = await m.wait_ready(["bad", "fine"], timeout=5)
        assert result.failed == {"bad": "bad.1 exited with code 1 before it was ready"}
