"""hu.toml from the command line: hu check, the release phase, hu wait, hu ps, hu run --with."""

from __future__ import annotations

import json
import re

from tests.kit.procs import PY

LISTEN = (f"{PY} -u -c \"import os,socket,time; time.sleep(0.3); s=socket.socket(); "
          "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', int(os.environ['PORT']))); "
          "s.listen(); print('up', flush=True); time.sleep(60)\"")


def test_hu_check_reports_hu_toml_mistakes_with_file_and_line(app):
    app.write("Procfile", "web: sleep 5\ndb: sleep 5\n")
    app.write("hu.toml", "[processes.web]\ndepends_on = [\"db\"]\n\n[processes.db]\ndepends_on = [\"web\"]\n")
    result = app.hu("check", text=True)
    assert result.returncode == 1
    assert result.stderr == "hu: hu.toml:2: processes.web.depends_on: dependency cycle: web -> db -> web\n"
    app.write("hu.toml", "[processes.web]\nready = \"tcp:nope\"\n")
    assert "hu.toml:2: processes.web.ready: expected tcp:PORT" in app.hu("check", text=True).stderr
    start = app.hu("start", text=True)
    assert start.returncode == 1 and "hu.toml:2" in start.stderr and start.stdout == ""  # nothing started


def test_the_release_phase_runs_first_and_a_failure_starts_nothing_else(app):
    app.write("Procfile", "release: echo migrating; exit 3\nweb: echo web started; sleep 5\n")
    result = app.hu("start", "--no-timestamps", text=True)
    assert result.returncode == 3
    assert "web is waiting for release succeeded" in result.stdout
    assert "web started" not in result.stdout and "web.1 started" not in result.stdout
    app.write("Procfile", "release: echo migrating\nweb: echo web started $PS\n")
    result = app.hu("start", "--no-timestamps", text=True)
    lines = result.stdout.splitlines()
    assert lines.index("release.1 | migrating") < lines.index("web.1     | web started web.1")
    assert result.returncode == 0  # the release phase's exit 0 is success, and web's is the end


def test_a_dependency_that_fails_is_one_line_on_stderr_and_a_nonzero_exit(app):
    app.write("Procfile", "db: sh -c 'sleep 0.2; exit 4'\nweb: echo never\n")
    app.write("hu.toml", "[processes.db]\nready = \"tcp\"\n[processes.web]\ndepends_on = { db = \"ready\" }\n")
    result = app.hu("start", text=True)
    assert result.returncode == 4
    assert result.stderr == "hu: db.1 exited with code 4 before it was ready\n"
    assert "never" not in result.stdout


def test_hu_wait_ps_ready_and_exit_codes(app):
    app.write("Procfile", f"db: {LISTEN}\nweb: sleep 60\nslow: sleep 60\n")
    app.write("hu.toml", "[processes.db]\nready = \"tcp\"\n[processes.web]\ndepends_on = [\"db\"]\n"
                         "[processes.slow]\nready = \"log:never\"\nready_timeout = 3\n")
    app.start("start", "--can-die", "slow", sock=app.sock, ready="socket")  # slow's failure must not stop all
    assert app.hu("wait", "db", "web", "--timeout", "20", sock=app.sock).returncode == 0
    ps = json.loads(app.hu("ps", "--json", sock=app.sock).stdout)
    ready = {row["name"]: row["ready"] for row in ps}
    assert ready["db.1"] is True and ready["web.1"] is None and ready["slow.1"] is False
    table = app.hu("ps", text=True, sock=app.sock).stdout
    assert re.search(r"^db\.1\s+RUNNING\s+yes\s", table, re.M) and re.search(r"^slow\.1\s+RUNNING\s+no\s", table, re.M)
    waited = app.hu("wait", "slow", "--timeout", "0.5", text=True, sock=app.sock)
    assert waited.returncode == 1 and waited.stderr == "hu: not ready after 0.5s: slow\n"
    failed = app.hu("wait", "slow", "--timeout", "20", text=True, sock=app.sock)  # its ready_timeout (3 s) comes first
    assert failed.returncode == 2 and "slow.1 not ready within 3s (log:never)" in failed.stderr


def test_hu_run_with_waits_for_its_own_defaults_and_fails_a_dead_process(app):
    app.write("Procfile", f"web: {LISTEN}\nbroken: sh -c 'exit 9'\n")
    ok = app.hu("run", "--with", "web", "--", "sh", "-c", "echo ran with $PORT", text=True)
    assert ok.returncode == 0 and "ran with" in ok.stdout and "web.1 is ready (tcp)" in ok.stdout
    bad = app.hu("run", "--with", "broken", "--", "true", text=True)
    assert bad.returncode != 0 and "broken.1 exited with code 9 before it was ready" in bad.stderr
    timed = app.hu("run", "--with", "web", "--ready", "web=regex:nothing", "--ready-timeout", "1", "--", "true",
                   text=True)
    assert timed.returncode != 0 and "web.1 not ready within 1s (log:nothing)" in timed.stderr
