"""Regressions found by running hu on real Procfiles and .env files from public repositories.

Each test is named for what broke (issue 9, "what real Procfiles and .env files showed").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from honcho_uv.errors import EnvFileError, InvalidOption, ProcfileError
from honcho_uv.export import build_context, get_exporter
from honcho_uv.procfile.app import load_app
from honcho_uv.procfile.dotenv import parse_env_text, read_env_text
from honcho_uv.procfile.formation import resolve_formation
from honcho_uv.procfile.parse import load_procfile, parse_procfile


def _app(tmp_path: Path, procfile: str = "web: run\n", **files: str) -> Path:
    (tmp_path / "Procfile").write_text(procfile)
    for name, text in files.items():
        (tmp_path / name.replace("_", ".")).write_text(text)
    return tmp_path


def test_empty_port_in_dotenv_counts_as_unset(tmp_path: Path) -> None:
    # `PORT=` is a common template line; it made check, start and every export fail.
    app = load_app(_app(tmp_path, _env="PORT=\n"), os_environ={})
    assert app.port_base == 5000


def test_empty_port_in_the_environment_counts_as_unset(tmp_path: Path) -> None:
    assert load_app(_app(tmp_path), os_environ={"PORT": ""}).port_base == 5000


def test_bad_port_names_the_env_file_and_line_that_set_it(tmp_path: Path) -> None:
    # The error named the *last* -e file, not the one that set PORT.
    (tmp_path / "Procfile").write_text("web: run\n")
    (tmp_path / "a.env").write_text("A=1\nPORT=http\n")
    (tmp_path / "b.env").write_text("B=2\n")
    with pytest.raises(InvalidOption) as info:
        load_app(tmp_path, env_files=["a.env,b.env"], os_environ={})
    assert "a.env:2: PORT" in str(info.value) and "b.env" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "shown"),
    [
        ("A=1\n\nKEY = 'x';\n", 3, "KEY = 'x';"),  # a stray semicolon after a quoted value
        ("foo: bar\n  - yaml\n", 1, "foo: bar"),  # YAML pasted into .env
        ("\n\n\nA=1\nB='unterminated\nC=2\n", 5, "B='unterminated"),  # blank lines counted right
    ],
)
def test_unparseable_dotenv_line_is_an_error_naming_file_and_line(text: str, line: int, shown: str) -> None:
    # python-dotenv only warned (no file name, a line number off by one) and dropped the key.
    with pytest.raises(EnvFileError) as info:
        parse_env_text(text, "app/.env")
    assert str(info.value).startswith(f"app/.env:{line}: cannot parse {shown!r}")


def test_unparseable_dotenv_line_makes_load_app_refuse(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match=r"\.env:1: cannot parse"):
        load_app(_app(tmp_path, _env="KEY = 'x';\n"), os_environ={})


def test_dotenv_values_remember_their_file_and_line() -> None:
    values = read_env_text("# c\nA=1\n\nB=${A}2\n", "x.env")
    assert values.values == {"A": "1", "B": "12"}
    assert values.origin("A") == "x.env:2" and values.origin("B") == "x.env:4"


def test_dotenv_parser_internals_still_exist() -> None:
    # procfile/dotenv.py uses python-dotenv's parser, not its documented API (to keep
    # single-quoted values literal): fail loudly here if a release moves it.
    from dotenv.parser import parse_stream
    from dotenv.variables import parse_variables

    assert callable(parse_stream) and callable(parse_variables)
    assert parse_env_text("A=1\nB='${A}'\nC=\"${A}\"\n") == {"A": "1", "B": "${A}", "C": "1"}


def test_utf16_procfile_is_one_clear_error(tmp_path: Path) -> None:
    # Five "invalid process name" lines of garbage before.
    path = tmp_path / "Procfile"
    path.write_bytes("web: run\nworker: go\n".encode("utf-16"))
    with pytest.raises(ProcfileError) as info:
        load_procfile(path, "Procfile")
    assert str(info.value) == "Procfile: is UTF-16 encoded; save it as UTF-8"
    assert len(info.value.problems) == 1


def test_utf8_bom_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = tmp_path / "Procfile"
    path.write_bytes(b"\xef\xbb\xbfweb: run\n")
    assert load_procfile(path).names == ["web"]


@pytest.mark.parametrize(
    ("line", "warning"),
    [
        ("web : run", "Procfile:1: warning: space before ':' (honcho and foreman ignore this line)"),
        ("web:run", "Procfile:1: warning: no space after ':' (Heroku ignores this line)"),
        ("web: run", None),
        ("web:\trun", None),
    ],
)
def test_lines_other_readers_treat_differently_are_warned_about(line: str, warning: str | None) -> None:
    procfile = parse_procfile(line + "\n")
    assert procfile.names == ["web"]  # hu still runs it
    assert list(procfile.warnings) == ([warning] if warning else [])


def test_variable_name_that_is_not_an_identifier_is_a_warning_with_file_and_line(tmp_path: Path) -> None:
    app = load_app(_app(tmp_path, _env="A=1\napp.db.host=h\n"), os_environ={})
    assert app.env["app.db.host"] == "h"
    assert any(w.endswith(".env:2: warning: 'app.db.host' is not a shell identifier; shells and some export "
                          "formats cannot use it") for w in app.warnings)


@pytest.mark.parametrize(("fmt", "carries"), [("compose", True), ("kubernetes", True), ("launchd", True),
                                              ("systemd", False), ("supervisord", False), ("runit", False),
                                              ("gafferd", False)])
def test_formats_that_can_carry_an_odd_variable_name_do_and_the_others_name_file_and_line(
        tmp_path: Path, fmt: str, carries: bool) -> None:
    app = load_app(_app(tmp_path, _env="app.db.host=h\n"), os_environ={})
    ctx = build_context(app, fmt, tmp_path / "out", resolve_formation(app.procfile), app_name="t", image="img:1")
    if carries:
        files = get_exporter(fmt)(ctx).files()
        assert any("app.db.host" in f.content for f in files)
    else:
        with pytest.raises(InvalidOption) as info:
            get_exporter(fmt)(ctx)
        assert str(info.value).startswith(str(tmp_path / ".env") + ":1: variable name 'app.db.host'")
