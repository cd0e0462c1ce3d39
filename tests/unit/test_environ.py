""".env files, formations, the app root, instance numbering and the PORT rule (DESIGN.md "Env")."""

from __future__ import annotations

from pathlib import Path

import pytest

from honcho_uv.errors import EnvFileError, InvalidOption, ProcfileError
from honcho_uv.procfile import parse_procfile
from honcho_uv.procfile.app import expand_instances, load_app
from honcho_uv.procfile.dotenv import load_env_files, parse_env_text, split_env_option
from honcho_uv.procfile.formation import instance_env, instance_port, parse_formation, parse_port, resolve_formation

ENV_TEXT = [
    # plain KEY=value
    ("A=1", {"A": "1"}),
    # double quotes, with an escaped newline
    ('A="x\\ny"', {"A": "x\ny"}),
    # single quotes stay literal (no expansion, no escapes)
    ("B=2\nA='${B}\\n'", {"B": "2", "A": "${B}\\n"}),
    # export prefix
    ("export A=1", {"A": "1"}),
    # a real multi-line double-quoted value
    ('A="line1\nline2"', {"A": "line1\nline2"}),
    # ${VAR} from a line above
    ("B=bee\nA=${B}-x", {"B": "bee", "A": "bee-x"}),
    # ${VAR:-default} when unset
    ("A=${HU_TEST_UNSET_VAR:-dflt}", {"A": "dflt"}),
    # comments and blank lines; an inline comment after a space
    ("# c\n\nA=1 # note\n", {"A": "1"}),
    # a key with no '=' is skipped, not an empty string
    ("LONELY\nA=1", {"A": "1"}),
    # an empty value is kept as empty
    ("A=", {"A": ""}),
    # spaces around '='
    ("A = 1", {"A": "1"}),
    # CRLF
    ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
]


@pytest.mark.parametrize(("text", "expected"), ENV_TEXT)
def test_parse_env_text(text: str, expected: dict[str, str]) -> None:
    assert parse_env_text(text) == expected


def test_env_expands_from_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HU_TEST_FROM_OS", "os-value")
    assert parse_env_text("A=${HU_TEST_FROM_OS}/x") == {"A": "os-value/x"}


def test_load_env_files_later_files_win(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text("A=1\nB=1\n")
    (tmp_path / "b.env").write_text("B=2\n")
    assert load_env_files([tmp_path / "a.env", tmp_path / "b.env"]) == {"A": "1", "B": "2"}


def test_missing_default_env_fine_missing_named_error(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: x\n")
    app = load_app(tmp_path, os_environ={})  # no .env: fine
    assert app.env == {}
    with pytest.raises(EnvFileError) as info:
        load_app(tmp_path, env_files=["missing.env"], os_environ={})
    assert info.value.path.endswith("missing.env")
    assert "missing.env" in str(info.value)


def test_env_file_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "d.env").mkdir()
    with pytest.raises(EnvFileError, match="not a regular file"):
        load_env_files([tmp_path / "d.env"])


def test_split_env_option() -> None:
    assert split_env_option(["a.env,b.env", " c.env ", ""]) == ["a.env", "b.env", "c.env"]
    assert split_env_option(None) == []


FORMATIONS = [
    # the full example from DESIGN.md
    ("web=3,worker=0,all=1", {"web": 3, "worker": 0, "all": 1}),
    # spaces and empty items are tolerated
    (" web = 2 , ,worker=1", {"web": 2, "worker": 1}),
    # a list of specs (repeated flag)
    (["web=1", "worker=2"], {"web": 1, "worker": 2}),
    # nothing given
    (None, {}),
    # the last mention wins
    ("web=1,web=4", {"web": 4}),
]


@pytest.mark.parametrize(("spec", "expected"), FORMATIONS)
def test_parse_formation(spec, expected) -> None:
    assert parse_formation(spec) == expected


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("web", "expected NAME=COUNT"),  # no '='
        ("web=-1", "whole number"),  # negative
        ("web=1.5", "whole number"),  # fraction
        ("web=x", "whole number"),  # not a number
        ("web=", "whole number"),  # empty count
        ("web=٣", "whole number"),  # a non-ASCII digit
        ("we b=1", "invalid name"),  # bad name
        ("=1", "invalid name"),  # empty name
    ],
)
def test_parse_formation_errors(spec: str, fragment: str) -> None:
    with pytest.raises(InvalidOption) as info:
        parse_formation(spec, "-c")
    assert info.value.option == "-c"
    assert fragment in str(info.value)


PROCFILE = parse_procfile("web: a\nworker: b\nclock: c\n", "Procfile")


@pytest.mark.parametrize(
    ("formation", "only", "exclude", "expected"),
    [
        # default: one of each
        ({}, (), (), {"web": 1, "worker": 1, "clock": 1}),
        # all=N sets the default, named types override it
        ({"all": 2, "web": 3}, (), (), {"web": 3, "worker": 2, "clock": 2}),
        # only limits the run
        ({}, ("worker",), (), {"web": 0, "worker": 1, "clock": 0}),
        # exclude sets types to 0
        ({"web": 2}, (), ("web",), {"web": 0, "worker": 1, "clock": 1}),
        # zero in the formation
        ({"clock": 0}, (), (), {"web": 1, "worker": 1, "clock": 0}),
    ],
)
def test_resolve_formation(formation, only, exclude, expected) -> None:
    counts = resolve_formation(PROCFILE, formation, only=only, exclude=exclude)
    assert counts == expected
    assert list(counts) == ["web", "worker", "clock"]  # Procfile order


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"formation": {"nope": 1}}, "--concurrency"),  # unknown in the formation
        ({"only": ["nope"]}, "process"),  # unknown in only
        ({"exclude": ["nope"]}, "--exclude"),  # unknown in exclude
    ],
)
def test_resolve_formation_unknown_names(kwargs, option) -> None:
    with pytest.raises(InvalidOption) as info:
        resolve_formation(PROCFILE, **kwargs)
    assert info.value.option == option
    assert "'nope'" in str(info.value) and "known: web, worker, clock" in str(info.value)


