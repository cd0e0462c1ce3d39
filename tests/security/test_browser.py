"""S-d / S04: DNS rebinding and cross-site requests: Host and Origin checked, no state change
over GET, mutations only with a JSON content type, never ``Access-Control-Allow-Origin: *``."""

from __future__ import annotations

from tests.kit.api import exchange, serve, status_of

MUTATING_ROUTES = ["/processes/web/_start", "/processes/web/_stop", "/processes/web/_restart",
                   "/processes/web/_scale", "/processes/web/_signal", "/pids/1/_signal", "/streams/1/stdin", "/_quit"]


async def test_host_origin_method_and_content_type(sock_dir):
    async with serve(sock_dir) as api:
        s, t = api.tcp, api.t
        for host in ("evil.example", "127.0.0.1.nip.io", "evil.example:80"):
            async with s.get(t("/ping"), headers={"Host": host}) as r:
                assert r.status == 403, host
        for host in ("localhost", "127.0.0.1:9", "[::1]:80"):
            async with s.get(t("/ping"), headers={"Host": host}) as r:
                assert r.status == 200, host
        async with s.post(t("/processes/web/_stop"), json={}, headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 403
        async with s.get(t("/ping"), headers={"Origin": "null"}) as r:
            assert r.status == 403
        async with s.get(t("/ping"), headers={"Origin": "http://localhost:3000"}) as r:
            assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers
        async with s.get(t("/processes/web/_restart")) as r:
            assert r.status == 405 and (await r.json())["error"] == "method_not_allowed"
        for ctype, body in (("text/plain", b"{}"), ("application/x-www-form-urlencoded", b"a=b")):
            async with s.post(t("/processes/web/_restart"), data=body, headers={"Content-Type": ctype}) as r:
                assert r.status == 415, ctype
        async with s.post(t("/_quit")) as r:
            assert r.status == 415, "a POST without a body still needs the JSON content type"


async def test_no_state_change_over_get_and_no_cors_grant(sock_dir):
    async with serve(sock_dir) as api:
        api.manager.add_process("web", "sleep 30")
        for path in MUTATING_ROUTES:
            for method in ("GET", "HEAD"):
                async with api.tcp.request(method, api.t(path)) as r:
                    assert r.status in (404, 405), (method, path, r.status)
                    assert "Access-Control-Allow-Origin" not in r.headers
        async with api.tcp.options(api.t("/processes/web/_stop"), headers={
                "Origin": "http://localhost:8000", "Access-Control-Request-Method": "POST"}) as r:
            assert r.status in (403, 404, 405) and "Access-Control-Allow-Origin" not in r.headers
        assert [p.name for p in api.manager.list("web")] == ["web.1"], "nothing was stopped"
        assert not api.manager.stopping


async def test_rebinding_hosts_are_refused_on_raw_requests(sock_dir):
    async with serve(sock_dir, unix=False) as api:
        for host in (b"Host: evil.example\r\n", b"Host: 127.0.0.1.nip.io\r\n", b"", b"Host: localhost.evil\r\n",
                     b"Host: 127.0.0.1@evil.example\r\n", b"Host: \r\n"):
            for version in (b"1.1", b"1.0"):
                response = await exchange(api.tcp_address, b"GET /processes HTTP/" + version + b"\r\n" + host
                                          + b"Connection: close\r\n\r\n", timeout=2)
                assert status_of(response) in (400, 403, 421), (host, version, response[:80])
        response = await exchange(api.tcp_address, b"POST /_quit HTTP/1.1\r\nHost: evil.example\r\n"
                                  b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", timeout=2)
        assert status_of(response) == 403 and not api.manager.stopping


async def test_cross_site_simple_requests_cannot_mutate(sock_dir):
    """What a web page can send without a preflight: form encodings and text/plain (415),
    and a body with no Content-Type at all; each also carries a foreign Origin (403)."""

    async with serve(sock_dir) as api:
        api.manager.add_process("web", "sleep 30")
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
            headers = {"Content-Type": ctype} if ctype else {}
            async with api.tcp.post(api.t("/processes/web/_stop"), data=b'{}', headers=headers) as r:
                assert r.status == 415, ctype
            async with api.tcp.post(api.t("/processes/web/_stop"), data=b'{}',
                                    headers={**headers, "Origin": "https://evil.example"}) as r:
                assert r.status == 403, ctype
        assert [p.name for p in api.manager.list("web")] == ["web.1"]
