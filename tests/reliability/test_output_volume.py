"""Heavy output (T11) and a stalled reader (T14): nothing lost, memory bounded, hu responsive."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import time

import psutil

from tests.kit.procs import PY
from tests.kit.wait import wait_for

WRITER = """\
import sys
name, count, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = sys.stdout.buffer
batch = []
for i in range(count):
    batch.append(f"{name} {i:09d} ".encode().ljust(width - 1, b"z") + b"\\n")
    if len(batch) == 2000:
        out.write(b"".join(batch)); batch.clear()
out.write(b"".join(batch)); out.flush()
"""
LINE = re.compile(rb"^\d\d:\d\d:\d\d (w\d)\.1 +\| (w\d) (\d{9}) z+$")


def test_t11_200mb_from_4_children_nothing_lost_memory_bounded(app):
    # 4 x 500,000 lines of 100 bytes = 200 MB, at full speed, into a file.
    app.write("writer.py", WRITER)
    app.write("Procfile", "".join(f"w{n}: {PY} writer.py w{n} 500000 100\n" for n in range(4)))
    out_path = app.root / "out.txt"
    with open(out_path, "wb") as out:
        proc = app.popen("start", "--can-die", "all", "--no-color", stdout=out, stderr=subprocess.DEVNULL)
        peak = 0
        while proc.poll() is None:
            try:
                peak = max(peak, psutil.Process(proc.pid).memory_info().rss)
            except psutil.Error:
                break
            time.sleep(0.05)
        proc.wait(timeout=120)
    assert proc.returncode == 0
    next_seq = {f"w{n}".encode(): 0 for n in range(4)}
    with open(out_path, "rb") as f:
        for raw in f:
            if b"| w" not in raw or b" system " in raw:
                continue
            m = LINE.match(raw.rstrip(b"\n"))
            assert m and m.group(1) == m.group(2), raw[:120]
            assert len(raw) == len(b"HH:MM:SS w0.1   | ") + 100, raw[:120]  # names padded to 6
            assert int(m.group(3)) == next_seq[m.group(1)], raw[:120]  # in order, none lost or doubled
            next_seq[m.group(1)] += 1
    assert all(v == 500000 for v in next_seq.values()), next_seq
    assert peak < 150 * 1024 * 1024, f"hu RSS peaked at {peak / 2**20:.0f} MiB"


def test_t14_stalled_reader_blocks_children_not_hu(app):
    # A reader that stops reading: the children block on their pipes (backpressure), but hu
    # still reacts to SIGTERM within the stop timeout and its memory stays bounded.
    app.write("Procfile", "a: yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nb: yes bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n")
    r, w = os.pipe()
    proc = app.popen("start", "-t", "1", stdout=w, stderr=subprocess.DEVNULL)
    os.close(w)
    os.read(r, 1000)  # read a little, then stall
    time.sleep(1.5)
    # The control API (timers, the loop) still answers while the console is stalled.
    ps_started = time.monotonic()
    ps = app.hu("ps", "--json", timeout=10)
    assert ps.returncode == 0 and b"a.1" in ps.stdout, ps.stderr
    assert time.monotonic() - ps_started < 3
    rss = psutil.Process(proc.pid).memory_info().rss
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    elapsed = time.monotonic() - started
    os.close(r)
    assert proc.returncode == 143
    assert elapsed < 3, f"hu took {elapsed:.1f}s to stop behind a stalled reader"
    assert rss < 100 * 1024 * 1024, f"hu grew to {rss / 2**20:.0f} MiB behind a stalled reader"
    app.assert_no_survivors()


def test_t13_hostile_locale_and_binary_output(app):
    app.write("emit.py", "import os\nos.write(1, bytes(range(256)) + b'\\n' + b'\\xff\\xfe tail\\n')\n")
    app.write("Procfile", f"web: {PY} emit.py; sleep 0.2\n")
    env = {"LANG": "C", "LC_ALL": "POSIX", "PYTHONIOENCODING": ""}
    result = app.hu("start", "--no-prefix", env=env)
    assert result.returncode == 0 and b"Traceback" not in result.stderr
    assert bytes(range(256)) + b"\n\xff\xfe tail\n" in result.stdout


def _keys_typed_stop_no_child_and_ctrl_c_ends_hu(app, child):
    """Keys typed into hu's terminal stop no child (no SIGTTIN); Ctrl-C ends hu with 130."""
    import pexpect

    child.sendline("typed keys")
    wait_for(lambda: app.survivors())
    for proc in app.survivors():
        assert proc.status() != psutil.STATUS_STOPPED  # no SIGTTIN stop
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130


def test_t15_child_stdin_is_dev_null_even_from_a_terminal(app):
    app.write("Procfile", f"reader: {PY} -c \"import sys, os; print('fd0', os.readlink('/proc/self/fd/0')); "
                          f"print('read', repr(sys.stdin.read()))\"; sleep 30\n")
    child = app.pty("start", "--tty", "never")
    child.expect("fd0 /dev/null")
    child.expect("read ''")
    _keys_typed_stop_no_child_and_ctrl_c_ends_hu(app, child)


def test_t15_a_tty_child_reads_a_terminal_of_its_own_never_hus(app):
    app.write("Procfile", f"reader: {PY} -c \"import os; print('fd0', os.readlink('/proc/self/fd/0'))\"; sleep 30\n")
    child = app.pty("start")  # --tty auto under a terminal: a pty per process
    child.expect(rb"fd0 (/dev/pts/\d+)")
    assert child.match.group(1).decode() != os.readlink(f"/proc/{child.pid}/fd/0"), "not hu's own terminal"
    _keys_typed_stop_no_child_and_ctrl_c_ends_hu(app, child)


def test_a_quiet_process_is_not_starved_behind_full_speed_writers(app):
    # Regression: under console backpressure every pipe was paused the moment the queue
    # crossed its high-water mark, in the middle of a loop iteration, so the pipes read
    # last (the process started last) waited seconds behind two `yes` writers.
    app.write("tick.py", "import time\nfor i in range(100000):\n    print('tick', i, flush=True)\n    time.sleep(0.01)\n")
    app.write("Procfile", f"a: yes {'a' * 90}\nb: yes {'b' * 90}\ntick: {PY} tick.py\n")
    r, w = os.pipe()
    proc = app.popen("start", "--no-color", stdout=w, stderr=subprocess.DEVNULL)
    os.close(w)
    seen: list[float] = []
    buf = b""
    started = time.monotonic()
    try:
        while time.monotonic() - started < 4:
            chunk = os.read(r, 64 << 10)  # a reader slower than the writers: constant backpressure
            buf = buf[buf.rfind(b"\n") + 1:] + chunk
            seen.extend(time.monotonic() for _ in range(chunk.count(b"| tick ")))
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGTERM)
        os.close(r)
        proc.wait(timeout=15)
    ticks = [t for t in seen if t - started > 1.0]  # after start-up
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 50, f"only {len(ticks)} ticker lines in 3 s"
    assert max(gaps) < 1.0, f"the ticker waited {max(gaps):.1f}s behind the writers"
    app.assert_no_survivors()
