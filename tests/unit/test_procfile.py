"""Procfile parsing, table by table (DESIGN.md "Procfile")."""

from __future__ import annotations

import pytest

from honcho_uv.errors import InvalidOption, ProcfileError
from honcho_uv.procfile import check_procfile, load_procfile, parse_procfile, split_instance_name, validate_name

VALID = [
    # the plain form
    ("web: python app.py", [("web", "python app.py", 1)]),
    # no space after the colon (honcho and foreman accept it)
    ("web:python app.py", [("web", "python app.py", 1)]),
    # spaces and a tab around the colon
    ("web \t:\t python app.py", [("web", "python app.py", 1)]),
    # trailing whitespace is not part of the command
    ("web: run   \t", [("web", "run", 1)]),
    # CRLF line endings
    ("web: a\r\nworker: b\r\n", [("web", "a", 1), ("worker", "b", 2)]),
    # comments, indented comments and blank lines are skipped but counted
    ("# c\n\n   # indented\nweb: a\n\nclock: c", [("web", "a", 4), ("clock", "c", 6)]),
    # the command keeps its own colons, quotes and '#'
    ("web: sh -c 'echo a:b # not a comment'", [("web", "sh -c 'echo a:b # not a comment'", 1)]),
    # names with digits, '_' and '-'
    ("a_b-9: x", [("a_b-9", "x", 1)]),
    # leading indentation of an entry
    ("   web: x", [("web", "x", 1)]),
    # file order is kept (it fixes the port slots)
    ("z: 1\na: 2\nm: 3", [("z", "1", 1), ("a", "2", 2), ("m", "3", 3)]),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_procfiles(text: str, expected: list[tuple[str, str, int]]) -> None:
    parsed = parse_procfile(text, "Procfile")
    assert [(e.name, e.command, e.lineno) for e in parsed.entries] == expected


INVALID = [
    # a dot is not allowed in a type name (it separates the instance number)
    ("web.1: x", 1, "invalid process name"),
    # spaces inside the name
    ("my web: x", 1, "invalid process name"),
    # non-ASCII name
    ("wéb: x", 1, "invalid process name"),
    # no colon at all
    ("web python app.py", 1, "expected 'name: command'"),
    # a colon but no name
    (": python", 1, "expected 'name: command'"),
    # empty command
    ("web:", 1, "has no command"),
    # whitespace-only command
    ("web:   \t", 1, "has no command"),
    # the bad line is the third, after a comment and a good line
    ("# c\nweb: a\n???", 3, "expected 'name: command'"),
    # duplicate: reported on the second line, naming the first
    ("web: a\nworker: b\nweb: c", 3, "first on line 1"),
]


@pytest.mark.parametrize(("text", "lineno", "fragment"), INVALID)
def test_invalid_lines_name_file_and_line(text: str, lineno: int, fragment: str) -> None:
    with pytest.raises(ProcfileError) as info:
        parse_procfile(text, "app/Procfile")
    assert info.value.lineno == lineno
    assert info.value.path == "app/Procfile"
    assert str(info.value).startswith(f"app/Procfile:{lineno}: ")
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "",  # an empty file
        "\n\n  \n",  # only blank lines
        "# just a comment\r\n",  # only comments
    ],
)
def test_empty_procfile_is_an_error(text: str) -> None:
    with pytest.raises(ProcfileError, match="no processes defined"):
        parse_procfile(text, "Procfile")


def test_duplicate_names_both_line_numbers() -> None:
    with pytest.raises(ProcfileError) as info:
        parse_procfile("web: a\n\nweb: b\n", "Procfile")
    assert info.value.lineno == 3
    assert "line 1" in str(info.value)
    assert str(info.value).startswith("Procfile:3:")


def test_check_procfile_collects_every_problem() -> None:
    text = "web: a\nbad line\nweb: again\nworker:\nok: fine\nx.y: z\n"
    procfile, problems = check_procfile(text, "P")
    assert [p.lineno for p in problems] == [2, 3, 4, 6]
    assert procfile.names == ["web", "ok"]
    assert all(str(p).startswith(f"P:{p.lineno}:") for p in problems)


def test_procfile_lookup_helpers() -> None:
    procfile = parse_procfile("web: a\nworker: b\n")
    assert "web" in procfile and "nope" not in procfile
    assert procfile.index("worker") == 1
    assert procfile.get("worker").command == "b"
    with pytest.raises(KeyError):
        procfile.get("nope")


def test_load_procfile_missing_and_directory(tmp_path) -> None:
    with pytest.raises(ProcfileError, match="does not exist"):
        load_procfile(tmp_path / "Procfile")
    with pytest.raises(ProcfileError, match="is not a file"):
        load_procfile(tmp_path)
    (tmp_path / "Procfile").write_bytes(b"web: echo \xff\r\n")
    assert load_procfile(tmp_path / "Procfile").get("web").command == "echo \ufffd"


SPLIT = [
    # a bare type name
    ("web", ("web", None)),
    # an instance
    ("web.2", ("web", 2)),
    # multi-digit instance numbers
    ("worker-x_1.12", ("worker-x_1", 12)),
]


@pytest.mark.parametrize(("name", "expected"), SPLIT)
def test_split_instance_name(name: str, expected: tuple[str, int | None]) -> None:
    assert split_instance_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "web.0",  # instances are numbered from 1
        "web.01",  # no leading zero
        "web.",  # a dot without a number
        ".1",  # a number without a name
        "web.1.2",  # two suffixes
        "../etc",  # path-like
        "web 1",  # space
        "",  # empty
        "web.1234567",  # absurdly large instance number
    ],
)
def test_split_instance_name_rejects(name: str) -> None:
    with pytest.raises(InvalidOption):
        split_instance_name(name)


def test_validate_name_non_string() -> None:
    with pytest.raises(InvalidOption, match="invalid name"):
        validate_name(3)  # type: ignore[arg-type]
    assert validate_name("ok-1") == "ok-1"
