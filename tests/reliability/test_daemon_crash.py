"""T16: the daemon killed with kill -9 (G3): its children do not run on unsupervised, the
stale socket and pidfile do not block the next start, PID reuse never makes hu signal a
stranger, and a second daemon while the first lives is refused without touching its socket.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess

import psutil
from rel_daemon import PY, TREE, daemons, get, serving, wait_for  # noqa: F401

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
    try:
        return json.loads(path.read_text())["processes"]
    except (OSError, ValueError):
        return None


def test_t16_kill_9_leftovers_are_stopped_by_the_next_start(daemons):
    ini = daemons.dir / "app.ini"
    ini.write_text(INI)
    pidfile = daemons.dir / "d.pid"
    args = [str(ini), "--bind", f"unix:{daemons.sock}", "--pidfile", str(pidfile)]
    first = daemons.start(*args)
    state = daemons.dir / "d.pid.state"
    records = wait_for(lambda: (r := _state(state)) and len(r) == 3 and r, what="3 records in the state file")
    assert {r["name"] for r in records} == {"quiet.1", "tree.1", "stubborn.1"}
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    for r in records:  # identity: pid + create time, and the process's own group and session
        assert psutil.Process(r["pid"]).create_time() == r["create_time"]
        assert r["pgid"] == r["sid"] == r["pid"]
    wait_for(lambda: len(daemons.carriers()) == 5, what="5 processes (tree has 2 children)")

    first.send_signal(signal.SIGKILL)
    first.wait(5)
    leftovers = daemons.carriers()
    assert len(leftovers) == 5, "the children outlive a kill -9 (own sessions)"
    assert daemons.sock.exists() and pidfile.read_text().strip() == str(first.pid)

    # A record whose pid is alive but with another create time: a recycled pid. The
    # stranger (no marker, its own session like our children) must not be signalled.
    signals = daemons.dir / "stranger.signals"
    ready = daemons.dir / "stranger.ready"
    stranger = subprocess.Popen([PY, TREE, "--record-signals", str(signals), "--ready", str(ready)],
                                start_new_session=True)
    try:
        wait_for(ready.exists, what="the stranger")
        data = json.loads(state.read_text())
        real = psutil.Process(stranger.pid).create_time()
        data["processes"].append({"name": "web.1", "pid": stranger.pid, "create_time": real - 1000.0,
                                  "pgid": stranger.pid, "sid": stranger.pid, "stop_signal": 15,
                                  "graceful_timeout": 0.1})
        state.write_text(json.dumps(data))

        second = daemons.start(*args)
        log = daemons.log(second)
        for proc in leftovers:  # stopped before the new daemon listened
            assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE, log
        assert f"stopping leftovers of a crashed daemon (pid {first.pid})" in log
        for name in ("quiet.1", "tree.1", "stubborn.1"):
            assert name in log
        assert "leftover stubborn.1 did not stop within 0.3s of SIGTERM: sending SIGKILL" in log
        assert f"leftover web.1: pid {stranger.pid} now belongs to another process" in log

        assert stranger.poll() is None and not signals.exists(), "a stranger with a recycled pid was signalled"
        assert pidfile.read_text().strip() == str(second.pid)
        assert oct(daemons.sock.stat().st_mode & 0o777) == "0o600"
        # the new daemon runs its own processes (and records them)
        new = wait_for(lambda: (r := _state(state)) and len(r) == 3 and r, what="the new processes recorded")
        assert not {r["pid"] for r in new} & {p.pid for p in leftovers}
        assert get(daemons.sock, "/pids")[0] == 200

        # (b) a second daemon while this one lives: refused, its socket untouched
        inode = daemons.sock.stat().st_ino
        third = daemons.start(*args, wait=False)
        assert third.wait(15) == 1
        assert f"already running with pid {second.pid}" in daemons.log(third)
        no_pidfile = daemons.start(str(ini), "--bind", f"unix:{daemons.sock}", wait=False)
        assert no_pidfile.wait(15) == 1
        assert f"another process is already serving on {daemons.sock}" in daemons.log(no_pidfile)
        assert daemons.sock.stat().st_ino == inode and serving(daemons.sock)
        assert second.poll() is None and pidfile.read_text().strip() == str(second.pid)

        second.send_signal(signal.SIGTERM)
        assert second.wait(15) == 0
        assert not state.exists() and not pidfile.exists() and not daemons.sock.exists()
        daemons.assert_no_survivors()
    finally:
        stranger.kill()
        stranger.wait()


def test_t16_leftovers_whose_leader_died_are_found_by_session(daemons):
    # The leader exited after the crash, its worker (same session, reparented) lives on:
    # it is still found through the recorded session.
    ini = daemons.dir / "app.ini"
    ini.write_text(f"[process:fork]\ncmd = {PY} -u {TREE} --depth 1\ngraceful_timeout = 1\n")
    first = daemons.start(str(ini), "--bind", f"unix:{daemons.sock}")
    state = next(daemons.run_dir.glob("hu/gafferd-*.state"))
    records = wait_for(lambda: (r := _state(state)) and len(r) == 1 and r, what="the record")
    wait_for(lambda: len(daemons.carriers()) == 2, what="leader and worker")
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    os.kill(records[0]["pid"], signal.SIGKILL)
    wait_for(lambda: len(daemons.carriers()) == 1, what="the leader gone")
    (worker,) = daemons.carriers()
    assert os.getsid(worker.pid) == records[0]["sid"]

    second = daemons.start(str(ini), "--bind", f"unix:{daemons.sock}")
    assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
    assert "fork.1 (pid %d, exited: 1 process(es))" % records[0]["pid"] in daemons.log(second)
    second.send_signal(signal.SIGTERM)
    assert second.wait(15) == 0
