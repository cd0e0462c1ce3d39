"""The console on its own: the Printer's prefixes and colours, the writer's backpressure, and
the colour precedence (DESIGN.md "Output"). A real pipe stands in for the terminal; the
processes are stand-ins with the three attributes the printer reads."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import pytest

from honcho_uv.cli.options import want_colour
from honcho_uv.console.messages import describe_event
from honcho_uv.console.printer import COLOURS, Printer
from honcho_uv.console.writer import ConsoleWriter
from honcho_uv.core.manager import Manager
from tests.kit.wait import until


@dataclass
class _Template:
    name: str


@dataclass
class StandIn:
    """What the Printer reads of a Process: id, name, template.name; and the pause calls."""

    id: int
    name: str
    template: _Template = field(init=False)
    paused: int = 0

    def __post_init__(self) -> None:
        self.template = _Template(self.name.rsplit(".", 1)[0])

    def pause_reading(self) -> None:
        self.paused += 1

    def resume_reading(self) -> None:
        self.paused -= 1


def _read_all(fd: int) -> bytes:
    os.set_blocking(fd, False)
    out = b""
    try:
        while chunk := os.read(fd, 65536):
            out += chunk
    except BlockingIOError:
        pass
    return out


async def _printed(feed: Any, **options: Any) -> bytes:
    """Run a Printer on a pipe through *feed(printer)* and return what it wrote."""
    r, w = os.pipe()
    try:
        printer = Printer(w, **options)
        manager = Manager(subreaper=False)
        manager.start(applications=[printer])
        feed(printer)
        manager.stop()
        await manager.wait_stopped()
        return _read_all(r)
    finally:
        os.close(r)
        os.close(w)


async def test_lines_are_prefixed_padded_and_never_merged_across_processes() -> None:
    web, worker = StandIn(1, "web.1"), StandIn(2, "worker.1")

    def feed(printer: Printer) -> None:
        printer.output(web, "out", b"GET / 200\nGET /a")
        printer.output(worker, "out", b"job 1 start")
        printer.output(web, "out", b" 404\n")
        printer.output(worker, "out", b"ed\njob 2\n")

    out = await _printed(feed, timestamps=False, width=8)
    assert out.splitlines() == [b"web.1    | GET / 200", b"web.1    | GET /a 404", b"worker.1 | job 1 started",
                                b"worker.1 | job 2"]


async def test_a_partial_last_line_is_flushed_at_stop() -> None:
    out = await _printed(lambda p: p.output(StandIn(1, "web.1"), "out", b"no newline"), timestamps=False)
    assert out == b"web.1  | no newline\n"


async def test_colours_cycle_per_type_and_system_lines_are_bold() -> None:
    def feed(printer: Printer) -> None:
        for pid, name in enumerate(["web.1", "web.2", "worker.1", "clock.1"], 1):
            printer.output(StandIn(pid, name), "out", b"x\n")
        printer.system("hello")

    lines = (await _printed(feed, timestamps=False, colour=True)).splitlines()
    codes = [line.split(b"m", 1)[0].removeprefix(b"\x1b[").decode() for line in lines]
    assert codes[:4] == [COLOURS[0], COLOURS[0], COLOURS[1], COLOURS[2]]  # per type, not per instance
    assert codes[4] == "1" and lines[4].endswith(b"\x1b[0mhello")
    assert all(line.endswith(b"x") for line in lines[:4])  # the body is untouched, after the reset


async def test_quiet_types_print_nothing_of_their_output() -> None:
    def feed(printer: Printer) -> None:
        printer.output(StandIn(1, "web.1"), "out", b"hidden\n")
        printer.output(StandIn(2, "worker.1"), "out", b"shown\n")

    assert await _printed(feed, timestamps=False, quiet=["web"]) == b"worker.1 | shown\n"


async def test_without_prefix_lines_are_raw() -> None:
    out = await _printed(lambda p: p.output(StandIn(1, "web.1"), "out", b"\x1b[31mred\x1b[0m\n"), prefix=False)
    assert out == b"\x1b[31mred\x1b[0m\n"


async def test_timestamps_are_hh_mm_ss() -> None:
    out = await _printed(lambda p: p.output(StandIn(1, "web.1"), "out", b"x\n"))
    stamp, rest = out.split(b" ", 1)
    assert len(stamp) == 8 and stamp[2:3] == b":" and rest == b"web.1  | x\n"


async def test_the_writer_holds_back_one_source_over_its_high_water_mark_only() -> None:
    r, w = os.pipe()
    calls: list[tuple[Any, bool]] = []
    try:
        loop = asyncio.get_running_loop()
        writer = ConsoleWriter(w, loop, on_pressure=lambda s, on: calls.append((s, on)), on_broken=lambda: None,
                               high=100_000, low=10_000)
        writer.write([b"x" * 400_000], source=1)  # more than the pipe holds: the thread blocks
        writer.write([b"y" * 10], source=2)
        assert calls == [(1, True)]  # at once, and only for the noisy source
        got = b""
        while len(got) < 400_010:
            await asyncio.sleep(0.001)
            got += _read_all(r)
        await until(lambda: (1, False) in calls, 5)
        writer.close()
        assert got == b"x" * 400_000 + b"y" * 10  # in order, nothing lost
    finally:
        os.close(r)
        os.close(w)


async def test_the_writer_reports_a_reader_that_went_away() -> None:
    r, w = os.pipe()
    os.close(r)
    try:
        broken = asyncio.get_running_loop().create_future()
        writer = ConsoleWriter(w, asyncio.get_running_loop(), on_pressure=lambda s, on: None,
                               on_broken=lambda: broken.set_result(True))
        writer.write([b"into the void\n"], source=1)
        assert await asyncio.wait_for(broken, 5)
        writer.write([b"more\n"], source=1)  # ignored once broken, never raises
        writer.close()
        assert writer.broken
    finally:
        os.close(w)


class _Tty:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("flag", "env", "tty", "expected"),
    [
        (True, {"NO_COLOR": "1"}, False, True),  # --color beats everything
        (False, {"FORCE_COLOR": "1"}, True, False),  # --no-color too
        (None, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),  # NO_COLOR beats FORCE_COLOR
        (None, {"FORCE_COLOR": "1"}, False, True),  # FORCE_COLOR beats "not a TTY"
        (None, {"FORCE_COLOR": "0"}, False, False),  # FORCE_COLOR=0 is not forcing
        (None, {}, True, True),  # then: a TTY gets colour
        (None, {}, False, False),  # a pipe does not
    ],
)
def test_colour_precedence(flag: bool | None, env: dict[str, str], tty: bool, expected: bool) -> None:
    assert want_colour(flag, _Tty(tty), env) is expected


@pytest.mark.parametrize(
    ("event", "msg", "line"),
    [
        ("spawn", {"instance": "web.1", "os_pid": 42}, "web.1 started (pid=42)"),
        ("exit", {"instance": "web.1", "exit_status": 3, "requested": False}, "web.1 exited with code 3"),
        ("exit", {"instance": "web.1", "term_signal": 15, "requested": True}, "web.1 stopped (signal SIGTERM)"),
        ("escalate", {"message": "web.1 did not stop"}, "web.1 did not stop"),
        ("create", {"name": "web"}, None),
    ],
)
def test_events_become_system_lines(event: str, msg: dict[str, Any], line: str | None) -> None:
    assert describe_event(event, msg) == line
