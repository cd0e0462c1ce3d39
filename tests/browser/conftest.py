"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright.

Playwright's own browser download does not work here: ``.ci/run`` installs the ``chromium``
package and every test launches ``/usr/bin/chromium``. Without it the tests are skipped on a
developer's machine and fail in CI (``CI`` set), so a missing install step cannot pass green.

Fixtures: ``chromium`` (one browser per module), ``dash`` (a ``hu start --ui`` in a throwaway
app directory, with its URL), ``page`` (a signed-in page at 1280x800).
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import pytest

from tests.kit.hu import AppDir, Running
from tests.kit.wait import wait_for

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
#: A web process that says something every 0.2 s, and a quiet worker.
PROCFILE = "web: python3 -u ticker.py 0.2\nworker: sleep 600\n"
TICKER = """\
import itertools, sys, time
for i in itertools.count():
    print("tick", i, flush=True)
    time.sleep(float(sys.argv[1]))
"""


@dataclass
class Dash:
    """A running ``hu start --ui``: its URL (with the token), its base address, the hu."""

    url: str
    base: str
    hu: Running
    app: AppDir

    @property
    def token(self) -> str:
        return self.url.partition("?token=")[2]

    def ps(self) -> list[dict[str, Any]]:
        import json

        result = self.app.hu("ps", "--json", sock=self.hu.sock, text=True)
        assert result.returncode == 0, result.stderr
        return list(json.loads(result.stdout))

    def request(self, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
                body: bytes | None = None) -> tuple[int, str, dict[str, str]]:
        """(status, body, headers) of a request to the dashboard, redirects not followed."""

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        opener = urllib.request.build_opener(NoRedirect)
        request = urllib.request.Request(self.base.rstrip("/") + path, data=body, method=method,
                                         headers=headers or {})
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, response.read().decode(errors="replace"), dict(response.headers)
        except HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)


def start_dash(app: AppDir, *args: str, procfile: str = PROCFILE) -> Dash:
    app.write("Procfile", procfile)
    app.write("ticker.py", TICKER)
    running = app.start("start", "--ui", "127.0.0.1:0", *args, sock=app.sock, ready="ping")
    found = wait_for(lambda: re.search(r"dashboard on (http://\S+)", running.output()), 15, "the dashboard's URL")
    url = found.group(1)
    return Dash(url=url, base=url.partition("?")[0], hu=running, app=app)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must apt-get install chromium")
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def dash(app: AppDir) -> Dash:
    return start_dash(app, "--restart", "all")  # an unexpected exit restarts, not ends, the run


@pytest.fixture
def page(chromium: Any, dash: Dash) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(dash.url)
    page.locator("#procs tbody tr").first.wait_for()
    try:
        yield page
    finally:
        context.close()
