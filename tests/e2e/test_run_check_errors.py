"""``hu run``, ``hu run --with``, ``hu check``, and the one-line errors."""

from __future__ import annotations

import signal
import subprocess

import pexpect
import pytest

from tests.kit.hu import HU
from tests.kit.procs import PY
from tests.kit.wait import wait_for

TEST_PY = "import os, sys\nprint(os.environ.get('ANIMAL', 'elephant'))\nsys.stderr.write('error output\\n')\n"


def test_run_keeps_streams_separate_and_unprefixed(app):
    app.write("test.py", TEST_PY)
    result = app.hu("run", PY, "test.py")
    assert result.returncode == 0
    assert result.stdout == b"elephant\n"
    assert b"error output\n" in result.stderr


def test_run_uses_the_env_files(app):
    app.write("test.py", TEST_PY)
    app.write(".env.x", "ANIMAL=giraffe\n")
    assert app.hu("-e", ".env.x", "run", PY, "test.py").stdout == b"giraffe\n"
    assert app.hu("run", "-e", ".env.x", PY, "test.py").stdout == b"giraffe\n"


def test_run_options_stop_at_the_first_command_word(app):
    # `hu run grep -f x` must pass -f x to grep, not take it as hu's --procfile.
    app.write("patterns", "needle\n")
    app.write("hay", "hay\nneedle\n")
    result = app.hu("run", "grep", "-f", "patterns", "hay")
    assert result.stdout == b"needle\n"
    assert app.hu("run", "--", PY, "-c", "print('dashdash')").stdout == b"dashdash\n"


def test_run_a_procfile_entry_with_its_port(app):
    app.write("Procfile", "web: echo web $PORT $PS\nworker: echo worker $PORT\n")
    assert app.hu("run", "worker").stdout == b"worker 5100\n"
    assert app.hu("run", "-p", "8000", "web").stdout == b"web 8000 web.1\n"


def test_run_exit_code_and_missing_command(app):
    assert app.hu("run", "sh", "-c", "exit 3").returncode == 3
    missing = app.hu("run", "no-such-command-hu")
    assert missing.returncode == 127 and missing.stderr.startswith(b"hu: no-such-command-hu")


def test_run_is_interactive(app):
    # The child gets the terminal: input typed at the prompt reaches it.
    child = app.pty("run", PY, "-c", "print('got', input('name? '))", timeout=10)
    child.expect("name\\? ")
    child.sendline("bob")
    child.expect("got bob")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_smoke_run_with_web_and_worker(app):
    app.write("Procfile", f"web: {PY} -m http.server $PORT --bind 127.0.0.1\n"
                          "worker: echo worker up; sleep 30\n")
    app.write("check.py", "import os, sys, urllib.request\n"
              "sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:5000/').status == 200 else 9)\n")
    result = app.hu("run", "--with", "web,worker", "--", PY, "check.py", timeout=60)
    assert result.returncode == 0, result.stderr
    assert b"worker up" in result.stdout and b"all ready" in result.stdout
    app.assert_no_survivors()
    failing = app.hu("run", "--with", "worker", "--", "sh", "-c", "exit 5")
    assert failing.returncode == 5


def test_smoke_run_fails_when_a_process_dies_before_ready(app):
    app.write("Procfile", "web: echo crash; exit 1\n")
    result = app.hu("run", "--with", "web", "--", "true")
    assert result.returncode != 0
    assert result.stderr == b"hu: web.1 exited with code 1 before it was ready\n"  # docs/cli.rst
    app.assert_no_survivors()


def test_smoke_run_ready_timeout_and_regex(app):
    app.write("Procfile", "web: sleep 30\nworker: sleep 0.2; echo READY now; sleep 30\n")
    timed_out = app.hu("run", "--with", "web", "--ready-timeout", "0.5", "--", "true")
    assert timed_out.returncode == 1 and timed_out.stderr == b"hu: web.1 not ready within 0.5s (tcp)\n"
    ok = app.hu("run", "--with", "worker", "--ready", "worker=regex:READY", "--", "echo", "ran")
    assert ok.returncode == 0 and b"ran" in ok.stdout
    app.assert_no_survivors()


