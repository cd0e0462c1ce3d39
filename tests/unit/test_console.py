"""The console on its own: the Printer's prefixes and colours, the writer's backpressure, and
the colour precedence (DESIGN.md "Output"). A real pipe stands in for the terminal; the
processes are stand-ins with the three attributes the printer reads."""

from __future__ import annotations

import asyncio
import fcntl
import os
import termios
from dataclasses import dataclass, field
from typing import Any

import pytest

from honcho_uv.cli.options import want_colour
from honcho_uv.console.messages import describe_event
from honcho_uv.console.printer import COLOURS, Printer
from honcho_uv.console.writer import PIPE_SIZE_BYTES, ConsoleWriter
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
        writer.write([b"x" * 3_000_000], source=1)  # more than the (1 MiB) pipe holds: the thread blocks
        writer.write([b"y" * 10], source=2)
        assert calls == [(1, True)]  # at once, and only for the noisy source
        got = b""
        while len(got) < 3_000_010:
            await asyncio.sleep(0.001)
            got += _read_all(r)
        await until(lambda: (1, False) in calls, 5)
        writer.close()
        assert got == b"x" * 3_000_000 + b"y" * 10  # in order, nothing lost
    finally:
        os.close(r)
        os.close(w)


async def test_a_broken_output_releases_every_held_process() -> None:
    # Regression (review): after EPIPE (hu start | head) the processes paused for backpressure
    # stayed paused, so a child writing during its stop blocked until SIGKILL.
    r, w = os.pipe()
    calls: list[tuple[Any, bool]] = []
    broken = asyncio.Event()
    writer = ConsoleWriter(w, asyncio.get_running_loop(), on_pressure=lambda s, on: calls.append((s, on)),
                           on_broken=broken.set, high=100_000, low=10_000)
    try:
        writer.write([b"x" * 3_000_000], source=1)  # the thread blocks on the full pipe
        assert calls == [(1, True)]
        os.close(r)  # the reader goes away: the blocked write fails with EPIPE
        await asyncio.wait_for(broken.wait(), 5)
        await until(lambda: (1, False) in calls, 5)
        writer.close()
    finally:
        os.close(w)


def _pipe_max_size() -> int:
    with open("/proc/sys/fs/pipe-max-size") as f:
        return int(f.read())


@pytest.mark.skipif(_pipe_max_size() < PIPE_SIZE_BYTES, reason="this kernel caps pipes below 1 MiB")
async def test_the_writer_enlarges_a_pipe_it_writes_to() -> None:
    # Regression (throughput, issue 14): at the default 64 KiB the console thread and the reader
    # woke once per 64 KiB, twice as many wake-ups as with 1 MiB in the benchmark.
    r, w = os.pipe()
    try:
        writer = ConsoleWriter(w, asyncio.get_running_loop(), on_pressure=lambda s, on: None,
                               on_broken=lambda: None)
        assert fcntl.fcntl(r, fcntl.F_GETPIPE_SZ) == PIPE_SIZE_BYTES
        writer.close()
    finally:
        os.close(r)
        os.close(w)


async def test_the_writer_thread_is_woken_once_per_loop_iteration_not_once_per_chunk() -> None:
    # Regression (pty throughput, issue 11): a pty gives 4 KiB per read, and waking the console
    # thread for each chunk cost two context switches and a GIL handoff per 4 KiB (25,000 a
    # run of the benchmark). The chunks of one iteration now wake it once, after them all.
    r, w = os.pipe()
    try:
        writer = ConsoleWriter(w, asyncio.get_running_loop(), on_pressure=lambda s, on: None,
                               on_broken=lambda: None)
        kicks = 0
        kick = writer._kick

        def counting_kick() -> None:
            nonlocal kicks
            kicks += 1
            kick()

        writer._kick = counting_kick  # type: ignore[method-assign]
        for i in range(50):
            writer.write([b"line %d\n" % i], source=1)
        await asyncio.sleep(0)
        writer.write([b"next iteration\n"], source=1)
        await asyncio.sleep(0.05)
        assert kicks == 2
        writer.close()
        assert os.read(r, 1 << 16) == b"".join(b"line %d\n" % i for i in range(50)) + b"next iteration\n"
    finally:
        os.close(r)
        os.close(w)


