"""``hu start`` killed with kill -9 (issue 15, bug 11): nothing it started runs on. Its guardian
stops the processes at once; if the guardian was killed too, the next ``hu start`` of the app
root does it, before it starts anything (so the port is free again)."""

from __future__ import annotations

import os
import signal
import socket
import time

import psutil

from honcho_uv.daemon.state import DaemonState, app_state_path
from honcho_uv.rundir import AppLock
from tests.kit.procs import PY
from tests.kit.wait import wait_for

#: A server that never writes, so it never notices that hu's end of its pipe is gone.
SERVER = f"{PY} -c 'import socket, time; s = socket.create_server((\"127.0.0.1\", int(__import__(\"os\").environ[\"PORT\"]))); time.sleep(600)'"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _records(app):
    path = app_state_path(app.root)
    return DaemonState(path).read()[1] if path.exists() else None


def _processes(app) -> list[psutil.Process]:
    """What hu started and still runs (the guardians, which carry the marker too, left out)."""
    return [p for p in app.survivors() if "hu-guardian" not in " ".join(p.cmdline())]


def _guardian(hu_pid: int) -> psutil.Process:
    guardians = [c for c in psutil.Process(hu_pid).children() if "hu-guardian" in " ".join(c.cmdline())]
    assert len(guardians) == 1, guardians
    return guardians[0]


def _start(app, port):
    app.write("Procfile", f"web: {SERVER}\nworker: sh -c 'sleep 600 & sleep 600'\n")
    running = app.start("start", "-p", str(port), sock=app.sock, ready="socket")
    wait_for(lambda: (r := _records(app)) and len(r) == 2, what="both processes in the state file")
    wait_for(lambda: len(_processes(app)) == 4, what="web, worker and worker's two sleeps")
    return running


def test_kill_9_of_hu_start_the_guardian_stops_everything_it_started(app):
    port = _free_port()
    running = _start(app, port)
    guardian = _guardian(running.pid)
    running.proc.send_signal(signal.SIGKILL)
    running.proc.wait(5)
    app.assert_no_survivors(timeout=10)  # the stop signal, then SIGKILL after the 5 s grace at most
    wait_for(lambda: not guardian.is_running() or guardian.status() == psutil.STATUS_ZOMBIE, what="guardian gone")
    assert "was killed; stopped what it left running: web.1, worker.1" in running.output()
    assert not app_state_path(app.root).exists()
    again = app.start("start", "-p", str(port), sock=app.sock, ready="socket")  # the port is free again
    wait_for(lambda: "web.1 started" in again.output(), what="web.1 again")
    assert "Address already in use" not in again.output()


def test_kill_9_of_hu_and_its_guardian_the_next_start_stops_the_leftovers_first(app):
    port = _free_port()
    running = _start(app, port)
    guardian = _guardian(running.pid)
    guardian.kill()
    running.proc.send_signal(signal.SIGKILL)
    running.proc.wait(5)
    assert len(_processes(app)) == 4, "without hu and its guardian, the children run on"
    again = app.start("start", "-p", str(port), sock=app.sock, ready="socket")
    out = wait_for(lambda: "web.1 started" in (o := again.output()) and o, what="web.1 again")
    assert f"stopped what a killed hu (pid {running.pid}) left running: web.1, worker.1" in out
    assert out.index("stopped what a killed hu") < out.index("web.1 started"), "leftovers go before anything starts"
    assert "Address already in use" not in out
    wait_for(lambda: len(_processes(app)) == 4, what="only the new web and worker (with its sleeps)")


def test_a_clean_exit_dismisses_the_guardian_and_removes_the_state_file(app):
    app.write("Procfile", "web: sleep 600\n")
    running = app.start("start", sock=app.sock, ready="socket")
    wait_for(lambda: _records(app), what="the state file")
    guardian = _guardian(running.pid)
    assert app.hu("quit", sock=app.sock).returncode == 0
    assert running.proc.wait(10) == 0
    assert not guardian.is_running() or guardian.status() == psutil.STATUS_ZOMBIE
    assert not app_state_path(app.root).exists()
    assert "killed" not in running.output()


def test_what_a_process_left_in_its_group_is_stopped_after_a_kill_9_too(app):
    # Review finding: a record was dropped when its leader exited, though `cmd &` had left a
    # member in its group; after a kill -9 nothing named that member any more.
    app.write("Procfile", "web: sh -c 'sleep 600 & exit 0'\nworker: sleep 600\n")
    running = app.start("start", "--can-die", "web", sock=app.sock, ready="socket")
    wait_for(lambda: "web.1 exited" in running.output(), what="web's shell to exit")
    leftover = wait_for(lambda: [p for p in _processes(app) if p.cmdline()[:2] == ["sleep", "600"]
                                 and os.getpgid(p.pid) != p.pid], what="the sleep web left in its group")
    time.sleep(1.5)  # the recorder's flush after an exit (StateRecorder.EXIT_DELAY_S)
    records = {r.name for r in _records(app)}
    assert "web.1" in records, records  # kept: its group still has a member
    running.proc.send_signal(signal.SIGKILL)
    running.proc.wait(5)
    app.assert_no_survivors(timeout=10)
    assert not leftover[0].is_running() or leftover[0].status() == psutil.STATUS_ZOMBIE
    AppLock(app.root).path.unlink()  # a killed hu leaves its (stale, harmless) lock file
