"""A real ``hu daemon`` from an ini: control commands, SIGHUP reload, pidfile, quoting."""

from __future__ import annotations

import json
import os
import signal

from e2ekit import hu, wait_for

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


def _ps(sock):
    result = hu("ps", "--json", sock=sock)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_daemon_reload_keeps_untouched_processes(tmp_path, short_dir, spawn):
    sock, pidfile, ini = short_dir / "hu.sock", short_dir / "d.pid", tmp_path / "gafferd.ini"
    ini.write_text(INI.format(sock=sock, pidfile=pidfile))
    daemon = spawn(["daemon", str(ini)], cwd=tmp_path)
    rows = wait_for(lambda: len(r := _ps(sock)) == 4 and all(x["os_pid"] for x in r.values()) and r, what="4 up")
    assert int(pidfile.read_text()) == daemon.proc.pid

    # %, $, :, = and case survive the ini, exactly as written
    line = wait_for(lambda: hu("logs", "Quoted", sock=sock).stdout, what="Quoted output")
    assert line.rstrip().endswith("| [a%b$c:d=e] [100%% $HOME]")
    assert hu("send", "Quoted.1", "echo back", sock=sock).returncode == 0
    wait_for(lambda: "| echo back" in hu("logs", "Quoted", sock=sock).stdout, what="stdin echoed")

    second = hu("daemon", str(ini), "--bind", f"unix:{short_dir}/other.sock")
    assert second.returncode == 1 and f"already running with pid {daemon.proc.pid}" in second.stderr

    ini.write_text(INI.format(sock=sock, pidfile=pidfile)
                   .replace("[process:gone]\ncmd = sleep 1000\n", "[process:new]\ncmd = sleep 1000\nnumprocesses = 2\n")
                   .replace("[process:edit]\ncmd = sleep 1000", "[process:edit]\ncmd = sleep 2000"))
    os.kill(daemon.proc.pid, signal.SIGHUP)
    after = wait_for(lambda: {"new.1", "new.2"} <= set(r := _ps(sock)) and "gone.1" not in r
                     and r["edit.1"]["os_pid"] != rows["edit.1"]["os_pid"] and r, what="reload applied")
    assert after["keep.1"]["os_pid"] == rows["keep.1"]["os_pid"], "an untouched template keeps its process"
    assert after["Quoted.1"]["os_pid"] == rows["Quoted.1"]["os_pid"]

    assert daemon.stop() == 0
    assert not pidfile.exists() and not sock.exists()
    assert "reload: added new, removed gone, updated edit" in daemon.output()


def test_daemon_quit_errors_and_defaults(tmp_path, short_dir, spawn):
    bad = tmp_path / "bad.ini"
    bad.write_text("[process:web]\ncmd = true\nnumprocesses = many\n")
    result = hu("daemon", "-c", str(bad))
    assert result.returncode == 1
    assert result.stderr == f"hu: {bad}: [process:web] numprocesses: must be a whole number, got 'many'\n"
    bad.write_text("[process:web]\ncmd = true\nnumprocesses = -1\n")
    assert "[process:web] numprocesses: must be a whole number >= 0" in hu("daemon", str(bad)).stderr
    bad.write_text("[process:web]\ncmd = true\ncolour = red\n")
    assert "[process:web] colour: unknown key" in hu("daemon", str(bad)).stderr
    assert "needs --allow-remote" in hu("daemon", "--bind", "tcp://0.0.0.0:0").stderr

    ini = tmp_path / "ok.ini"
    ini.write_text("[process:crash]\ncmd = /bin/sh -c 'sleep 0.2; exit 3'\nflapping = off\n")
    daemon = spawn(["daemon", str(ini), "--bind", f"unix:{short_dir}/hu.sock"], cwd=tmp_path)
    # the daemon's default restart policy is "always"
    wait_for(lambda: _ps(daemon.sock).get("crash.1", {}).get("restarts", 0) >= 1, what="a restart")
    assert hu("quit", sock=daemon.sock).returncode == 0
    assert daemon.proc.wait(15) == 0
