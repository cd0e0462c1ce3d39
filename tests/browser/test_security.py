"""The dashboard's security model (docs/dashboard.rst): token or cookie on every request,
same Origin for state changes and the websocket, a CSP without inline script."""

from __future__ import annotations

import base64
import json
import os
import socket
from typing import Any

import pytest

from tests.browser.conftest import Dash
from tests.kit.wait import wait_for

PATHS = ["/", "/static/app.js", "/static/dashboard.css", "/favicon.ico", "/api/state", "/ws"]


def handshake(dash: Dash, headers: dict[str, str]) -> tuple[int, str]:
    """A websocket handshake on /ws with *headers*: (status, the whole answer as text)."""
    host, port = dash.base.removeprefix("http://").rstrip("/").split(":")
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET /ws HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", *(f"{k}: {v}" for k, v in headers.items())]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        if b"101" not in answer.split(b"\r\n", 1)[0]:
            sock.settimeout(1)
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except OSError:
                pass
    text = answer.decode(errors="replace")
    return int(text.split()[1]), text


@pytest.mark.parametrize("path", PATHS)
def test_without_the_token_every_request_gets_401_and_no_process_name(dash: Dash, path: str) -> None:
    status, body, headers = dash.request(path)
    assert status == 401
    assert "web" not in body and "worker" not in body
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_a_wrong_token_or_cookie_gets_401(dash: Dash) -> None:
    assert dash.request("/?token=nope")[0] == 401
    assert dash.request("/api/state", headers={"Cookie": f"hu_ui_{dash.base.rsplit(':', 1)[1].strip('/')}=nope"})[0] == 401
    assert dash.request("/api/state", headers={"Authorization": "Bearer nope"})[0] == 401


def test_the_websocket_is_refused_at_its_handshake_without_the_cookie(dash: Dash) -> None:
    status, text = handshake(dash, {"Origin": dash.base.rstrip("/")})
    assert status == 401
    assert "web" not in text


def cookie(dash: Dash) -> str:
    status, _, headers = dash.request(f"/?token={dash.token}")
    assert status == 303 and headers["Location"] == "/"
    set_cookie = headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Path=/" in set_cookie
    return set_cookie.split(";", 1)[0]


def post(dash: Dash, path: str, body: dict[str, Any], **headers: str) -> tuple[int, str, dict[str, str]]:
    return dash.request(path, method="POST", body=json.dumps(body).encode(),
                        headers={"Content-Type": "application/json", **headers})


def test_a_foreign_origin_gets_403(dash: Dash) -> None:
    jar = cookie(dash)
    status, _, _ = post(dash, "/api/scale", {"name": "web", "by": 1}, Cookie=jar, Origin="http://evil.example")
    assert status == 403
    assert post(dash, "/api/scale", {"name": "web", "by": 1}, Cookie=jar)[0] == 403  # no Origin at all
    assert handshake(dash, {"Cookie": jar, "Origin": "http://evil.example"})[0] == 403
    assert [r["name"] for r in dash.ps()].count("web.2") == 0


def test_a_same_origin_post_with_the_cookie_works_when_repeated(dash: Dash) -> None:
    jar = cookie(dash)
    origin = dash.base.rstrip("/")
    for _ in range(2):  # no one-time nonce
        status, body, _ = post(dash, "/api/scale", {"name": "web", "by": 1}, Cookie=jar, Origin=origin)
        assert status == 200, body
    wait_for(lambda: {"web.2", "web.3"} <= {r["name"] for r in dash.ps()}, 10, "web scaled to 3")
    assert handshake(dash, {"Cookie": jar, "Origin": origin})[0] == 101


def test_a_state_change_is_never_a_get(dash: Dash) -> None:
    status, _, _ = dash.request("/api/scale", headers={"Authorization": f"Bearer {dash.token}"})
    assert status in (404, 405)


def test_actions_answer_errors_as_json(dash: Dash) -> None:
    bearer = {"Authorization": f"Bearer {dash.token}"}
    status, body, _ = post(dash, "/api/restart", {"name": "nosuch.1"}, **bearer)
    assert status == 404 and json.loads(body)["error"] == "unknown_process"
    status, body, _ = post(dash, "/api/scale", {"name": "web", "by": "lots"}, **bearer)
    assert status == 400 and "by" in json.loads(body)["message"]
    status, _, _ = dash.request("/api/restart", method="POST", body=b"name=web", headers=bearer)
    assert status == 415


def test_a_foreign_host_header_gets_403(dash: Dash) -> None:
    status, _, _ = dash.request("/", headers={"Host": "attacker.example"})
    assert status == 403


def test_the_page_has_no_inline_script(dash: Dash) -> None:
    status, html, headers = dash.request("/", headers={"Authorization": f"Bearer {dash.token}"})
    assert status == 200
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "<script>" not in html and "onclick" not in html.lower() and "javascript:" not in html
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