def test_smoke_run_fails_when_a_process_dies_during_the_command(app):
    app.write("Procfile", "worker: sleep 1.5; exit 4\n")
    result = app.hu("run", "--with", "worker", "--ready", "worker=0", "--", "sleep", "30")
    assert result.returncode != 0 and b"interrupted" in result.stderr
    app.assert_no_survivors()


def test_check_lists_types_or_every_problem(app):
    app.write("Procfile", "foo: a\nbar: b\nbaz: c\n")
    ok = app.hu("check")
    assert ok.returncode == 0 and b"Valid procfile detected (foo, bar, baz)" in ok.stderr
    app.write("Procfile", "web: a\nnot a line\nweb: b\nbad.name: c\n")
    bad = app.hu("check")
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        b"hu: Procfile:2: expected 'name: command', got 'not a line'",
        b"hu: Procfile:3: duplicate process name 'web' (first on line 1)",
        b"hu: Procfile:4: invalid process name 'bad.name' (use letters, digits, '_' and '-')",
    ]


@pytest.mark.parametrize(
    "files,args,message",
    [
        ({}, ["start"], b"hu: Procfile: does not exist"),  # missing Procfile
        ({"Procfile": "web\n"}, ["start"], b"hu: Procfile:1: expected 'name: command'"),  # bad line
        ({"Procfile": "web: x\n"}, ["start", "-c", "web=x"], b"hu: --concurrency: count for 'web' must be"),
        ({"Procfile": "web: x\n"}, ["start", "-c", "db=1"], b"hu: --concurrency: no process type 'db'"),
        ({"Procfile": "web: x\n"}, ["start", "db"], b"hu: process: no process type 'db'"),
        ({"Procfile": "web: x\n"}, ["start", "-e", "nope.env"], b"nope.env: env file does not exist"),
        ({"Procfile": "web: x\n"}, ["start", "-p", "http"], b"hu: --port: port must be a number"),
        ({"Procfile": "web: x\n", ".env": "PORT=99999\n"}, ["start"], b"hu: .env:1: PORT: port must be between"),
        ({"Procfile": ""}, ["start"], b"hu: Procfile: no processes defined"),
        ({"Procfile": "web: x\n"}, ["start", "--flapping", "a,b"], b"hu: --flapping: expected"),
        # regression: click's usage errors were four lines ("Usage: ...", "Try ...", "", "Error: ...")
        ({"Procfile": "web: x\n"}, ["start", "-v"], b"hu: start: no such option '-v' (see 'hu start --help')"),
        ({}, ["logs", "-n", "x"], b"hu: logs: invalid value for '-n' / '--lines': 'x' is not a valid integer"),
        ({}, ["bogus"], b"hu: no such command 'bogus' (see 'hu --help')"),
        # regression: -n above the API's 10000 was cut to 10000 without a word
        ({}, ["logs", "-n", "20000"], b"hu: logs: invalid value for '-n' / '--lines': 20000 is not in the range"),
        ({}, ["export"], b"hu: export: missing argument 'FORMAT' (see 'hu export --help')"),
    ],
)
def test_user_mistakes_give_one_line_and_no_traceback(app, files, args, message):
    for name, text in files.items():
        app.write(name, text)
    result = app.hu(*args)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1 and b"Traceback" not in result.stderr


def test_unreadable_env_file(app):
    app.write("Procfile", "web: x\n")
    (app.root / "dir.env").mkdir()
    result = app.hu("start", "-e", "dir.env")
    assert result.returncode != 0 and b"dir.env: env file is not a regular file" in result.stderr


def test_version(app):
    for args in (["--version"], ["version"]):
        out = app.hu(*args).stdout
        assert out.startswith(b"hu ") and out.count(b".") == 2
    out = subprocess.run([*HU, "--version"], cwd=app.root, env=app.env, capture_output=True).stdout
    assert out.startswith(b"hu ")


def test_signals_reach_a_smoke_run(app):
    app.write("Procfile", "worker: echo up; sleep 30\n")
    proc = app.popen("run", "--with", "worker", "--", "sleep", "30")
    wait_for(lambda: len(app.survivors()) >= 2)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    assert proc.returncode != 0
    app.assert_no_survivors()
