"""A pseudo-terminal per process (``--tty``, ``tty`` in hu.toml) and ``hu attach``, run for real:
hu under a pipe and under a pexpect terminal, children that ask ``isatty``, print colours and
read their window size, and a person typing through ``hu attach``."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pexpect
import pytest

from tests.e2e.test_output import bodies
from tests.kit.procs import PY
from tests.kit.wait import wait_for

ISATTY = f"{PY} -c 'import os; print(\"tty\" if os.isatty(1) and os.isatty(0) else \"pipe\")'; sleep 0.3"
#: Prints its window size at start and on every SIGWINCH (a script in the app dir: see _app).
SIZES_PY = ("import os, signal, time\n"
            "def show(*_): print('size', *os.get_terminal_size(1), flush=True)\n"
            "signal.signal(signal.SIGWINCH, show); show()\n"
            "while True: time.sleep(1)\n")
SIZES = f"{PY} -u sizes.py"
#: Echoes each input line back, upper-cased, after a prompt without a newline.
ECHO_PY = "while True: print('got', input('prompt> ').upper())\n"
ECHO = f"{PY} -u echo.py"


@pytest.fixture
def app(app):
    """The kit's app directory, with the two scripts above in it."""
    app.write("sizes.py", SIZES_PY)
    app.write("echo.py", ECHO_PY)
    return app


def _ps(app, sock):
    result = app.hu("ps", "--json", sock=sock, text=True)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def _running(app, sock, name):
    return wait_for(lambda: (r := _ps(app, sock).get(name)) and r["state"] == "RUNNING" and r, what=f"{name} running")


@pytest.mark.parametrize(("flags", "expected"), [((), b"pipe"), (("--tty", "never"), b"pipe"),
                                                 (("--tty", "always"), b"tty")])
def test_tty_mode_under_a_pipe(app, flags, expected):
    app.write("Procfile", f"web: {ISATTY}\n")
    result = app.hu("start", *flags)
    assert bodies(result.stdout, "web.1") == [expected], result.stdout


def test_auto_gives_each_process_a_tty_under_a_terminal_unless_hu_toml_says_no(app):
    app.write("Procfile", f"web: {ISATTY}\nworker: {ISATTY}\n")
    app.write("hu.toml", "[processes.worker]\ntty = false\n")
    child = app.pty("start", "--can-die", "web,worker")
    child.expect(pexpect.EOF)
    out = child.before.replace(b"\r\n", b"\n")
    assert re.search(rb"web\.1\s+\| tty", out) and re.search(rb"worker\.1\s+\| pipe", out), out


def test_tty_never_on_the_command_line_wins_over_hu_toml(app):
    app.write("Procfile", f"web: {ISATTY}\n")
    app.write("hu.toml", "[processes.web]\ntty = true\n")
    assert bodies(app.hu("start").stdout, "web.1") == [b"tty"]
    assert bodies(app.hu("start", "--tty", "never").stdout, "web.1") == [b"pipe"]


def test_tty_output_is_byte_exact_with_colours_and_a_last_line_without_newline(app):
    payload = b"\x1b[31mred\x1b[0m and \x1b[1mbold\x1b[0m"
    app.write("emit.py", "import sys, os\n"
                         f"os.write(1, {payload!r} + b'\\n' + b'tab\\there\\n')\n"
                         "os.write(2, b'from stderr\\n')\n"
                         "os.write(1, b'no newline at the end')\n")
    app.write("Procfile", f"web: {PY} emit.py\n")
    result = app.hu("start", "--tty", "always", "--no-color")  # --no-color is hu's prefix only
    assert b"\r" not in result.stdout, "output post-processing must be off on the pty"
    assert bodies(result.stdout, "web.1") == [payload, b"tab\there", b"from stderr", b"no newline at the end"]


def test_window_size_is_80x24_without_a_terminal(app):
    app.write("Procfile", f"web: {PY} -c 'import os; print(*os.get_terminal_size(1))'\n")
    assert bodies(app.hu("start", "--tty", "always").stdout, "web.1") == [b"80 24"]


def test_window_size_follows_hu_terminal_and_sigwinch(app):
    app.write("Procfile", f"web: {SIZES}\n")
    child = app.pty("start")
    child.setwinsize(30, 100)  # rows, columns: before hu reads its size
    child.expect(rb"web\.1\s+\| size (\d+) (\d+)")
    assert child.match.groups() == (b"100", b"30")
    child.setwinsize(40, 132)  # the kernel sends hu SIGWINCH; hu passes the size on
    child.expect(rb"web\.1\s+\| size 132 40")
    child.sendcontrol("c")
    child.expect(pexpect.EOF)
    assert child.wait() == 130


