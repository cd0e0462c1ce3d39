"""``hu start`` from the outside: output format, options, exit codes, signals, nothing left behind."""

from __future__ import annotations

import os
import re
import signal
import time

import pexpect
import pytest

from tests.kit.procs import PY
from tests.kit.wait import wait_for

LINE = re.compile(rb"^\d\d:\d\d:\d\d (\S+)\s* \| (.*)$")


def lines_of(out: bytes) -> list[tuple[str, bytes]]:
    parsed = []
    for raw in out.splitlines():
        m = LINE.match(raw)
        if m:
            parsed.append((m.group(1).decode(), m.group(2)))
    return parsed


def test_output_is_labelled_padded_and_exit_code_is_the_first_exit(app):
    app.write("Procfile", "web: echo hello from $PS on $PORT; sleep 5\nworker_long: sleep 0.3; exit 7\n")
    result = app.hu("start")
    assert result.returncode == 7
    out = result.stdout
    assert re.search(rb"^\d\d:\d\d:\d\d web.1         \| hello from web.1 on 5000$", out, re.M), out
    assert b"worker_long.1 exited with code 7" in out
    assert b"\x1b[" not in out  # NO_COLOR is set by the fixture
    assert result.stderr == b""


def test_stderr_is_merged_and_ports_follow_the_whole_procfile(app):
    # Regression for honcho's port rule: ports depend on the type's place in the whole
    # Procfile, so starting a subset does not move them.
    app.write("Procfile", "web: echo web $PORT\nworker: echo worker $PORT >&2\nclock: echo clock $PORT\n")
    out = app.hu("start", "worker", "clock", "--can-die", "all").stdout
    assert (b"worker.1", b"worker 5100") in [(n.encode(), b) for n, b in lines_of(out)]
    assert b"clock 5200" in out and b"web" not in out.replace(b"web.", b"")


def test_formation_scales_and_numbers_instances(app):
    app.write("Procfile", "web: echo $PS $PORT\nworker: echo $PS $PORT\n")
    out = app.hu("start", "-c", "web=2,worker=0", "--can-die", "web", "-p", "6000").stdout
    assert b"web.1 6000" in out and b"web.2 6001" in out
    assert b"worker." not in out


def test_all_and_exclude(app):
    app.write("Procfile", "a: echo A\nb: echo B\nc: echo C\n")
    out = app.hu("start", "-m", "all=2", "-x", "b", "--can-die", "a,c").stdout
    assert out.count(b"| A") == 2 and out.count(b"| C") == 2 and b"| B" not in out


