"""The dashboard's command line: --ui on hu start and hu daemon, hu ui, and their errors."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from urllib.error import HTTPError

from tests.kit.wait import wait_for

PROCFILE = "web: sleep 600\n"


def url_in(running) -> str:
    return wait_for(lambda: re.search(r"dashboard on (http://\S+)", running.output()), 15, "the URL").group(1)


def status_of(url: str, **headers: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status
    except HTTPError as exc:
        return exc.code


def test_hu_ui_prints_the_url_that_hu_start_printed(app):
    app.write("Procfile", PROCFILE)
    running = app.start("start", "--ui", "127.0.0.1:0", sock=app.sock)
    url = url_in(running)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]{32}", url)
    result = app.hu("ui", sock=app.sock, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == url + "\n" and result.stderr == ""
    assert status_of(url.partition("?")[0] + "api/state", Authorization=f"Bearer {url.partition('=')[2]}") == 200


def test_each_start_has_a_fresh_token(app):
    app.write("Procfile", PROCFILE)
    first = app.start("start", "--ui", "0", sock=app.sock)
    url = url_in(first)
    first.stop()
    second = app.start("start", "--ui", "0", sock=app.sock)
    assert url_in(second).partition("?")[2] != url.partition("?")[2]


def test_hu_ui_without_a_dashboard_says_how_to_get_one(app):
    app.write("Procfile", PROCFILE)
    app.start("start", sock=app.sock)
    result = app.hu("ui", sock=app.sock, text=True)
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.strip() == "hu: this hu serves no dashboard: start it with --ui PORT"


def test_hu_ui_with_nothing_running_is_one_line(app):
    result = app.hu("ui", sock=app.sock, text=True)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert "no hu is running" in result.stderr


def test_ui_address_errors_are_one_line_naming_the_flag(app):
    app.write("Procfile", PROCFILE)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        cases = {
            ("--ui", "nonsense"): "--ui 'nonsense': expected [HOST:]PORT",
            ("--ui", "192.0.2.1:8123"): "refusing to serve the dashboard on a non-loopback address without --allow-remote",
            ("--ui", f"127.0.0.1:{port}"): "--ui: cannot listen on tcp://127.0.0.1:",
            ("--allow-remote",): "--allow-remote",
        }
        for args, message in cases.items():
            result = app.hu("start", *args, sock=app.sock, text=True)
            assert result.returncode != 0, args
            assert len(result.stderr.splitlines()) == 1 and message in result.stderr, (args, result.stderr)
            assert "Traceback" not in result.stderr
    finally:
        taken.close()
    app.assert_no_survivors()


def test_the_daemon_serves_the_dashboard_and_hu_ui_finds_it_on_its_socket(app):
    running = app.daemon("--ui", "127.0.0.1:0", ini="[process:web]\ncmd = sleep 600\n", tcp=True)
    result = app.hu("ui", "--socket", str(app.sock), text=True)
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.partition("?token=")[2] not in running.output()  # the log names the address, not the token
    assert re.search(r"dashboard on http://127\.0\.0\.1:\d+/ ", running.output())
    token = url.partition("?token=")[2]
    request = urllib.request.Request(url.partition("?")[0] + "api/state", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert [row["name"] for row in json.load(response)["rows"]] == ["web.1"]
    # over TCP the API never gives the URL away, even with a valid API token
    host, port = running.tcp
    assert status_of(f"http://{host}:{port}/ui") == 403


def test_regression_a_busy_ui_port_with_detach_is_named_not_lost(app):
    # hu start -D --ui on a taken port said only "the background hu exited with code 1".
    app.write("Procfile", PROCFILE)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        result = app.hu("start", "-D", "--ui", f"127.0.0.1:{taken.getsockname()[1]}", sock=app.sock, text=True)
    finally:
        taken.close()
    assert result.returncode == 1
    assert result.stderr.startswith("hu: --ui: cannot listen on tcp://127.0.0.1:") and "in use" in result.stderr
    app.assert_no_survivors()


def test_a_detached_hu_serves_its_dashboard(app):
    app.write("Procfile", PROCFILE)
    result = app.hu("start", "-D", "--ui", "127.0.0.1:0", sock=app.sock, text=True)
    assert result.returncode == 0, result.stderr
    url = app.hu("ui", sock=app.sock, text=True).stdout.strip()
    assert status_of(url.partition("?")[0] + "api/state", Authorization=f"Bearer {url.partition('=')[2]}") == 200
    assert app.hu("down", sock=app.sock).returncode == 0
