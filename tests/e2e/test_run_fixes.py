"""``hu run``: the findings of the docs audit (issue 15) about the one-off form.

Each test is named for its finding: the exec'd command's signals, ``exec`` for a Procfile
entry, the env file's error printed once, and the errors for an unknown type.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess

import psutil

from tests.kit.hu import HU
from tests.kit.procs import PY
from tests.kit.wait import wait_for


def test_run_restores_sigpipe_so_yes_into_head_dies_by_sigpipe(app):
    # Python ignores SIGPIPE; an exec'd `yes` inherited that, got EPIPE and printed
    # "yes: standard output: Broken pipe" (exit 1) instead of dying quietly by SIGPIPE.
    proc = app.popen("run", "yes")
    assert proc.stdout.readline() == b"y\n"
    proc.stdout.close()
    proc.wait(10)
    assert proc.returncode == -signal.SIGPIPE
    assert b"Broken pipe" not in proc.stderr.read()


def test_run_yes_into_head_in_a_shell_exits_141(app):
    script = f'{" ".join(HU)} run yes | head -1; echo "status=${{PIPESTATUS[0]}}"'
    result = subprocess.run(["bash", "-c", script], cwd=app.root, env=app.env, capture_output=True, timeout=30)
    assert result.stdout == b"y\nstatus=141\n"
    assert result.stderr == b""


def _status(text: str, field: str) -> int:
    return int(re.search(rf"^{field}:\s*([0-9a-f]+)$", text, re.M).group(1), 16)


def test_run_gives_default_dispositions_and_an_empty_signal_mask(app):
    # hu itself started with signals blocked and SIGPIPE/SIGXFSZ ignored (Python's own
    # start-up ignores both): the command must see neither.
    wrapper = ("import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM}); "
               "os.execvp(sys.argv[1], sys.argv[1:])")
    result = subprocess.run([PY, "-c", wrapper, *HU, "run", "cat", "/proc/self/status"], cwd=app.root, env=app.env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert _status(result.stdout, "SigBlk") == 0
    ignored = _status(result.stdout, "SigIgn")
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not ignored & (1 << (sig - 1)), f"{sig.name} is still ignored"


def test_run_a_simple_procfile_entry_execs_it_without_a_shell_above(app):
    # `hu run web` left /bin/sh as the process of hu's pid, with the app its child: a signal
    # to that pid killed the shell and orphaned the app.
    app.write("Procfile", "web: sleep 30\n")
    proc = app.popen("run", "web")
    wait_for(lambda: psutil.Process(proc.pid).cmdline() == ["sleep", "30"], 10, "hu's pid to become `sleep 30`")
    assert psutil.Process(proc.pid).children() == []
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == -signal.SIGTERM
    app.assert_no_survivors()


def test_run_a_compound_procfile_entry_runs_as_written(app):
    app.write("Procfile", "web: echo one && echo two $PORT\nexits: exit 4\n")
    assert app.hu("run", "web").stdout == b"one\ntwo 5000\n"
    assert app.hu("run", "exits").returncode == 4  # a builtin: never `exec exit 4`


def test_run_prints_an_env_file_error_once(app):
    app.write("Procfile", "web: echo web\n")
    app.write(".env", "GOOD=1\nthis is not an assignment\n")
    for args in (["run", "web"], ["run", "echo", "hi"], ["run", "env"], ["run", "--with", "web", "--", "true"]):
        result = app.hu(*args)
        assert result.returncode == 1, args
        assert result.stderr.splitlines() == [b"hu: .env:2: cannot parse 'this is not an assignment' "
                                              b"(expected KEY=VALUE)"], args


def test_run_with_an_unknown_type_names_with_and_the_known_types(app):
    # It blamed --concurrency, a flag hu run does not have.
    app.write("Procfile", "web: sleep 30\nworker: sleep 30\n")
    result = app.hu("run", "--with", "wrker", "--", "true")
    assert result.returncode == 1
    assert result.stderr == b"hu: --with: no process type 'wrker' in Procfile (known: web, worker)\n"


def test_run_an_unknown_word_lists_the_known_types(app):
    app.write("Procfile", "web: sleep 30\nworker: sleep 30\n")
    result = app.hu("run", "wrker")
    assert result.returncode == 127
    assert result.stderr == (b"hu: wrker: command not found, and no process type 'wrker' in Procfile "
                             b"(known: web, worker)\n")
    words = app.hu("run", "no-such-command-hu", "arg")  # two words never name an entry
    assert words.returncode == 127 and words.stderr == b"hu: no-such-command-hu: command not found\n"


def test_run_port_past_65535_is_an_error_not_a_port(app):
    app.write("Procfile", "web: echo $PORT\nworker: echo $PORT\nclock: echo $PORT\n")
    bad = app.hu("run", "-p", "65500", "clock")
    assert bad.returncode == 1
    assert bad.stderr == (b"hu: --port: clock.1 would get port 65700 (base 65500 + 100 * 2 + 0), past 65535: "
                          b"use a lower base\n")
    assert app.hu("run", "-p", "65500", "web").stdout == b"65500\n"


def test_regression_run_with_web_is_not_ready_because_a_stranger_answers_on_its_port(app):
    # Finding 1 of issue 15: another server on web's port made `hu run --with web` run CMD
    # and exit 0 while web.1 died with "Address already in use".
    stranger = socket.socket()
    stranger.bind(("127.0.0.1", 0))
    stranger.listen()
    port = stranger.getsockname()[1]
    try:
        app.write("Procfile", f"web: {PY} -u -m http.server $PORT --bind 127.0.0.1\n")
        result = app.hu("run", "--with", "web", "-p", str(port), "--", "echo", "RAN", text=True)
        assert result.returncode == 1 and "RAN" not in result.stdout
        assert result.stderr == "hu: web.1 exited with code 1 before it was ready\n"
    finally:
        stranger.close()
    app.assert_no_survivors()