@pytest.mark.parametrize(
    "args,env,expect_colour",
    [
        ([], {}, False),  # not a TTY
        (["--color"], {"NO_COLOR": "1"}, True),  # the flag beats NO_COLOR
        ([], {"NO_COLOR": "", "FORCE_COLOR": "1"}, True),  # FORCE_COLOR beats "not a TTY"
        ([], {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),  # NO_COLOR beats FORCE_COLOR
        (["--no-colour", "--color"], {}, True),  # last flag wins, British spelling accepted
    ],
)
def test_colour_precedence(app, args, env, expect_colour):
    app.write("Procfile", "web: echo hi\n")
    out = app.hu("start", *args, env={"NO_COLOR": "", **env}).stdout
    assert (b"\x1b[" in out) is expect_colour


def test_no_prefix_and_no_timestamps(app):
    app.write("Procfile", "web: echo raw line\n")
    assert b"raw line\n" in app.hu("start", "--no-prefix").stdout.splitlines(keepends=True)
    out = app.hu("start", "--no-timestamps").stdout
    assert re.search(rb"^web.1  \| raw line$", out, re.M), out


def test_regression_a_stopping_exit_prints_one_system_line(app):
    # It printed "a.1 exited with code 3" and then "a.1 exited with code 3: stopping all processes".
    app.write("Procfile", "a: sleep 0.3; exit 3\nb: sleep 30\n")
    result = app.hu("start", "--no-timestamps")
    assert result.returncode == 3
    about_a = [line for line in result.stdout.decode().splitlines() if line.startswith("system | a.1")]
    assert about_a[0].startswith("system | a.1 started (pid=") and about_a[1:] == [
        "system | a.1 exited with code 3: stopping all processes"], result.stdout
    assert b"system | b.1 stopped (signal SIGTERM)" in result.stdout


def test_regression_no_prefix_sends_system_lines_to_stderr(app):
    # Raw output on stdout had hu's "web.1 started (pid=...)" lines mixed in.
    app.write("Procfile", "web: echo raw line\n")
    result = app.hu("start", "--no-prefix")
    assert result.returncode == 0
    assert result.stdout == b"raw line\n"
    assert re.fullmatch(rb"web\.1 started \(pid=\d+\)\nweb\.1 exited with code 0: stopping all processes\n",
                        result.stderr), result.stderr
    app.write("Procfile", "web: echo raw line; sleep 30\n")
    smoke = app.hu("run", "--no-prefix", "--with", "web", "--ready", "web=started", "--", "echo", "from cmd")
    assert smoke.returncode == 0, smoke.stderr
    assert b"raw line" not in smoke.stderr and b"web.1 started" not in smoke.stdout
    assert b"web.1 started" in smoke.stderr and b"from cmd\n" in smoke.stdout


def test_quiet_hides_output_but_not_system_lines(app):
    app.write("Procfile", "noisy: echo secret\nweb: sleep 0.2\n")
    out = app.hu("start", "-q", "noisy", "--can-die", "noisy").stdout
    assert b"secret" not in out and b"noisy.1 started" in out


def test_global_options_before_or_after_the_subcommand(app):
    # Regression for honcho #173: -f/-e work on either side of the subcommand.
    app.write("Other", "web: echo $ANIMAL\n")
    app.write("x.env", "ANIMAL=giraffe\n")
    before = app.hu("-f", "Other", "-e", "x.env", "start").stdout
    after = app.hu("start", "-f", "Other", "-e", "x.env").stdout
    assert b"giraffe" in before and b"giraffe" in after


def test_env_file_precedence_and_procfile_from_env(app):
    app.write("Procfile.dev", "web: echo $ANIMAL $EXTRA $PORT\n")
    app.write(".env", "PROCFILE=Procfile.dev\nANIMAL=mongoose\nPORT=6000\n")
    app.write("b.env", "EXTRA=second\n")
    out = app.hu("start", env={"ANIMAL": "from-os"}).stdout
    assert b"mongoose 6000" in out  # .env beats the OS env; PROCFILE and PORT from .env
    out = app.hu("start", "-e", ".env,b.env", "-p", "7000").stdout
    assert b"mongoose second 7000" in out  # -p beats .env PORT (honcho #123 got this wrong)


def test_signal_death_gives_128_plus_n(app):
    app.write("Procfile", "web: kill -9 $$\n")
    assert app.hu("start").returncode == 128 + 9


def test_can_die_lets_a_process_exit_alone(app):
    app.write("Procfile", "once: echo done; exit 3\nweb: sleep 0.5; echo still here\n")
    result = app.hu("start", "--can-die", "once")
    assert b"still here" in result.stdout
    # web's own (unexpected) exit 0 is what stopped hu, so its code is hu's.
    assert result.returncode == 0


def test_exit_code_is_first_unexpected_when_nothing_is_left(app):
    app.write("Procfile", "a: exit 4\nb: sleep 0.3; exit 0\n")
    assert app.hu("start", "--can-die", "a,b").returncode == 4


def test_restart_until_fatal_counts_as_the_exit(app):
    app.write("Procfile", "crash: echo boom; exit 2\nweb: sleep 30\n")
    # gaffer's defaults (retry_in 7 s, max_retry 5) are too slow for a test: --flapping tunes them.
    result = app.hu("start", "--restart", "crash", "--flapping", "2,1,0.1,1", timeout=30)
    assert result.returncode == 2
    assert b"FATAL" in result.stdout
    app.assert_no_survivors()


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_stop_signals_exit_codes(app, sig, code):
    app.write("Procfile", "web: sleep 30\nworker: sleep 30\n")
    proc = app.popen("start")
    wait_for(lambda: len(app.survivors()) >= 2)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == code
    assert f"{signal.Signals(sig).name} received".encode() in out
    app.assert_no_survivors()


def test_burst_of_sigterm_is_one_shutdown(app):
    app.write("Procfile", "web: sleep 30\n")
    proc = app.popen("start")
    wait_for(lambda: app.survivors())
    for _ in range(5):
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 143 and out.count(b"stopping all processes") == 1 and b"Traceback" not in err


def test_ctrl_c_through_a_pty_stops_an_npm_style_tree(app):
    # sh -> python -> two workers, like `npm start`; the terminal's ^C reaches only hu, which
    # sends one SIGTERM per group and leaves nothing behind (honcho #1, supervisor #1101).
    app.write("tree.py", "import subprocess, sys, time\n"
              "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']) for _ in range(2)]\n"
              "print('tree up', flush=True)\n"
              "time.sleep(60)\n")
    app.write("Procfile", f"web: sh -c '{PY} tree.py'\n")
    child = app.pty("start")
    child.expect("tree up")
    wait_for(lambda: len(app.survivors()) >= 4)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    app.assert_no_survivors()


def test_second_ctrl_c_kills_at_once(app):
    app.write("Procfile", "stubborn: trap '' TERM INT; echo ready; while true; do sleep 0.05; done\n")
    child = app.pty("start", "-t", "20")
    child.expect("ready")
    child.sendintr()
    child.expect("stopping all processes")
    started = time.monotonic()
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert time.monotonic() - started < 3
    assert child.exitstatus == 130
    app.assert_no_survivors()


def test_setsid_escapee_does_not_outlive_hu(app):
    app.write("escape.py", "import os, sys, time\n"
              "if os.fork() == 0:\n"
              "    os.setsid()\n"
              "    if os.fork() == 0:\n"
              "        time.sleep(60)\n"
              "    os._exit(0)\n"
              "print('escaped', flush=True)\n"
              "time.sleep(60)\n")
    app.write("Procfile", f"web: {PY} escape.py\n")
    proc = app.popen("start")
    # The app (exec'ed by its shell) and the escapee, which leads a session of its own.
    wait_for(lambda: len(app.survivors()) >= 2 and any(os.getsid(p.pid) == p.pid != proc.pid for p in app.survivors()))
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.returncode == 130
    app.assert_no_survivors()


def test_second_start_in_the_same_app_root_refuses(app):
    app.write("Procfile", "web: sleep 30\n")
    first = app.popen("start")
    try:
        wait_for(lambda: app.survivors())
        second = app.hu("start")
        assert second.returncode != 0
        assert f"already running in {app.root} (pid {first.pid})".encode() in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=10)


def test_children_get_dev_null_as_stdin(app):
    app.write("Procfile", "web: readlink /proc/self/fd/0; cat; echo eof\n")
    out = app.hu("start", stdin=None).stdout
    assert b"/dev/null" in out and b"eof" in out


def test_stdin_option_lets_hu_send_write_to_a_process(app):
    app.write("Procfile", "echo: cat\nweb: sleep 30\n")
    proc = app.popen("start", "--stdin", "echo")
    try:
        wait_for(lambda: app.hu("ps").returncode == 0)
        sent = app.hu("send", "echo.1", "hello stdin")
        assert sent.returncode == 0, sent.stderr
        refused = app.hu("send", "web.1", "nope")
        assert refused.returncode != 0 and b"stdin" in refused.stderr
    finally:
        app.hu("quit")
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert re.search(rb"echo.1 +\| hello stdin", out), out
