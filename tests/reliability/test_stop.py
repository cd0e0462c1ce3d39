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

from tests.kit.procs import PY, TREE
from tests.kit.wait import wait_for


def records(path: Path) -> list[tuple[int, str]]:
    """(pid, signal name) for each signal a tree node received (``--record-signals --record-pid``)."""
    if not path.exists():
        return []
    return [(int(pid), name) for pid, name in (line.split() for line in path.read_text().splitlines())]


def wait_up(ready: Path, count: int) -> set[int]:
    """Wait until *count* tree nodes have installed their handlers (``--ready``); their pids."""
    def pids() -> set[int] | None:
        found = {int(line) for line in ready.read_text().split()} if ready.exists() else set()
        return found if len(found) >= count else None

    return wait_for(pids, timeout=20, what=f"{count} tree nodes ready")


def _npm_style_tree(app) -> tuple[Path, Path]:
    """sh -> python -> 2 workers -> 2 workers each, and a second type: (signal log, ready file)."""
    rec, ready = app.root / "signals.log", app.root / "ready"
    nodes = f"--record-signals {rec} --record-pid --ready {ready}"
    app.write("Procfile", f"web: sh -c '{PY} -u {TREE} --depth 2 --width 2 {nodes}'\n"
                          f"api: {PY} -u {TREE} --depth 1 --width 2 {nodes}\n")
    return rec, ready


def test_t01_ctrl_c_npm_style_tree_one_signal_per_group(app):
    # sh -> python -> 2 workers -> 2 workers each: one process group per Procfile entry.
    rec, ready = _npm_style_tree(app)
    child = app.pty("start", "--tty", "never", timeout=20)
    pythons = wait_up(ready, 1 + 2 + 4 + 1 + 2)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    app.assert_no_survivors()
    got = records(rec)
    # Every python in the tree got exactly one signal (the group's SIGTERM), never SIGINT too.
    assert sorted(pid for pid, _ in got) == sorted(pythons)
    assert {name for _, name in got} == {"SIGTERM"}


def test_t01_ctrl_c_with_tty_children_stops_every_process_and_sends_no_sigint(app):
    # The same tree, each type on a pty of its own (--tty auto under a terminal). The
    # terminal's SIGINT reaches none of them; hu's stop signal goes to each group once. When a
    # type's session leader (sh, the first python) exits, the kernel hangs up its terminal:
    # what still runs in it gets SIGHUP too, and a pending SIGHUP is delivered before a
    # pending SIGTERM (lower number first). That is a terminal's semantics (cli.rst,
    # Terminals), so here: each process got SIGTERM or SIGHUP, never SIGINT, and none is left.
    rec, ready = _npm_style_tree(app)
    child = app.pty("start", timeout=20)
    pythons = wait_up(ready, 1 + 2 + 4 + 1 + 2)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    app.assert_no_survivors()
    got = records(rec)
    assert {name for _, name in got} <= {"SIGTERM", "SIGHUP"}, got
    assert {pid for pid, _ in got} == pythons, got
    assert sum(name == "SIGTERM" for _, name in got) >= 1, "hu's stop signal reached the groups"


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_t02_external_signals_stop_the_tree(app, sig, code):
    app.write("Procfile", f"web: {PY} -u {TREE} --depth 1 --width 3 --ready {app.root / 'ready'}\n")
    proc = app.popen("start")
    wait_up(app.root / "ready", 4)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=15)
    assert proc.returncode == code and b"Traceback" not in err
    app.assert_no_survivors()


def test_t03a_term_ignoring_child_is_killed_at_the_deadline(app):
    app.write("Procfile", f"web: {PY} -u {TREE} --ignore TERM --ready {app.root / 'ready'}\n")
    proc = app.popen("start", "-t", "0.5")
    wait_up(app.root / "ready", 1)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=15)
    assert 0.45 < time.monotonic() - started < 2.5
    app.assert_no_survivors()


def test_t03b_leader_exits_but_term_ignoring_grandchild_is_killed(app):
    # The leader dies on TERM, its child ignores TERM and stays in the group: hu reports the
    # stop only after the grandchild is gone too (SIGKILLed at the deadline).
    app.write("Procfile", f"web: {PY} -u {TREE} --ignore TERM --ready {app.root / 'ready'} & exec sleep 60\n")
    proc = app.popen("start", "-t", "0.6")
    wait_up(app.root / "ready", 1)
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
