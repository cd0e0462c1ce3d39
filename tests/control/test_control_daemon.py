"""A real ``hu daemon`` from an ini: control commands, SIGHUP reload, pidfile, quoting."""

from __future__ import annotations

import json
import os
import signal
import time

from tests.kit.wait import wait_for

INI = """\
[gaffer]
bind = unix:{sock}
pidfile = {pidfile}

[process:keep]
cmd = sleep 1000

[process:edit]
cmd = sleep 1000

[process:gone]
cmd = sleep 1000

[process:Quoted]
cmd = /bin/sh -c 'echo "[$Mixed_Case] [$PCT]"; exec cat'
env:Mixed_Case = a%b$c:d=e
redirect_input = true

[env:Quoted]
PCT = 100%% $HOME
"""


def _ps(app, sock):
    result = app.hu("ps", "--json", sock=sock, text=True)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_daemon_reload_keeps_untouched_processes(app):
    sock, pidfile = app.sock, app.root / "d.pid"
    ini = app.write("gafferd.ini", INI.format(sock=sock, pidfile=pidfile))
    daemon = app.start("daemon", str(ini), sock=sock)
    rows = wait_for(lambda: len(r := _ps(app, sock)) == 4 and all(x["os_pid"] for x in r.values()) and r, what="4 up")
    assert int(pidfile.read_text()) == daemon.proc.pid

    # %, $, :, = and case survive the ini, exactly as written
    line = wait_for(lambda: app.hu("logs", "Quoted", sock=sock, text=True).stdout, what="Quoted output")
    assert line.rstrip().endswith("| [a%b$c:d=e] [100%% $HOME]")
    assert app.hu("send", "Quoted.1", "echo back", sock=sock, text=True).returncode == 0
    wait_for(lambda: "| echo back" in app.hu("logs", "Quoted", sock=sock, text=True).stdout, what="stdin echoed")

    second = app.hu("daemon", str(ini), "--bind", f"unix:{app.root}/other.sock", text=True)
    assert second.returncode == 1 and f"already running with pid {daemon.proc.pid}" in second.stderr

    ini.write_text(INI.format(sock=sock, pidfile=pidfile)
                   .replace("[process:gone]\ncmd = sleep 1000\n", "[process:new]\ncmd = sleep 1000\nnumprocesses = 2\n")
                   .replace("[process:edit]\ncmd = sleep 1000", "[process:edit]\ncmd = sleep 2000"))
    os.kill(daemon.proc.pid, signal.SIGHUP)
    after = wait_for(lambda: {"new.1", "new.2"} <= set(r := _ps(app, sock)) and "gone.1" not in r
                     and r["edit.1"]["os_pid"] != rows["edit.1"]["os_pid"] and r, what="reload applied")
    assert after["keep.1"]["os_pid"] == rows["keep.1"]["os_pid"], "an untouched template keeps its process"
    assert after["Quoted.1"]["os_pid"] == rows["Quoted.1"]["os_pid"]

    assert daemon.stop() == 0
    assert not pidfile.exists() and not sock.exists()
    assert "reload: added new, removed gone, updated edit" in daemon.output()


def test_daemon_quit_errors_and_defaults(app):
    bad = app.root / "bad.ini"
    bad.write_text("[process:web]\ncmd = true\nnumprocesses = many\n")
    result = app.hu("daemon", "-c", str(bad), text=True)
    assert result.returncode == 1
    assert result.stderr == f"hu: {bad}: [process:web] numprocesses: must be a whole number, got 'many'\n"
    bad.write_text("[process:web]\ncmd = true\nnumprocesses = -1\n")
    assert "[process:web] numprocesses: must be a whole number >= 0" in app.hu("daemon", str(bad), text=True).stderr
    bad.write_text("[process:web]\ncmd = true\ncolour = red\n")
    assert "[process:web] colour: unknown key" in app.hu("daemon", str(bad), text=True).stderr
    assert "needs --allow-remote" in app.hu("daemon", "--bind", "tcp://0.0.0.0:0", text=True).stderr

    ini = app.write("ok.ini", "[process:crash]\ncmd = /bin/sh -c 'sleep 0.2; exit 3'\nflapping = off\n")
    daemon = app.start("daemon", str(ini), "--bind", f"unix:{app.sock}", sock=app.sock)
    # the daemon's default restart policy is "always"
    wait_for(lambda: _ps(app, daemon.sock).get("crash.1", {}).get("restarts", 0) >= 1, what="a restart")
    assert app.hu("quit", sock=daemon.sock, text=True).returncode == 0
    assert daemon.proc.wait(15) == 0


def test_hu_wait_waits_for_a_daemon_that_has_not_bound_its_socket_yet(app):
    # Regression (docs/gafferd.rst's example): `hu daemon ... &` then `hu wait` at once failed
    # with "no hu is running" while the daemon was still starting.
    waiting = app.popen("wait", "--socket", str(app.sock), "--timeout", "30")
    time.sleep(0.5)
    assert waiting.poll() is None  # still waiting through the time nothing answered
    app.daemon(ini="[process:web]\ncmd = sleep 1000\n")
    assert waiting.wait(30) == 0, waiting.stderr.read()


def test_hu_wait_with_nothing_to_wait_for_gives_up_at_its_timeout(app):
    result = app.hu("wait", "--socket", str(app.sock), "--timeout", "0.5", text=True)
    assert result.returncode == 1 and "no hu is running" in result.stderr, result.stderr


def test_hu_wait_in_an_app_root_where_nothing_runs_says_so_instead_of_waiting_out_its_timeout(app):
    # Review finding: after hu wait learnt to wait for a hu still binding its socket, a wrong
    # directory meant a silent wait of 60 s. In an app root it waits only while a hu holds (or
    # may be about to take) the app's lock.
    app.write("Procfile", "web: sleep 60\n")
    started = time.monotonic()
    result = app.hu("wait", "--timeout", "60", text=True, timeout=30)
    assert result.returncode == 1 and "no hu is running" in result.stderr, result.stderr
    assert time.monotonic() - started < 30
