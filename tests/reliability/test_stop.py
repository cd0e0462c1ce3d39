"""Stopping: one signal per group, SIGKILL on time, in parallel, nothing left (T01-T04, T09).

"Nothing survives" is proven by a psutil scan for the test's marker variable, which also
finds processes that left the group or the tree.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pexpect
import pytest
from hu_helpers import HU, PY, wait_for

RECORDER = """\
import os, signal, subprocess, sys, time
record, depth, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ignore = set(sys.argv[4].split(",")) if len(sys.argv) > 4 and sys.argv[4] else set()

def note(sig, frame):
    with open(record, "a") as f:
        f.write(f"{os.getpid()} {signal.Signals(sig).name}\\n")
    if signal.Signals(sig).name not in ignore:
        os._exit(0)

for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, note)
kids = []
if depth > 0:
    for _ in range(width):
        args = [sys.executable, __file__, record, str(depth - 1), str(width)] + sys.argv[4:5]
        kids.append(subprocess.Popen(args))
with open(record, "a") as f:  # readiness: handlers are installed
    f.write(f"{os.getpid()} UP\\n")
while True:
    time.sleep(60)
"""


def records(path: Path) -> list[tuple[int, str]]:
    """(pid, signal name) for each signal a recorder received ("UP" lines excluded)."""
    return [(pid, name) for pid, name in _lines(path) if name != "UP"]


def _lines(path: Path) -> list[tuple[int, str]]:
    if not path.exists():
        return []
    return [(int(pid), name) for pid, name in (line.split() for line in path.read_text().splitlines())]


def wait_up(path: Path, count: int) -> set[int]:
    """Wait until *count* recorders have installed their handlers; return their pids."""
    return wait_for(lambda: {pid for pid, name in _lines(path) if name == "UP"} if
                    sum(1 for _, name in _lines(path) if name == "UP") >= count else None, timeout=20)


def test_t01_ctrl_c_npm_style_tree_one_signal_per_group(app):
    # sh -> python -> 2 workers -> 2 workers each: one process group per Procfile entry.
    app.write("tree.py", RECORDER)
    rec = app.root / "signals.log"
    app.write("Procfile", f"web: sh -c '{PY} tree.py {rec} 2 2'\napi: {PY} tree.py {rec} 1 2\n")
    child = pexpect.spawn(HU, ["start"], cwd=str(app.root), env=app.env, timeout=20)
    app.hu_pids.add(child.pid)
    pythons = wait_up(rec, 1 + 2 + 4 + 1 + 2)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    app.assert_no_survivors()
    got = records(rec)
    # Every python in the tree got exactly one signal (the group's SIGTERM), never SIGINT too.
    assert sorted(pid for pid, _ in got) == sorted(pythons)
    assert {name for _, name in got} == {"SIGTERM"}


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_t02_external_signals_stop_the_tree(app, sig, code):
    app.write("tree.py", RECORDER)
    app.write("Procfile", f"web: {PY} tree.py {app.root / 'rec'} 1 3\n")
    proc = app.popen("start")
    wait_up(app.root / "rec", 4)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == code and b"Traceback" not in err
    app.assert_no_survivors()


def test_t03a_term_ignoring_child_is_killed_at_the_deadline(app):
    app.write("tree.py", RECORDER)
    app.write("Procfile", f"web: {PY} tree.py {app.root / 'rec'} 0 0 SIGTERM\n")
    proc = app.popen("start", "-t", "0.5")
    wait_up(app.root / "rec", 1)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=15)
    assert 0.45 < time.monotonic() - started < 2.5
    app.assert_no_survivors()


def test_t03b_leader_exits_but_term_ignoring_grandchild_is_killed(app):
    # The leader dies on TERM, its child ignores TERM and stays in the group: hu reports the
    # stop only after the grandchild is gone too (SIGKILLed at the deadline).
    app.write("tree.py", RECORDER)
    app.write("Procfile", f"web: {PY} tree.py {app.root / 'rec'} 0 0 SIGTERM & exec sleep 60\n")
    proc = app.popen("start", "-t", "0.6")
    wait_up(app.root / "rec", 1)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=15)
    assert time.monotonic() - started >= 0.55
    app.assert_no_survivors(timeout=0.5)


def test_t03c_fifty_stubborn_processes_take_one_timeout(app):
    app.write("Procfile", "web: trap '' TERM; while true; do sleep 0.1; done\n")
    proc = app.popen("start", "-c", "web=50", "-t", "1")
    wait_for(lambda: len(app.survivors()) >= 50, timeout=20)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 4, elapsed  # parallel: one timeout, not fifty
    assert out.count(b"stopped (signal SIGKILL)") == 50
    app.assert_no_survivors()


def test_t04_double_fork_daemon_is_stopped_with_hu(app):
    app.write("daemonize.py", "import os, time\n"
              "if os.fork(): os._exit(0)\n"
              "os.setsid()\n"
              "if os.fork(): os._exit(0)\n"
              "time.sleep(60)\n")
    app.write("Procfile", f"web: {PY} daemonize.py; echo daemonized; sleep 60\n")
    proc = app.popen("start")
    wait_for(lambda: len(app.survivors()) >= 3)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=15)
    app.assert_no_survivors()


def test_t09_stopped_process_gets_sigcont_and_exits_cleanly(app):
    app.write("Procfile", "web: sleep 60\n")
    proc = app.popen("start", "-t", "10")
    wait_for(lambda: any("sleep" in p.name() for p in app.survivors()))
    for child in app.survivors():
        child.suspend()
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert time.monotonic() - started < 2  # SIGCONT let it act on SIGTERM, no 10 s wait
    assert b"web.1 stopped (signal SIGTERM)" in out
