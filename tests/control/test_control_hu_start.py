"""Each control command against a real ``hu start`` in a temporary app directory."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.kit.hu import stop_gracefully
from tests.kit.procs import PY
from tests.kit.wait import wait_for

PROCFILE = """\
web: i=0; while true; do i=$((i+1)); echo "web line $i"; sleep 0.1; done
worker: while true; do echo "worker alive"; sleep 0.2; done
"""


def _ps(app, sock):
    result = app.hu("ps", "--json", sock=sock, text=True)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_control_commands_against_hu_start(app):
    app.write("Procfile", PROCFILE)
    hu_start = app.start("start", sock=app.sock, ready="socket")
    sock = hu_start.sock
    rows = wait_for(lambda: (r := _ps(app, sock)) and all(x["state"] == "RUNNING" for x in r.values()) and r, what="ps")
    assert set(rows) == {"web.1", "worker.1"} and all(r["os_pid"] for r in rows.values())

    table = app.hu("ps", sock=sock, text=True).stdout
    assert table.splitlines()[0].split() == ["NAME", "STATE", "READY", "PID", "UPTIME", "RESTARTS", "CPU", "MEM"]

    worker_pid = rows["worker.1"]["os_pid"]
    assert app.hu("scale", "web=3", sock=sock, text=True).stdout.strip() == "web: 3"
    rows = wait_for(lambda: len(r := _ps(app, sock)) == 4 and r, what="web scaled to 3")
    assert app.hu("scale", "web=-1", sock=sock, text=True).returncode == 0
    rows = wait_for(lambda: "web.3" not in (r := _ps(app, sock)) and r, what="web scaled down")
    assert rows["worker.1"]["os_pid"] == worker_pid, "scaling web does not disturb worker"

    web1 = rows["web.1"]["os_pid"]
    assert app.hu("restart", "web.2", sock=sock, text=True).returncode == 0
    rows = _ps(app, sock)
    assert rows["web.1"]["os_pid"] == web1 and rows["worker.1"]["os_pid"] == worker_pid

    result = app.hu("logs", "-n", "5", "web", sock=sock, text=True)
    assert result.returncode == 0 and "web line" in result.stdout and "worker" not in result.stdout
    assert len(result.stdout.splitlines()) == 5

    assert app.hu("stats", "--once", sock=sock, text=True).stdout.splitlines()[0].split()[:3] == ["NAME", "PID", "CPU"]
    assert "SIGCONT sent to web" in app.hu("signal", "web", "CONT", sock=sock, text=True).stdout
    bad = app.hu("signal", "web", "SEGV", sock=sock, text=True)
    assert bad.returncode != 0 and bad.stderr.startswith("hu: signal SIGSEGV is not allowed")

    assert app.hu("stop", "worker", sock=sock, text=True).returncode == 0
    assert "worker.1" not in [n for n, r in _ps(app, sock).items() if r["state"] == "RUNNING"]
    assert app.hu("start-process", "worker", sock=sock, text=True).returncode == 0
    wait_for(lambda: _ps(app, sock).get("worker.1", {}).get("state") == "RUNNING", what="worker restarted")

    unknown = app.hu("stop", "nope", sock=sock, text=True)
    assert unknown.returncode == 1 and unknown.stderr == "hu: no process named 'nope' (known: web, worker)\n"
    # regression: a typo in the second argument acted on the first before failing
    typo = app.hu("scale", "web=5", "wrker=2", sock=sock, text=True)
    assert typo.returncode == 1 and typo.stderr == "hu: no process named 'wrker' (known: web, worker)\n"
    assert len([n for n in _ps(app, sock) if n.startswith("web.")]) < 5, "web was not scaled"
    sent = app.hu("send", "web.1", "hello", sock=sock, text=True)
    assert sent.returncode == 1 and "has no stdin" in sent.stderr

    assert app.hu("quit", sock=sock, text=True).returncode == 0
    assert hu_start.proc.wait(15) == 0, "hu quit makes hu start exit 0"
    assert "quit requested" in hu_start.output()
    assert not sock.exists()
    gone = app.hu("ps", sock=sock, text=True)
    assert gone.returncode == 1 and gone.stderr == f"hu: no hu is running in this directory (socket {sock})\n"


def test_regression_start_process_brings_back_an_instance_stopped_alone(app):
    # `hu start-process worker.2` after `hu stop worker.2` said "invalid name 'worker.2'", and
    # `hu start-process worker` was the only way back.
    app.write("Procfile", PROCFILE)
    hu_start = app.start("start", "-c", "worker=2", sock=app.sock, ready="socket")
    sock = hu_start.sock
    rows = wait_for(lambda: len(r := _ps(app, sock)) == 3 and all(x["state"] == "RUNNING" for x in r.values()) and r,
                    what="web.1, worker.1 and worker.2 running")
    assert app.hu("stop", "worker.2", sock=sock, text=True).stdout == "stopped worker.2\n"
    assert "worker.2" not in _ps(app, sock)
    started = app.hu("start-process", "worker.2", sock=sock, text=True)
    assert (started.returncode, started.stdout, started.stderr) == (0, "started worker.2\n", "")
    back = wait_for(lambda: (r := _ps(app, sock)).get("worker.2", {}).get("state") == "RUNNING" and r,
                    what="worker.2 running again")
    assert back["worker.2"]["os_pid"] != rows["worker.2"]["os_pid"]
    assert {n: back[n]["os_pid"] for n in ("web.1", "worker.1")} == {n: rows[n]["os_pid"] for n in ("web.1", "worker.1")}
    beyond = app.hu("start-process", "worker.3", sock=sock, text=True)
    assert beyond.returncode == 1 and beyond.stderr == (
        "hu: worker.3 is not in the formation (worker has 2 instances; scale it to 3 first)\n")
    assert app.hu("quit", sock=sock, text=True).returncode == 0
    assert hu_start.proc.wait(15) == 0


def test_regression_stats_uses_the_consoles_order_and_padding(app):
    # `hu stats` sorted by name (a-long-name.1 first, web.10 before web.2) and padded the
    # NAME column to the names it showed, not as the console does.
    app.write("Procfile", "zz: sleep 60\na-long-name: sleep 60\n")
    hu_start = app.start("start", "-c", "zz=2", sock=app.sock, ready="socket")
    wait_for(lambda: len(_ps(app, hu_start.sock)) == 3, what="three instances")
    every = app.hu("stats", "--once", sock=hu_start.sock, text=True).stdout.splitlines()
    assert [line.split()[0] for line in every[1:]] == ["zz.1", "zz.2", "a-long-name.1"]
    one = app.hu("stats", "--once", "zz", sock=hu_start.sock, text=True).stdout.splitlines()
    assert [line[:15] for line in one] == ["NAME           ", "zz.1           ", "zz.2           "], \
        "the name column is as wide as the console's (a-long-name.1), whatever is shown"
    logs = app.hu("logs", sock=hu_start.sock, text=True).stdout.splitlines()
    assert logs and all(line[9:25] == line[9:22].ljust(13) + " | " for line in logs), logs


def test_regression_typos_in_logs_stats_and_signal_list_the_known_names_and_signals(app):
    app.write("Procfile", PROCFILE)
    hu_start = app.start("start", sock=app.sock, ready="socket")
    known = "hu: no process named 'wrker' (known: web, worker)\n"
    web = wait_for(lambda: _ps(app, hu_start.sock).get("web.1", {}).get("os_pid"), what="web.1")
    for args in (["logs", "wrker"], ["stats", "--once", "wrker"], ["signal", "wrker", "USR1"],
                 ["restart", "web", "wrker"], ["stop", "web", "wrker"]):
        result = app.hu(*args, sock=hu_start.sock, text=True)
        assert (result.returncode, result.stderr) == (1, known), args
    assert _ps(app, hu_start.sock)["web.1"]["os_pid"] == web, "a typo in the second name acts on nothing"
    bad = app.hu("signal", "web", "FOO", sock=hu_start.sock, text=True)
    assert bad.returncode == 1 and bad.stderr == (
        "hu: signal: unknown signal 'FOO' (allowed: CONT HUP INT KILL QUIT STOP TERM USR1 USR2 WINCH)\n")


def test_regression_the_first_ps_shows_the_cpu_of_a_busy_process(app):
    # The first `hu ps` showed 0.0% for a process spinning on a core: there was no previous
    # sample to compare with. It shows the average since the process started (docs/cli.rst).
    app.write("Procfile", f"busy: {PY} -c 'while True: pass'\nidle: sleep 60\n")
    hu_start = app.start("start", sock=app.sock, ready="socket")
    wait_for(lambda: len(_ps(app, hu_start.sock)) == 2, what="both running")
    time.sleep(1.0)
    rows = _ps(app, hu_start.sock)  # the first sample of each
    assert rows["busy.1"]["cpu"] > 5.0, rows["busy.1"]
    assert rows["idle.1"]["cpu"] < 5.0, rows["idle.1"]


def test_regression_restarts_counts_what_hu_restarted_on_its_own(app):
    # RESTARTS in `hu ps` was not defined anywhere; docs/cli.rst now says it counts restarts
    # under the restart policy, not the ones asked for (hu restart, scaling).
    app.write("Procfile", "crash: sleep 0.3; exit 1\nweb: sleep 60\n")
    hu_start = app.start("start", "--restart", "crash", "--flapping", "100,1,1,5", sock=app.sock, ready="socket")
    wait_for(lambda: _ps(app, hu_start.sock).get("crash.1", {}).get("restarts", 0) >= 2, 20,
             what="crash restarted by its policy")
    assert app.hu("restart", "web", sock=hu_start.sock).returncode == 0
    assert app.hu("scale", "web=2", sock=hu_start.sock).returncode == 0
    rows = wait_for(lambda: len(r := _ps(app, hu_start.sock)) >= 3 and r, what="web.2")
    assert rows["web.1"]["restarts"] == rows["web.2"]["restarts"] == 0


def test_regression_nothing_running_here_says_where_a_hu_may_be(app, tmp_path):
    # "no hu is running in this directory" said nothing of a hu of this app root on another
    # socket, nor of a daemon on its default socket.
    app.write("Procfile", PROCFILE)
    elsewhere = app.root / "elsewhere.sock"
    hu_start = app.start("start", "--socket", str(elsewhere), sock=elsewhere, ready="socket")
    result = app.hu("ps", text=True)
    assert result.returncode == 1
    assert re.fullmatch(rf"hu: hu \(pid {hu_start.pid}\) runs in {re.escape(str(app.root.resolve()))}, but on another "
                        r"socket than \S+\.sock: give its --socket \(or HU_SOCKET\)\n", result.stderr), result.stderr
    hu_start.stop()
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    daemon = app.popen("daemon", env=env)
    wait_for(lambda: (runtime / "hu" / "gafferd.sock").exists() or (runtime / "gafferd.sock").exists(), 15,
             what="the daemon's default socket")
    result = app.hu("ps", text=True, env=env)
    assert result.returncode == 1 and "a daemon may be listening on " in result.stderr, result.stderr
    assert result.stderr.rstrip().endswith("gafferd.sock") and "--socket " in result.stderr
    stop_gracefully(daemon)


@pytest.mark.parametrize("url,message", [
    ("foo", "hu: --url: expected http://HOST:PORT (or https://...), got 'foo'\n"),
    ("ftp://127.0.0.1:1", "hu: --url: expected http://HOST:PORT (or https://...), got 'ftp://127.0.0.1:1'\n"),
    ("http://127.0.0.1:1", "hu: cannot connect to http://127.0.0.1:1: Connection refused\n"),
])
def test_regression_url_errors_say_what_a_url_is_and_hide_the_client_internals(app, url, message):
    result = app.hu("ps", "--url", url, text=True)
    assert (result.returncode, result.stderr) == (1, message)


def test_logs_follow_streams_new_lines(app):
    app.write("Procfile", PROCFILE)
    hu_start = app.start("start", sock=app.sock, ready="socket")
    follower = app.popen("logs", "-f", "-n", "0", "worker", sock=hu_start.sock, stderr=None, text=True)
    try:
        lines = [follower.stdout.readline() for _ in range(3)]
        assert all("worker.1 | worker alive" in line for line in lines)
    finally:
        follower.terminate()
        follower.wait(5)
        follower.stdout.close()


def _maps_aiohttp(pid: int) -> bool:
    with open(f"/proc/{pid}/maps") as maps:
        return "/aiohttp/" in maps.read()


def test_control_api_listens_at_once_and_loads_aiohttp_on_first_client(app):
    """The socket is bound before the spawns, but aiohttp (0.2 s of import that fought the
    spawn burst for the GIL, and 15 MB) is loaded only when a client connects."""
    app.write("Procfile", "web: echo up; exec sleep 60\n")
    hu_start = app.start("start", sock=app.sock, ready="socket")
    wait_for(lambda: "web.1  | up" in hu_start.output(), what="web's line")
    assert not _maps_aiohttp(hu_start.proc.pid), "aiohttp is loaded before anyone asked for the API"
    rows = _ps(app, hu_start.sock)  # the first client waits in the backlog while the API loads
    assert rows["web.1"]["state"] == "RUNNING"
    assert _maps_aiohttp(hu_start.proc.pid)
    assert hu_start.stop() == 143  # SIGTERM
    assert not hu_start.sock.exists()


def test_control_socket_never_used_is_removed_at_exit(app):
    app.write("Procfile", "web: echo up; exec sleep 60\n")
    hu_start = app.start("start", sock=app.sock, ready="socket")
    wait_for(lambda: "web.1  | up" in hu_start.output(), what="web's line")
    assert hu_start.stop() == 143  # SIGTERM
    assert not hu_start.sock.exists()
    assert "control API" not in hu_start.output()


def test_stop_while_the_control_api_loads_exits_cleanly(app):
    """A client's connection starts the aiohttp import in a thread; a stop arriving meanwhile
    must not wait on it for long, serve anything, or leave the socket file behind."""
    import socket

    app.write("Procfile", "web: echo up; exec sleep 60\n")
    hu_start = app.start("start", sock=app.sock, ready="socket")
    wait_for(lambda: "web.1  | up" in hu_start.output(), what="web's line")
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(hu_start.sock))  # the load begins
    try:
        assert hu_start.stop() == 143
    finally:
        client.close()
    assert not hu_start.sock.exists()
    assert "Traceback" not in hu_start.output()
