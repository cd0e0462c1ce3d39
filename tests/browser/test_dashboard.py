"""The dashboard page as a person uses it: the table, the log, the sparklines, the buttons."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import Dash
from tests.kit.wait import wait_for

NONE = "\u2013"  # what the page shows for no value (an en dash)


def rows(page: Any) -> dict[str, dict[str, str]]:
    """The table as text: instance name -> column label -> cell text."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#procs tbody tr')].map(tr =>
        [tr.dataset.name, Object.fromEntries([...tr.cells].map(td => [td.dataset.label, td.textContent.trim()]))]))""")


def pid_of(page: Any, name: str) -> str:
    return rows(page).get(name, {}).get("PID", "")


def test_the_table_matches_hu_ps_json(page: Any, dash: Dash) -> None:
    wait_for(lambda: set(rows(page)) == {"web.1", "worker.1"}, 10, "one row per instance")
    table = rows(page)
    for row in dash.ps():
        cells = table[row["name"]]
        assert cells["State"] == row["state"] == "RUNNING"
        assert cells["PID"] == str(row["os_pid"])
        assert cells["Restarts"] == str(row["restarts"])
        assert cells["Ready"] == {None: NONE, True: "yes", False: "no"}[row["ready"]]
    # the state is text in a cell of its own
    assert page.locator('#procs tbody tr[data-name="web.1"] td[data-label="State"]').inner_text() == "RUNNING"


def test_a_log_line_appears_live(page: Any) -> None:
    log = page.locator("#log")
    wait_for(lambda: re.search(r"tick (\d+)", log.inner_text()), 10, "the ring buffer shown on load")
    first = max(int(n) for n in re.findall(r"tick (\d+)", log.inner_text()))
    wait_for(lambda: max(int(n) for n in re.findall(r"tick (\d+)", log.inner_text())) >= first + 3, 10,
             "new lines arriving while the page is open")
    assert "web.1" in log.inner_text()


def test_the_log_follows_one_process_and_filters(page: Any) -> None:
    page.select_option("#log-name", "worker.1")
    wait_for(lambda: "tick" not in page.locator("#log").inner_text(), 10, "only worker.1's lines (it says nothing)")
    page.select_option("#log-name", "")
    wait_for(lambda: "tick" in page.locator("#log").inner_text(), 10, "every process again")
    page.fill("#log-filter", "tick 1")
    lines = page.locator("#log .ln").all_inner_texts()
    assert lines and all("tick 1" in line for line in lines)


def test_the_sparklines_grow(page: Any) -> None:
    cpu = page.locator('#procs tbody tr[data-name="web.1"] td[data-label="CPU, last 5 min"] svg')
    mem = page.locator('#procs tbody tr[data-name="web.1"] td[data-label="Memory, last 5 min"] svg')
    start = int(cpu.get_attribute("data-points") or 0)
    wait_for(lambda: int(cpu.get_attribute("data-points") or 0) >= start + 2, 10, "two new CPU points")
    assert int(mem.get_attribute("data-points") or 0) >= 2
    for graph in (cpu, mem):
        box = graph.bounding_box()
        assert box["width"] >= 30 and box["width"] > box["height"], box
        assert graph.evaluate("svg => svg.closest('button') === null")


def test_restart_gives_a_new_pid(page: Any, dash: Dash) -> None:
    before = pid_of(page, "web.1")
    page.get_by_role("button", name="Restart web.1", exact=True).click()
    wait_for(lambda: pid_of(page, "web.1") not in ("", NONE, before), 15, "web.1 with a new pid")
    after = pid_of(page, "web.1")
    wait_for(lambda: [str(r["os_pid"]) for r in dash.ps() if r["name"] == "web.1"] == [after], 15, "hu ps agrees")
    wait_for(lambda: f"web.1 started (pid={after})" in page.locator("#events").inner_text(), 15,
             "the restart in the events")


def test_scale_up_and_down(page: Any, dash: Dash) -> None:
    page.get_by_role("button", name="Scale web up", exact=True).click()
    wait_for(lambda: rows(page).get("web.2", {}).get("State") == "RUNNING", 15, "web.2 running")
    assert {r["name"] for r in dash.ps()} >= {"web.1", "web.2"}
    page.get_by_role("button", name="Scale web down", exact=True).click()
    wait_for(lambda: "web.2" not in rows(page), 15, "web.2 gone")
    assert "web.2" not in {r["name"] for r in dash.ps()}


def test_stop_and_start(page: Any, dash: Dash) -> None:
    page.get_by_role("button", name="Stop web.1", exact=True).click()
    wait_for(lambda: "web.1" not in {r["name"] for r in dash.ps() if r["state"] == "RUNNING"}, 15, "web.1 stopped")
    wait_for(lambda: "web.1 stopped" in page.locator("#events").inner_text(), 10, "the stop in the events")
    page.get_by_role("button", name="Start web", exact=True).click()
    wait_for(lambda: rows(page).get("web.1", {}).get("State") == "RUNNING", 15, "web.1 running again")


def test_an_unexpected_exit_is_an_event_as_it_happens(page: Any, dash: Dash) -> None:
    import os
    import signal

    pid = int(pid_of(page, "worker.1"))
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: "worker.1 exited with signal SIGKILL" in page.locator("#events").inner_text(), 10,
             "the exit in the events")
    assert page.locator("#events li.bad").count() >= 1


def test_every_button_has_an_accessible_name(page: Any) -> None:
    buttons = page.get_by_role("button")
    assert buttons.count() >= 8
    names = [b.evaluate("b => b.getAttribute('aria-label') || b.textContent.trim()") for b in buttons.all()]
    assert all(names), names
    for name in ("Restart web.1", "Stop web.1", "Start web", "Scale web up", "Scale web down", "Restart worker.1"):
        assert page.get_by_role("button", name=name, exact=True).count() == 1, name


def test_the_page_makes_no_request_outside_its_origin(chromium: Any, dash: Dash) -> None:
    context = chromium.new_context()
    page = context.new_page()
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(dash.url)
        page.locator("#procs tbody tr").first.wait_for()
        page.wait_for_timeout(1500)
        origin = dash.base.rstrip("/")
        ws = origin.replace("http://", "ws://", 1)
        assert seen and all(url.startswith((origin + "/", ws + "/")) for url in seen), seen
        assert errors == []  # no CSP violation (no inline script), no script error
    finally:
        context.close()


def test_the_token_becomes_a_strict_httponly_cookie_and_leaves_the_address_bar(page: Any, dash: Dash) -> None:
    assert page.url == dash.base
    [cookie] = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert cookie["value"] == dash.token


def test_the_page_fits_a_phone(chromium: Any, dash: Dash) -> None:
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(dash.url)
        page.locator("#procs tbody tr").first.wait_for()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        restart = page.get_by_role("button", name="Restart web.1", exact=True)
        box = restart.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 24
    finally:
        context.close()


FLOOD = """\
import sys, time
line = b"flood " + b"x" * 40 + b"\\n"
block = line * 2000
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    sys.stdout.buffer.write(block)
sys.stdout.flush()
time.sleep(600)
"""


def test_the_log_pane_stays_bounded_and_says_what_it_skipped(chromium: Any, app: Any) -> None:
    from tests.browser.conftest import start_dash

    app.write("flood.py", FLOOD)
    dash = start_dash(app, procfile="flood: python3 flood.py 4\n")
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(dash.url)
        status = page.locator("#log-status")
        wait_for(lambda: re.search(r"[\d,]+ lines skipped", status.inner_text()), 15, "'N lines skipped'")
        page.wait_for_timeout(4000)  # the flood ends; every line the page was sent is in
        assert "keeps the last 2,000" in status.inner_text()
        kept = int(re.match(r"([\d,]+) lines", status.inner_text()).group(1).replace(",", ""))
        assert 1000 < kept <= 2000
        assert page.locator("#log .ln").count() <= 60  # only the rows in view are in the page
        page.locator("#log").evaluate("box => { box.scrollTop = 0; }")
        wait_for(lambda: not page.locator("#log-follow").is_checked(), 5, "scrolling up to stop following")
        page.fill("#log-filter", "no line has this")  # the skip notes stay, between the lines that match
        wait_for(lambda: page.locator("#log .ln.skip").count() > 0, 5, "the skip notes in the pane")
        assert re.search(r"[\d,]+ lines skipped", page.locator("#log .ln.skip").first.inner_text())
    finally:
        context.close()