def test_port_rule() -> None:
    assert instance_port(5000, 0, 1) == 5000  # web.1
    assert instance_port(5000, 0, 2) == 5001  # web.2
    assert instance_port(5000, 1, 1) == 5100  # worker.1
    assert instance_env("web", 2, 5001) == {"PS": "web.2", "HU_PROCESS_NAME": "web.2", "PORT": "5001"}
    assert "PORT" not in instance_env("web", 1, None)


def _app(tmp_path: Path, procfile: str = "web: a\nworker: b\n", dotenv: str | None = None) -> Path:
    (tmp_path / "Procfile").write_text(procfile)
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    return tmp_path


def test_ports_do_not_move_for_a_subset(tmp_path: Path) -> None:
    app = load_app(_app(tmp_path), os_environ={})
    full = {i.name: i.port for i in expand_instances(app, {"web": 2, "worker": 1})}
    assert full == {"web.1": 5000, "web.2": 5001, "worker.1": 5100}
    subset = expand_instances(app, {"web": 0, "worker": 1})
    assert [(i.name, i.port) for i in subset] == [("worker.1", 5100)]
    assert subset[0].env["PORT"] == "5100" and subset[0].env["PS"] == "worker.1"


@pytest.mark.parametrize(
    ("flag", "dotenv", "os_port", "expected"),
    [
        (6000, "PORT=7000\n", "8000", 6000),  # -p beats everything
        (None, "PORT=7000\n", "8000", 7000),  # .env PORT beats the OS PORT
        (None, "", "8000", 8000),  # the OS PORT beats the default
        (None, "", None, 5000),  # the default
        ("6100", None, None, 6100),  # -p as a string
    ],
)
def test_port_precedence(tmp_path: Path, flag, dotenv, os_port, expected) -> None:
    environ = {} if os_port is None else {"PORT": os_port}
    app = load_app(_app(tmp_path, dotenv=dotenv), port=flag, os_environ=environ)
    assert app.port_base == expected


@pytest.mark.parametrize(
    ("kwargs", "dotenv", "option"),
    [
        ({"port": "http"}, None, "--port"),  # not a number
        ({"port": 70000}, None, "--port"),  # out of range
        ({}, "PORT=0\n", ".env:1: PORT"),  # a bad PORT in .env names the file and line
    ],
)
def test_bad_ports(tmp_path: Path, kwargs, dotenv, option) -> None:
    with pytest.raises(InvalidOption) as info:
        load_app(_app(tmp_path, dotenv=dotenv), os_environ={}, **kwargs)
    assert info.value.option.endswith(option)


def test_parse_port_bounds() -> None:
    assert parse_port(" 1 ", "-p") == 1 and parse_port(65535, "-p") == 65535


def test_procfile_from_dotenv_and_flag_wins(tmp_path: Path) -> None:
    _app(tmp_path, dotenv="PROCFILE=Procfile.dev\n")
    (tmp_path / "Procfile.dev").write_text("dev: x\n")
    assert load_app(tmp_path, os_environ={}).procfile.names == ["dev"]
    assert load_app(tmp_path, procfile="Procfile", os_environ={}).procfile.names == ["web", "worker"]


def test_procfile_from_os_environ(tmp_path: Path) -> None:
    _app(tmp_path)
    (tmp_path / "P2").write_text("p2: x\n")
    assert load_app(tmp_path, os_environ={"PROCFILE": "P2"}).procfile.names == ["p2"]


def test_app_env_is_only_the_files(tmp_path: Path) -> None:
    _app(tmp_path, dotenv="A=1\n")
    app = load_app(tmp_path, os_environ={"SECRET": "x"})
    assert app.env == {"A": "1"}
    assert app.child_env({"SECRET": "x", "A": "0"}) == {"SECRET": "x", "A": "1"}
    assert app.name == tmp_path.name


def test_named_env_files_resolved_against_app_root(tmp_path: Path) -> None:
    _app(tmp_path, dotenv="A=default\n")
    (tmp_path / "one.env").write_text("A=1\nB=1\n")
    (tmp_path / "two.env").write_text("B=2\n")
    app = load_app(tmp_path, env_files=["one.env,two.env"], os_environ={})
    assert app.env == {"A": "1", "B": "2"}  # .env is not read when files are named


def test_app_root_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidOption, match="not a directory"):
        load_app(tmp_path / "nope", os_environ={})
    with pytest.raises(ProcfileError, match="does not exist"):
        load_app(tmp_path, os_environ={})


def test_regression_single_quoted_values_are_not_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    # python-dotenv's dotenv_values() expands ${VAR} even inside single quotes; shells, foreman
    # and docker compose keep them literal, and our docstring promised it.
    monkeypatch.setenv("HU_TEST_SECRET", "leaked")
    text = "A='p@ss${HU_TEST_SECRET}$x'\nexport B='${HU_TEST_SECRET}'\nC=\"${HU_TEST_SECRET}\"\n"
    assert parse_env_text(text) == {"A": "p@ss${HU_TEST_SECRET}$x", "B": "${HU_TEST_SECRET}", "C": "leaked"}
