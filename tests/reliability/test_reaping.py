"""Zombies and orphans: hu reaps what it adopts, also as PID 1 (T05), without stealing exits."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.kit.hu import HU
from tests.kit.procs import PY
from tests.kit.wait import wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="subreaper and PID namespaces are Linux")

ZOMBIE_MAKER = """\
import os, sys, time
# Every 50 ms: fork a child that forks a short-lived grandchild and exits at once, so the
# grandchild is orphaned (re-parented to hu, the subreaper) and dies 0.1 s later.
for _ in range(int(sys.argv[1])):
    if os.fork() == 0:
        if os.fork() == 0:
            time.sleep(0.1)
            os._exit(0)
        os._exit(0)
    os.wait()
    time.sleep(0.05)
print("done making zombies", flush=True)
time.sleep(60)
"""


def zombie_ages(hu_pid: int, seen: dict[int, float]) -> float:
    """Track zombie children of *hu_pid*; return the oldest age seen so far."""
    now = time.monotonic()
    try:
        kids = psutil.Process(hu_pid).children()
    except psutil.Error:
        return 0.0
    for kid in kids:
        try:
            if kid.status() == psutil.STATUS_ZOMBIE:
                seen.setdefault(kid.pid, now)
        except psutil.Error:
            continue
    alive = {k.pid for k in kids}
    return max((now - t for pid, t in seen.items() if pid in alive), default=0.0)


def watch_zombies(hu_pid: int, until_output: subprocess.Popen, marker: bytes, seconds: float) -> float:
    seen: dict[int, float] = {}
    worst = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        worst = max(worst, zombie_ages(hu_pid, seen))
        time.sleep(0.1)
    return worst


def test_t05_orphaned_grandchildren_are_reaped_within_a_second(app):
    app.write("zombies.py", ZOMBIE_MAKER)
    app.write("Procfile", f"maker: {PY} zombies.py 40\nexit7: sleep 1; exit 7\n")
    proc = app.popen("start", "--can-die", "exit7")
    wait_for(lambda: app.survivors())
    worst = watch_zombies(proc.pid, proc, b"done", 3.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=15)
    assert worst < 1.0, f"a zombie lived {worst:.2f}s"
    # The loop's own children keep their exit statuses (no waitpid(-1) stealing them).
    assert b"exit7.1 exited with code 7" in out
    app.assert_no_survivors()


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_t05_as_pid_1_in_a_new_pid_namespace(app):
    probe = subprocess.run(["unshare", "--user", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a user+pid namespace here: {probe.stderr.decode().strip()}")
    app.write("zombies.py", ZOMBIE_MAKER)
    app.write("Procfile", f"maker: {PY} zombies.py 30\nexit7: sleep 1; exit 7\n")
    outer = subprocess.Popen(["unshare", "--user", "--pid", "--fork", "--mount-proc", *HU, "start", "--can-die", "exit7"],
                             cwd=app.root, env=app.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    app.hu_pids.add(outer.pid)
    hu = wait_for(lambda: next(iter(psutil.Process(outer.pid).children()), None))
    app.hu_pids.add(hu.pid)
    worst = watch_zombies(hu.pid, outer, b"done", 3.0)
    hu.send_signal(signal.SIGTERM)
    out, err = outer.communicate(timeout=15)
    assert worst < 1.0, f"a zombie lived {worst:.2f}s"
    assert b"exit7.1 exited with code 7" in out, err
    assert outer.returncode == 143
    app.assert_no_survivors()


def test_idle_hu_has_no_periodic_wakeups(app):
    app.write("Procfile", "".join(f"s{i}: sleep 60\n" for i in range(10)))
    proc = app.popen("start")
    wait_for(lambda: len(app.survivors()) >= 10)
    time.sleep(0.5)  # let start-up settle before measuring

    def switches() -> int:
        total = 0
        for thread in psutil.Process(proc.pid).threads():
            with open(f"/proc/{proc.pid}/task/{thread.id}/status") as f:
                for line in f:
                    if "ctxt_switches" in line:
                        total += int(line.split()[1])
        return total

    before = switches()
    time.sleep(3)
    wakeups = switches() - before
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=15)
    assert wakeups < 3, f"{wakeups} wake-ups in 3 s while idle"
