"""Issue 15 (docs audit of docs/export.rst): the exports do what the page says.

* gafferd puts ``exec`` in front of a single simple command, as every other format does;
* ``--timeout`` is float seconds, written as a decimal where the format takes one and rounded
  up where it takes whole seconds only;
* a flag a format does not use is refused, naming the flag and the format, and the table of
  docs/export.rst says which format uses which flag;
* the page says that exported units run with the supervisor's PATH.
"""

from __future__ import annotations

import configparser
import math
import re
from pathlib import Path

import pytest

from honcho_uv.errors import InvalidOption
from honcho_uv.export import get_exporter
from honcho_uv.export.durations import check_timeout, decimal_seconds
from honcho_uv.procfile.shellcmd import exec_command
from tests.kit.export_app import PROCFILE, golden_context, render

DOC = Path(__file__).resolve().parents[3] / "docs" / "export.rst"
FORMATS = ("systemd", "gafferd", "supervisord", "runit", "launchd", "compose", "kubernetes")
CHECKED_FLAGS = ("--user", "--timeout", "--log", "--env-file", "--user-units", "--image", "--listen")


def _options(fmt: str, **more: object) -> dict[str, object]:
    return {"image": "registry.example/tricky:1"} | more if fmt in ("compose", "kubernetes") else more


def _text(fmt: str, **options: object) -> str:
    return "\n".join(f.content for f in render(golden_context(fmt, **_options(fmt, **options))))


def test_regression_gafferd_export_execs_the_command() -> None:
    ini = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    ini.optionxform = str  # type: ignore[assignment,method-assign]
    ini.read_string(_text("gafferd"))
    commands = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in PROCFILE.splitlines()}
    for name, command in commands.items():
        section = ini[f"process:{name}"]
        assert section["shell"] == "true"
        assert section["cmd"] == exec_command(command), name
    # The simple commands are exec'd; the compound one runs as written (exec would skip its rest).
    assert ini["process:web"]["cmd"] == "exec python3 -m http.server $PORT"
    assert ini["process:clock"]["cmd"].startswith("exec echo ")
    assert ini["process:worker"]["cmd"] == commands["worker"]


def test_regression_gafferd_exec_matches_the_other_formats() -> None:
    """The same decision as systemd's ExecStart (and hu start's), not one of its own."""
    systemd = _text("systemd")
    gafferd = _text("gafferd")
    assert "ExecStart=/bin/sh -c 'exec python3 -m http.server $$PORT'" in systemd
    assert "cmd = exec python3 -m http.server $PORT" in gafferd


@pytest.mark.parametrize(("fmt", "line"), [
    ("systemd", "TimeoutStopSec=2.5\n"),
    ("gafferd", "graceful_timeout = 2.5\n"),
    ("compose", "stop_grace_period: 2.5s\n"),
    ("supervisord", "stopwaitsecs=3\n"),  # whole seconds only: rounded up
    ("launchd", "<key>ExitTimeOut</key>\n\t<integer>3</integer>\n"),
    ("kubernetes", "terminationGracePeriodSeconds: 3\n"),
])
def test_regression_export_timeout_takes_float_seconds(fmt: str, line: str) -> None:
    assert line in _text(fmt, timeout=2.5)


@pytest.mark.parametrize(("fmt", "line"), [
    ("systemd", "TimeoutStopSec=5\n"), ("gafferd", "graceful_timeout = 5\n"), ("compose", "stop_grace_period: 5s\n"),
    ("supervisord", "stopwaitsecs=5\n"), ("launchd", "\t<integer>5</integer>\n"),
    ("kubernetes", "terminationGracePeriodSeconds: 5\n"),
])
def test_regression_export_timeout_default_and_whole_values_stay_integers(fmt: str, line: str) -> None:
    assert line in _text(fmt)
    assert line in _text(fmt, timeout=5.0)


@pytest.mark.parametrize(("given", "kept"), [
    (None, 5), (5, 5), (5.0, 5), (2.5, 2.5), (1.1, 1.1), (0.0001, 0.001), (2.0004, 2.001), (1_000_000, 1_000_000),
])
def test_regression_export_timeout_is_kept_to_the_millisecond_rounded_up(given: float | None, kept: float) -> None:
    value = check_timeout(given, "--timeout")
    assert value == kept
    assert isinstance(value, int) == float(kept).is_integer()


@pytest.mark.parametrize("bad", [0, 0.0, -1, -0.5, math.nan, math.inf, -math.inf, 1_000_000.5, 10**9])
def test_regression_export_timeout_out_of_range_is_refused(bad: float) -> None:
    with pytest.raises(InvalidOption) as info:
        golden_context("systemd", timeout=bad)
    assert str(info.value).startswith("--timeout: must be a number of seconds above 0")


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "5"), (5.0, "5"), (2.5, "2.5"), (0.001, "0.001"), (1_000_000, "1000000"), (123456.789, "123456.789"),
    (1e-05, "0.00001"), (1e16, "10000000000000000"),
])
def test_regression_seconds_are_written_without_an_exponent(seconds: float, text: str) -> None:
    assert decimal_seconds(seconds) == text


def _doc_flag_table() -> dict[str, set[str]]:
    """``{format: flags}`` from the table under "A flag the format does not use" in docs/export.rst."""
    lines = DOC.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["flag", "systemd"])
    header = lines[start].split()[1:]
    table: dict[str, set[str]] = {fmt: set() for fmt in header}
    for line in lines[start + 1:]:
        cells = line.split()
        if not cells:
            break
        flag = cells[0].split("/")[-1]
        assert len(cells) == len(header) + 1, line
        for fmt, cell in zip(header, cells[1:], strict=True):
            if cell == "yes":
                table[fmt].add(flag)
    return table


def test_regression_doc_flag_table_is_what_the_formats_accept() -> None:
    table = _doc_flag_table()
    assert sorted(table) == sorted(FORMATS)
    for fmt in FORMATS:
        assert set(get_exporter(fmt).flags) == table[fmt], fmt


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("flag", CHECKED_FLAGS)
def test_regression_flags_a_format_does_not_use_are_refused(fmt: str, flag: str) -> None:
    cls = get_exporter(fmt)
    if flag in cls.flags:
        cls.refuse_unused([flag])
        return
    with pytest.raises(InvalidOption) as info:
        cls.refuse_unused([flag])
    message = str(info.value)
    assert message.startswith(f"{flag}: the {fmt} format does not use "), message
    assert "\n" not in message


def test_regression_display_flags_are_used_by_no_format() -> None:
    for fmt in FORMATS:
        with pytest.raises(InvalidOption, match=rf"^--no-prefix: the {fmt} format does not use --no-prefix$"):
            get_exporter(fmt).refuse_unused(["--no-prefix"])


def test_regression_user_units_through_the_api_are_refused_by_formats_without_them() -> None:
    with pytest.raises(InvalidOption, match=r"^--user-units: the gafferd format does not use user units$"):
        render(golden_context("gafferd", user_units=True))


def test_regression_docs_say_exported_units_run_with_the_supervisors_path() -> None:
    text = " ".join(DOC.read_text().split())
    assert "PATH is the supervisor's, not yours." in text
    assert re.search(r"absolute path .*set ``PATH`` in the env file", text)
    assert "The ``PORT`` of the shell that runs ``hu export`` is never used" in text