def test_hu_send_types_into_a_tty_instance(app):
    app.write("Procfile", f"repl: {ECHO}\n")
    hu_start = app.start("start", "--tty", "always", sock=app.sock, ready="socket")
    _running(app, app.sock, "repl.1")
    # The prompt has no newline: it is printed as a line of its own after 0.5 s of quiet
    # (before that, the echo of what is sent would join it on one line).
    wait_for(lambda: re.search(r"repl\.1\s+\| prompt> $", hu_start.output(), re.M), what="the prompt")
    assert app.hu("send", "repl.1", "hello", sock=app.sock).returncode == 0
    # The pty echoes the input (a terminal would too), then the child answers; the prompt
    # before it was flushed as a line of its own after the idle wait.
    wait_for(lambda: "got HELLO" in hu_start.output(), what="the answer")
    said = [line.split("| ", 1)[1] for line in hu_start.output().splitlines() if "repl.1 |" in line]
    assert said[:3] == ["prompt> ", "hello", "got HELLO"], said


def test_hu_send_to_an_instance_without_input_says_how_to_give_it_one(app):
    app.write("Procfile", "web: sleep 30\n")
    app.start("start", sock=app.sock, ready="socket")
    _running(app, app.sock, "web.1")
    result = app.hu("send", "web.1", "x", sock=app.sock, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "hu start --stdin web" in result.stderr and "tty = true" in result.stderr


def test_attach_without_input_is_one_line_that_says_how_to_get_one(app):
    app.write("Procfile", "web: sleep 30\n")
    app.start("start", sock=app.sock, ready="socket")
    _running(app, app.sock, "web.1")
    result = app.hu("attach", "web.1", "--socket", str(app.sock), text=True)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "hu start --stdin web" in result.stderr and "tty = true" in result.stderr


def _attach(app, name, *flags):
    child = app.pty("attach", name, "--socket", str(app.sock), *flags)
    child.expect("attached to")
    return child


def test_attach_types_into_a_tty_instance_and_detaches_leaving_it_running(app):
    app.write("Procfile", f"repl: {ECHO}\n")
    hu_start = app.start("start", "--tty", "always", sock=app.sock, ready="socket")
    pid = _running(app, app.sock, "repl.1")["os_pid"]
    child = _attach(app, "repl.1")
    child.send("hello\r")
    child.expect("got HELLO")
    child.send("\x1d")  # Ctrl-]
    child.expect("detached")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert _ps(app, app.sock)["repl.1"]["os_pid"] == pid, "the instance keeps running after a detach"
    assert "got HELLO" in hu_start.output(), "what happens while attached reaches hu's console too"


def test_attach_passes_its_window_size_and_ctrl_c_to_the_instance_only(app):
    app.write("Procfile", f"web: {SIZES}\n")
    hu_start = app.start("start", "--tty", "always", sock=app.sock, ready="socket")
    pid = _running(app, app.sock, "web.1")["os_pid"]
    child = app.pty("attach", "web.1", "--socket", str(app.sock))
    child.setwinsize(33, 111)
    child.expect("size 111 33")
    child.send("\x03")  # typed ^C: the instance's terminal sends it SIGINT; hu attach stays
    child.expect(pexpect.EOF)  # the instance died of it, so the attach ends
    assert b"web.1 exited" in child.before, child.before
    assert child.wait() == 0
    # web.1 died of the SIGINT (an unexpected exit): hu's foreman rule then stops the rest.
    assert hu_start.proc.wait(10) == 130, hu_start.output()
    assert f"web.1 started (pid={pid})" in hu_start.output()
    assert re.search(r"system \| web\.1 .*SIGINT", hu_start.output()), hu_start.output()


def test_a_second_attach_is_refused_with_the_holders_pid_and_force_takes_over(app):
    app.write("Procfile", f"repl: {ECHO}\n")
    app.start("start", "--tty", "always", sock=app.sock, ready="socket")
    _running(app, app.sock, "repl.1")
    first = _attach(app, "repl.1")
    refused = app.hu("attach", "repl.1", "--socket", str(app.sock), text=True)
    assert refused.returncode == 1 and f"attached by pid {first.pid}" in refused.stderr, refused.stderr
    assert "--force" in refused.stderr
    second = _attach(app, "repl.1", "--force")
    first.expect("taken over by pid")
    first.expect(pexpect.EOF)
    second.send("still here\r")
    second.expect("got STILL HERE")
    second.send("\x1d")
    second.expect(pexpect.EOF)


def test_attach_to_a_stdin_pipe_instance_is_line_mode(app):
    app.write("Procfile", f"repl: {ECHO}\n")
    app.start("start", "--stdin", "repl", sock=app.sock, ready="socket")
    _running(app, app.sock, "repl.1")
    child = _attach(app, "repl.1")
    child.sendline("abc")
    child.expect("got ABC")
    child.sendline("\x1d")  # a line holding only Ctrl-] detaches
    child.expect("detached")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert _ps(app, app.sock)["repl.1"]["state"] == "RUNNING"


def test_ctrl_c_with_tty_children_stops_everything_and_leaves_nothing(app):
    app.write("Procfile", f"web: {SIZES}\nshell: sh -c 'sleep 300 & sleep 300'\n")
    child = app.pty("start")  # auto: ptys under a terminal
    child.expect(rb"web\.1\s+\| size")
    wait_for(lambda: len(app.survivors()) >= 3, what="the processes")
    child.sendcontrol("c")
    child.expect(pexpect.EOF)
    assert child.wait() == 130
    app.assert_no_survivors()


def test_200k_lines_through_ptys_arrive_intact(app):
    writer = ("import sys\n"
              "name = sys.argv[1]\n"
              "out = sys.stdout\n"
              "for i in range(50000):\n"
              "    out.write(f'{name} {i} ' + 'z' * (i % 61) + '\\n')\n")
    app.write("writer.py", writer)
    app.write("Procfile", "".join(f"w{n}: {PY} writer.py w{n}; sleep 0.5\n" for n in range(4)))
    out = app.hu("start", "--tty", "always", timeout=120).stdout
    for n in range(4):
        lines = bodies(out, f"w{n}.1")
        assert len(lines) == 50000, (n, len(lines))
        assert lines == [f"w{n} {i} ".encode() + b"z" * (i % 61) for i in range(50000)]


def test_daemon_ini_tty_gives_a_pty(app, daemon):
    running = daemon(ini=f"[process:web]\ncmd = {ISATTY}\ntty = true\nrestart = never\n")
    wait_for(lambda: "tty" in app.hu("logs", "web", "--socket", str(running.sock), text=True).stdout,
             what="web's output in the daemon's log buffer")


def test_sigint_from_hus_terminal_does_not_reach_tty_children_directly(app):
    # The children have terminals of their own: only hu's stop (SIGTERM) reaches them.
    app.write("trap.py", "import signal, sys, time\n"
                         "signal.signal(signal.SIGINT, lambda *a: (print('got SIGINT', flush=True)))\n"
                         "signal.signal(signal.SIGTERM, lambda *a: (print('got SIGTERM', flush=True), sys.exit(0)))\n"
                         "print('ready', flush=True)\n"
                         "while True: time.sleep(1)\n")
    app.write("Procfile", f"web: {PY} trap.py\n")
    child = app.pty("start")
    child.expect(rb"web\.1\s+\| ready")
    child.kill(signal.SIGINT)  # as the terminal's Ctrl-C reaches hu's foreground group
    child.expect(pexpect.EOF)
    assert b"got SIGTERM" in child.before and b"got SIGINT" not in child.before, child.before


def test_attach_over_tcp_to_a_daemon_tty_instance(app, daemon):
    running = daemon(ini=f"[process:repl]\ncmd = {ECHO}\ncwd = {app.root}\ntty = true\n", tcp=True)
    wait_for(lambda: "prompt>" in app.hu("logs", "repl", "--socket", str(running.sock), text=True).stdout,
             what="the prompt")
    child = app.pty("attach", "repl.1", "--url", f"http://127.0.0.1:{running.port}")
    child.expect("attached to repl.1")
    child.send("over tcp\r")
    child.expect("got OVER TCP")
    child.send("\x1d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_slow_reader_holds_tty_children_back_and_loses_nothing(app):
    # Backpressure through a pty: the console stops reading the master, the child blocks in
    # write (its pty buffer is full), nothing is dropped.
    app.write("writer.py", "import sys\nfor i in range(30000):\n    sys.stdout.write(f'line {i} ' + 'q' * 80 + '\\n')\n")
    app.write("Procfile", f"w: {PY} writer.py; sleep 0.5\n")
    proc = app.popen("start", "--tty", "always")
    time.sleep(2)  # nothing reads hu's output meanwhile: 3 MB wait in the child
    out, _ = proc.communicate(timeout=60)
    lines = bodies(out, "w.1")
    assert lines == [f"line {i} ".encode() + b"q" * 80 for i in range(30000)]


def test_a_types_own_tty_wins_over_start_tty_in_hu_toml(app):
    app.write("Procfile", f"web: {ISATTY}\nworker: {ISATTY}\n")
    app.write("hu.toml", '[start]\ntty = "always"\n\n[processes.worker]\ntty = false\n')
    out = app.hu("start", "--can-die", "web,worker").stdout
    assert bodies(out, "web.1") == [b"tty"] and bodies(out, "worker.1") == [b"pipe"], out


def test_attach_with_input_from_dev_null_detaches_at_once(app):
    app.write("Procfile", f"repl: {ECHO}\n")
    app.start("start", "--tty", "always", sock=app.sock, ready="socket")
    pid = _running(app, app.sock, "repl.1")["os_pid"]
    with open(os.devnull) as devnull:
        result = app.hu("attach", "repl.1", "--socket", str(app.sock), stdin=devnull, text=True)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "detached" in result.stderr
    assert _ps(app, app.sock)["repl.1"]["os_pid"] == pid
