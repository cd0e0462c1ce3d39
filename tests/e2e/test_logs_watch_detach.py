"""Log files, restart on change, the detached start and hu down, from the outside."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.kit.hu import HU
from tests.kit.procs import PY
from tests.kit.wait import wait_for


def test_log_files_hold_exactly_the_bytes_written(app):
    app.write("Procfile", "w: printf 'plain\\n\\377\\376 not utf-8\\n\\033[31mred\\033[0m\\nerr\\n' ; "
                          "printf 'to stderr\\n' >&2; printf 'partial'\n")
    result = app.hu("start", "--log-dir", "logs/deep")
    assert result.returncode == 0, result.stderr
    log = app.root / "logs" / "deep" / "w.1.log"
    assert log.read_bytes() == b"plain\n\xff\xfe not utf-8\n\x1b[31mred\x1b[0m\nerr\nto stderr\npartial"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE((app.root / "logs" / "deep").stat().st_mode) == 0o700
    assert b"w.1    | partial\n" in result.stdout  # the console still got it, labelled


def test_rotation_keeps_whole_lines_nothing_lost_or_twice_and_only_n_files(app):
    count = 20000  # about 1 MB of numbered lines
    app.write("Procfile", f"w: {PY} -c \"import sys; sys.stdout.write(''.join('%06d %s\\n' % (i, 'x' * 40) "
                          f"for i in range({count})))\"\n")
    assert app.hu("start", "--log-dir", "logs", "--log-max-size", "64k", "--log-keep", "4").returncode == 0
    files = sorted((app.root / "logs").iterdir(), key=lambda p: -int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0)
    assert [p.name for p in files] == ["w.1.log.4", "w.1.log.3", "w.1.log.2", "w.1.log.1", "w.1.log"]
    numbers = []
    for path in files:
        data = path.read_bytes()
        assert data.endswith(b"\n") and len(data) <= 64 * 1024, path  # rotated at a line boundary, within the size
        for line in data.splitlines():
            number, body = line.split(b" ")
            assert body == b"x" * 40
            numbers.append(int(number))
    assert numbers == list(range(numbers[0], count))  # contiguous to the end: nothing lost or written twice
    assert numbers[0] > 0  # the oldest files were not kept


@pytest.mark.parametrize(("args", "message"), [
    (["--log-dir", "/proc/nope"], "hu: --log-dir: cannot create /proc/nope"),
    (["--log-dir", "logs", "--log-max-size", "10Q"], "hu: --log-max-size: expected a size like 512k, 10M or 1G"),
    (["--watch", "nope=src/*.py"], "hu: --watch: no process type 'nope'"),
    (["--watch", "web"], "hu: --watch: expected NAME=GLOB, got 'web'"),
    # regression: --watch without any globs (none in hu.toml, none given) watched nothing, silently
    (["--watch"], "hu: --watch: no process type has globs to watch"),
])
def test_bad_options_are_one_line(app, args, message):
    app.write("Procfile", "web: sleep 5\n")
    result = app.hu("start", *args, text=True)
    assert result.returncode != 0 and result.stderr.startswith(message) and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


SLOW_STOP = ("sh -c 'echo start $$ >> events; trap \"sleep 0.4; echo stop $$ >> events; exit 0\" TERM; "
             "while true; do sleep 0.05; done'")


def test_watch_restarts_once_per_burst_after_the_old_process_is_gone(app):
    (app.root / "src" / "pkg").mkdir(parents=True)
    (app.root / "src" / "gen").mkdir()
    (app.root / "node_modules").mkdir()
    app.write(".gitignore", "*.tmp\n")
    app.write("Procfile", f"web: {SLOW_STOP}\nother: sleep 60\n")
    app.write("hu.toml", "[processes.web]\nwatch = [\"src/**/*.py\"]\nwatch_ignore = [\"src/gen/**\"]\n")
    running = app.start("start", "--watch", sock=app.sock, ready="socket")
    events = app.root / "events"
    wait_for(lambda: events.exists() and events.read_text().count("start") == 1, 10, "web to start")
    for name in ("src/a.py", "src/pkg/b.py", "src/pkg/c.py"):  # a burst: one restart
        (app.root / name).write_text("x")
        time.sleep(0.05)
    wait_for(lambda: events.read_text().count("start") == 2, 10, "one restart")
    first, stop, second = events.read_text().split("\n")[:3]
    assert first.startswith("start") and stop.startswith("stop") and second.startswith("start")
    assert stop.split()[1] == first.split()[1]  # the old one had stopped before the new one began
    for name in ("src/gen/x.py", "src/notes.txt", "src/a.tmp", "node_modules/m.py", "README.py"):
        (app.root / name).write_text("ignored")
    time.sleep(1.0)  # longer than the debounce: nothing may follow
    assert events.read_text().count("start") == 2
    assert "src/a.py changed: restarting web" in running.output() or "changed: restarting web" in running.output()


def test_without_watch_nothing_restarts(app):
    (app.root / "src").mkdir()
    app.write("Procfile", f"web: {SLOW_STOP}\n")
    app.write("hu.toml", "[processes.web]\nwatch = [\"src/*.py\"]\n")
    app.start("start", sock=app.sock, ready="socket")
    events = app.root / "events"
    wait_for(lambda: events.exists(), 10, "web to start")
    (app.root / "src" / "a.py").write_text("x")
    time.sleep(1.0)  # longer than the debounce
    assert events.read_text().count("start") == 1


def test_detached_start_returns_when_ready_and_hu_down_leaves_nothing(app):
    app.write("Procfile", f"web: {PY} -m http.server $PORT --bind 127.0.0.1\nworker: sleep 60\n")
    app.write("hu.toml", "[processes.web]\nready = \"http\"\n")
    started = time.monotonic()
    # Like $(hu start -D): stdout is a pipe the caller reads to its end.
    result = subprocess.run(["sh", "-c", "x=$(\"$0\" \"$@\"); echo \"[$x]\"", *HU, "start", "-D"],
                            cwd=app.root, env=app.env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout == "[]\n", result.stderr
    assert time.monotonic() - started < 15
    pid = int(re.search(r"pid (\d+)", result.stderr).group(1))
    app.hu_pids.add(pid)
    ps = app.hu("ps", text=True).stdout
    assert re.search(r"^web\.1\s+RUNNING\s+yes", ps, re.M) and "worker.1" in ps
    again = app.hu("start", "-D", text=True)
    assert again.returncode == 1 and f"hu is already running in {app.root} (pid {pid})" in again.stderr
    down = app.hu("down", text=True)
    assert down.returncode == 0
    assert not app.survivors()  # every process is gone when hu down returns
    assert not list(Path(os.environ["XDG_RUNTIME_DIR"]).glob("**/*.lock"))


def test_detached_start_that_fails_says_why_and_leaves_nothing(app):
    app.write("Procfile", "web: sh -c 'sleep 0.3; exit 5'\nworker: sleep 60\n")
    app.write("hu.toml", "[processes.web]\nready = \"tcp\"\n")
    result = app.hu("start", "-D", text=True)
    assert result.returncode == 5
    assert result.stderr == "hu: web.1 exited with code 5 before it was ready\n"
    assert not app.survivors()
    assert app.hu("down", text=True).returncode == 0  # nothing to stop is fine


def test_regression_a_ready_timeout_exits_1_not_the_143_of_hus_own_sigterm(app):
    app.write("Procfile", "web: sleep 60\n")
    app.write("hu.toml", "[processes.web]\nready = \"tcp:1\"\nready_timeout = 0.5\n")
    for args in (["start", "-D"], ["start"]):
        result = app.hu(*args, text=True)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr == "hu: web.1 not ready within 0.5s (tcp:1)\n"
    assert not app.survivors()


def test_hu_logs_pads_names_shows_system_lines_and_since(app):
    app.write("Procfile", "a: echo from-a; sleep 60\nlonger-name: echo from-longer; sleep 60\n")
    app.start("start", sock=app.sock, ready="ping")
    wait_for(lambda: b"from-longer" in app.hu("logs", sock=app.sock).stdout and b"from-a" in
             app.hu("logs", sock=app.sock).stdout, 10, "both lines")
    out = app.hu("logs", sock=app.sock, text=True).stdout.splitlines()
    assert any(re.fullmatch(r"\d\d:\d\d:\d\d a\.1           \| from-a", line) for line in out), out
    assert any(re.fullmatch(r"\d\d:\d\d:\d\d longer-name\.1 \| from-longer", line) for line in out), out
    assert any(re.search(r"system        \| a\.1 started \(pid=\d+\)", line) for line in out), out
    assert app.hu("logs", "--since", "1h", sock=app.sock).stdout.count(b"from-a") == 1
    bad = app.hu("logs", "--since", "soon", sock=app.sock, text=True)
    assert bad.returncode == 2 or "expected a duration" in bad.stderr


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A 128 KiB tmpfs (needs the right to mount: root here; skipped where it is refused)."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k,mode=0700", "tmpfs", str(mount_point)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and the mount capability)")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_drops_file_output_only_says_so_once_and_resumes(app, small_tmpfs):
    filler = small_tmpfs / "filler"
    filler.write_bytes(b"\0" * 48 * 1024)
    go = app.root / "go"
    app.write("writer.py", "import os, time\n"
                           "for i in range(3000): print('%05d %s' % (i, 'x' * 40))\n"
                           f"while not os.path.exists({str(go)!r}): time.sleep(0.05)\n"
                           "print('after the disk was freed')\n"
                           "time.sleep(60)\n")
    app.write("Procfile", f"w: {PY} -u writer.py\n")
    running = app.start("start", "--log-dir", str(small_tmpfs / "logs"), sock=app.sock, ready="socket")
    wait_for(lambda: "02999" in running.output(), 15, "every line on the console")
    assert running.output().count("log files: cannot write") == 1  # said once
    filler.unlink()  # space returns
    go.touch()
    log = small_tmpfs / "logs" / "w.1.log"
    wait_for(lambda: b"after the disk was freed\n" in log.read_bytes(), 10, "the file to resume")
    assert "log files: writing to" in running.output()
    assert "after the disk was freed" in running.output()


def test_regression_a_second_run_appends_to_an_existing_log_file(app):
    # The file was opened write-only, so reading its last byte (does it end a line?) failed
    # with EBADF and nothing more was ever written to a log file that already existed.
    app.write("Procfile", "w: printf 'run\\n'\n")
    for _ in range(2):
        assert app.hu("start", "--log-dir", "logs").returncode == 0
    assert (app.root / "logs" / "w.1.log").read_bytes() == b"run\nrun\n"


# 300-byte numbered lines: 6000 of them (1.8 MB) overflow the 1 MiB ring of one instance.
LONG_LINES = (f"w: {PY} -c \"import sys, time; sys.stdout.write(''.join('%05d %s\\n' % (i, 'x' * 294) "
              "for i in range(6000))); sys.stdout.flush(); time.sleep(60)\"\n")


def _numbers(text: str) -> list[int]:
    return [int(line.split("| ", 1)[1][:5]) for line in text.splitlines() if "| " in line and "system" not in line]


def _assert_hu_logs_gives_every_line(app) -> None:
    log = app.root / "logs" / "w.1.log"
    wait_for(lambda: log.exists() and log.stat().st_size >= 6000 * 301, 15, "every line in the log file")
    result = app.hu("logs", "-n", "6000", "w.1", sock=app.sock, text=True)
    assert result.returncode == 0, result.stderr
    assert _numbers(result.stdout) == list(range(6000))


def test_regression_hu_logs_reads_the_log_files_for_lines_the_ring_dropped(app):
    # hu start made its ring buffer without the log directory, so `hu logs -n N w.1` gave
    # only what the ring still held although the files had every line.
    app.write("Procfile", LONG_LINES)
    app.start("start", "--log-dir", "logs", sock=app.sock, ready="socket")
    _assert_hu_logs_gives_every_line(app)


def test_regression_daemon_logs_read_the_log_files_for_lines_the_ring_dropped(app):
    # The same for gafferd's [gaffer] log_dir: its HTTP handler made a ring without it.
    command = LONG_LINES.split(": ", 1)[1].strip()
    app.daemon(ini=f"[gaffer]\nlog_dir = logs\n[process:w]\ncmd = {command}\nshell = true\n")
    _assert_hu_logs_gives_every_line(app)


def test_regression_hu_down_against_a_daemon_waits_until_its_processes_are_gone(app):
    # With --socket (or --url) it asked the daemon to quit and returned at once.
    done = app.root / "done"
    app.daemon(ini=f"[process:slow]\ncmd = sh\nargs = -c \"trap 'sleep 1; touch {done}; exit 0' TERM; "
                   "while true; do sleep 0.05; done\"\n")
    wait_for(lambda: b"RUNNING" in app.hu("ps", sock=app.sock).stdout, 10, "slow running")
    result = app.hu("down", "--socket", str(app.sock), text=True)
    assert result.returncode == 0, result.stderr
    assert done.exists()  # its stop had finished when hu down returned
    assert not app.survivors()


def test_regression_a_hu_on_another_socket_is_named_not_denied(app):
    # `hu down` said "nothing is running here" (exit 0) and `hu ps` "no hu is running" while
    # a hu started with --socket ran in the app root.
    app.write("Procfile", "web: sleep 60\n")
    other = app.root / "other.sock"
    running = app.start("start", "--socket", str(other), sock=other, ready="socket")
    for command in ("ps", "down"):
        result = app.hu(command, text=True, env={**app.env, "HU_SOCKET": ""})
        assert result.returncode == 1, (command, result.stderr)
        assert result.stderr.startswith(f"hu: hu (pid {running.pid}) runs in ") and "--socket" in result.stderr
    assert app.hu("down", "--socket", str(other)).returncode == 0