async def test_what_queues_while_the_writer_is_busy_goes_out_in_one_write_call() -> None:
    # Regression guard: batched writes. 300 prefixed chunks (900 pieces) queued behind a
    # blocked write are one writev, not a call per chunk, and keep their order.
    r, w = os.pipe()
    try:
        writer = ConsoleWriter(w, asyncio.get_running_loop(), on_pressure=lambda s, on: None,
                               on_broken=lambda: None, high=1 << 30)
        writer.write([b"x" * (2 * PIPE_SIZE_BYTES)], source=1)  # more than the pipe holds: blocks
        await until(lambda: _pipe_full(r), 5)  # the thread is inside that write
        expected = b"x" * (2 * PIPE_SIZE_BYTES)
        for i in range(300):
            pieces = [b"12:00:00 w1.1 | ", b"line %d\nw1.1 | more" % i, b"\n"]
            writer.write(pieces, source=1)
            expected += b"".join(pieces)
        got = b""
        while len(got) < len(expected):
            await asyncio.sleep(0.001)
            got += _read_all(r)
        writer.close()
        assert got == expected
        assert writer.writes <= 2
    finally:
        os.close(r)
        os.close(w)


def _pipe_full(r: int) -> bool:
    buffered = bytearray(4)
    fcntl.ioctl(r, termios.FIONREAD, buffered)  # bytes waiting in the pipe
    return int.from_bytes(buffered, "little") >= fcntl.fcntl(r, fcntl.F_GETPIPE_SZ)


async def test_partial_writes_keep_every_byte_in_order() -> None:
    # A non-blocking descriptor (someone else's doing) takes part of a writev at a time.
    r, w = os.pipe()
    try:
        writer = ConsoleWriter(w, asyncio.get_running_loop(), on_pressure=lambda s, on: None,
                               on_broken=lambda: None, high=1 << 30)
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
        os.set_blocking(w, False)
        expected = b""
        for i in range(2000):
            chunk = b"%05d" % i * (i % 97 + 1)  # odd sizes, so writes end inside chunks
            writer.write([chunk, b"\n"], source=1)
            expected += chunk + b"\n"
        got = b""
        while len(got) < len(expected):
            await asyncio.sleep(0.001)
            got += _read_all(r)
        writer.close()
        assert got == expected
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


def test_regression_the_exit_of_a_process_that_never_started_has_no_line() -> None:
    # A spawn error printed twice: its own line, then "bad.1 exited with code 127".
    assert describe_event("exit", {"instance": "bad.1", "os_pid": None, "exit_status": 127}) is None
    assert describe_event("spawn_error", {"error": "bad.1: cannot start '/x': No such file"}) == \
        "bad.1: cannot start '/x': No such file"


async def _stopped_by(name: str, cmd: str, **settings: Any) -> tuple[int, list[str]]:
    """Run ``ok`` (sleeps) and *name* under the foreground rules, the exit policy saying its
    line through the Printer's ``exit_line``: hu's exit code and the console's lines."""
    from honcho_uv.core.foreground import Foreground

    r, w = os.pipe()
    try:
        console = Printer(w, timestamps=False)
        manager = Manager(subreaper=False)
        foreground = Foreground(asyncio.get_running_loop(), console.system, say_exit=console.exit_line)
        foreground.attach(manager)
        manager.start(applications=[console])
        manager.add_process("ok", "sleep 30", restart="never", graceful_timeout=2)
        manager.add_process(name, cmd, restart="never", **settings)
        code = await foreground.done
        await manager.wait_stopped()
        return code, _read_all(r).decode().splitlines()
    finally:
        os.close(r)
        os.close(w)


async def test_regression_a_spawn_error_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    # It was said three times: a log record on stderr, the spawn_error line and an exit line.
    with caplog.at_level("DEBUG"):
        code, lines = await _stopped_by("bad", "/nonexistent/prog")
    assert code == 127
    assert [line for line in lines if "bad.1" in line] == [
        "system | bad.1: cannot start '/nonexistent/prog': No such file or directory: stopping all processes"]
    assert not [r for r in caplog.records if r.levelno >= 30], "the event is the report, not a log record too"


async def test_regression_a_stopping_exit_is_one_system_line() -> None:
    # "a.1 exited with code 3", then "a.1 exited with code 3: stopping all processes".
    code, lines = await _stopped_by("a", "sh", args=["-c", "exit 3"])
    assert code == 3
    assert [line for line in lines if line.startswith("system | a.1 ") and "started" not in line] == \
        ["system | a.1 exited with code 3: stopping all processes"], lines
    assert "system | ok.1 stopped (signal SIGTERM)" in lines


async def test_regression_without_a_prefix_system_lines_go_to_the_error_fd() -> None:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        printer = Printer(out_w, prefix=False, err_fd=err_w)
        manager = Manager(subreaper=False)
        manager.start(applications=[printer])
        printer.output(StandIn(1, "web.1"), "stdout", b"raw\n")
        printer.system("web.1 started (pid=1)")
        manager.stop()
        await manager.wait_stopped()
        assert _read_all(out_r) == b"raw\n"
        assert _read_all(err_r) == b"web.1 started (pid=1)\n"
    finally:
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)
