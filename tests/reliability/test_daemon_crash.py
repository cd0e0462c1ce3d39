"""T16: the daemon killed with kill -9 (G3): its children do not run on unsupervised, the
stale socket and pidfile do not block the next start, PID reuse never makes hu signal a
stranger, and a second daemon while the first lives is refused without touching its socket.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import asdict

import psutil

from honcho_uv.daemon.state import DaemonState, Record
from honcho_uv.rundir import app_key, runtime_dir
from tests.kit.api import serving
from tests.kit.procs import PY, TREE
from tests.kit.wait import wait_for

INI = f"""\
[process:quiet]
cmd = {PY} -u {TREE}
graceful_timeout = 2

[process:tree]
cmd = {PY} -u {TREE} --depth 1 --width 2
graceful_timeout = 2

[process:stubborn]
cmd = {PY} -u {TREE} --ignore TERM
graceful_timeout = 0.3
"""


def _state(path):
    """The records of the state file at *path*, as dicts (None while there is no file)."""
    if not path.exists():
        return None
    return [asdict(r) for r in DaemonState(path).read()[1]]


def test_t16_kill_9_leftovers_are_stopped_by_the_next_start(app, daemon):
    ini = app.write("app.ini", INI)
    pidfile = app.root / "d.pid"
    args = [str(ini), "--pidfile", str(pidfile)]
    first = daemon(*args)
    state = app.root / "d.pid.state"
    records = wait_for(lambda: (r := _state(state)) and len(r) == 3 and r, what="3 records in the state file")
    assert {r["name"] for r in records} == {"quiet.1", "tree.1", "stubborn.1"}
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    for r in records:  # identity: pid + create time, and the process's own group and session
        assert psutil.Process(r["pid"]).create_time() == r["create_time"]
        assert r["pgid"] == r["sid"] == r["pid"]
    wait_for(lambda: len(app.survivors()) == 5, what="5 processes (tree has 2 children)")

    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(5)
    leftovers = app.survivors()
    assert len(leftovers) == 5, "the children outlive a kill -9 (own sessions)"
    assert app.sock.exists() and pidfile.read_text().strip() == str(first.pid)

    # A record whose pid is alive but with another create time: a recycled pid. The
    # stranger (no marker, its own session like our children) must not be signalled.
    signals = app.root / "stranger.signals"
    ready = app.root / "stranger.ready"
    stranger = subprocess.Popen([PY, TREE, "--record-signals", str(signals), "--ready", str(ready)],
                                start_new_session=True)
    try:
        wait_for(ready.exists, what="the stranger")
        real = psutil.Process(stranger.pid).create_time()
        recycled = Record("web.1", stranger.pid, real - 1000.0, stranger.pid, stranger.pid, 15, 0.1)
        DaemonState(state).append([recycled], [])  # as the crashed daemon would have written it

        second = daemon(*args)
        log = second.output()
        for proc in leftovers:  # stopped before the new daemon listened
            assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE, log
        assert f"stopping leftovers of a crashed daemon (pid {first.pid})" in log
        for name in ("quiet.1", "tree.1", "stubborn.1"):
            assert name in log
        assert "leftover stubborn.1 did not stop within 0.3s of SIGTERM: sending SIGKILL" in log
        assert f"leftover web.1: pid {stranger.pid} now belongs to another process" in log

        assert stranger.poll() is None and not signals.exists(), "a stranger with a recycled pid was signalled"
        assert pidfile.read_text().strip() == str(second.pid)
        assert oct(app.sock.stat().st_mode & 0o777) == "0o600"
        # the new daemon runs its own processes (and records them)
        new = wait_for(lambda: (r := _state(state)) and len(r) == 3 and r, what="the new processes recorded")
        assert not {r["pid"] for r in new} & {p.pid for p in leftovers}
        assert second.get("/pids")[0] == 200

        # (b) a second daemon while this one lives: refused, its socket untouched
        inode = app.sock.stat().st_ino
        third = daemon(*args, ready=None)
        assert third.proc.wait(15) == 1
        assert f"already running with pid {second.pid}" in third.output()
        no_pidfile = daemon(str(ini), ready=None)
        assert no_pidfile.proc.wait(15) == 1
        assert f"another process is already serving on {app.sock}" in no_pidfile.output()
        assert app.sock.stat().st_ino == inode and serving(app.sock)
        assert second.proc.poll() is None and pidfile.read_text().strip() == str(second.pid)

        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(15) == 0
        assert not state.exists() and not pidfile.exists() and not app.sock.exists()
        app.assert_no_survivors()
    finally:
        stranger.kill()
        stranger.wait()


def test_t16_leftovers_whose_leader_died_are_found_by_session(app, daemon):
    # The leader exited after the crash, its worker (same session, reparented) lives on:
    # it is still found through the recorded session.
    ini = app.write("app.ini", f"[process:fork]\ncmd = {PY} -u {TREE} --depth 1\ngraceful_timeout = 1\n")
    first = daemon(str(ini))
    state = runtime_dir() / f"gafferd-{app_key(ini)}.state"  # no pidfile: in the runtime directory
    records = wait_for(lambda: (r := _state(state)) and len(r) == 1 and r, what="the record")
    wait_for(lambda: len(app.survivors()) == 2, what="leader and worker")
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(5)
    os.kill(records[0]["pid"], signal.SIGKILL)
    wait_for(lambda: len(app.survivors()) == 1, what="the leader gone")
    (worker,) = app.survivors()
    assert os.getsid(worker.pid) == records[0]["sid"]

    second = daemon(str(ini))
    assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
    assert f"fork.1 (pid {records[0]['pid']}, exited: 1 process(es))" in second.output()
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(15) == 0
