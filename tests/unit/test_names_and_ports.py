"""The procfile layer's side of the docs audit (issue 15): ports past 65535, unknown names,
nothing to run, every bad env line, NUL bytes, and where a missing Procfile was looked for."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from honcho_uv.errors import ConfigError, EnvFileError, InvalidOption, ProcfileError
from honcho_uv.procfile import check_procfile
from honcho_uv.procfile.app import check_ports, load_app
from honcho_uv.procfile.dotenv import env_file_problems, read_env_text
from honcho_uv.procfile.formation import check_type_names, resolve_formation
from honcho_uv.procfile.templates import with_dependencies


def _app(root: Path, procfile: str = "web: a\nworker: b\nclock: c\n", dotenv: str | None = None, **kw):
    (root / "Procfile").write_text(procfile)
    if dotenv is not None:
        (root / ".env").write_text(dotenv)
    return load_app(root, os_environ={}, **kw)


def test_ports_past_65535_name_the_first_instance_and_the_flag(tmp_path: Path) -> None:
    app = _app(tmp_path, port="65500")
    check_ports(app, {"web": 1})
    with pytest.raises(InvalidOption, match=r"^--port: worker\.1 would get port 65600 \(base 65500 \+ 100 \* 1"):
        check_ports(app, {"web": 1, "worker": 1, "clock": 0})
    with pytest.raises(InvalidOption, match=r"^--port: web\.37 would get port 65536"):
        check_ports(app, {"web": 40})


def test_port_origin_follows_the_base(tmp_path: Path) -> None:
    app = _app(tmp_path, dotenv="PORT=65500\n")
    assert app.port_origin().endswith(".env:1: PORT")
    (tmp_path / "hu.toml").write_text("[start]\nport = 65450\n")
    app = _app(tmp_path)
    replaced = dataclasses.replace(app, port_base=65450)  # as hu start applies [start] port
    assert replaced.port_origin().endswith("hu.toml: start.port")
    assert _app(tmp_path, port=6000).port_origin() == "--port"


def test_nothing_to_run_and_ports_are_checked_with_the_dependencies(tmp_path: Path) -> None:
    app = _app(tmp_path, port="65500")
    with pytest.raises(ConfigError, match=r"^nothing to run"):
        with_dependencies(app, resolve_formation(app.procfile, {"all": 0}))
    with pytest.raises(InvalidOption, match=r"^--port: clock\.1"):
        with_dependencies(app, resolve_formation(app.procfile, only=["clock"]))
    assert with_dependencies(app, resolve_formation(app.procfile, only=["web"])) == {"web": 1, "worker": 0, "clock": 0}


def test_unknown_type_names_the_flag_and_lists_the_known(tmp_path: Path) -> None:
    procfile = _app(tmp_path).procfile
    check_type_names(procfile, ["web", "all"], "--can-die")
    with pytest.raises(InvalidOption, match=r"^--can-die: no process type 'wrker' in .*\(known: web, worker, clock\)$"):
        check_type_names(procfile, ["web", "wrker"], "--can-die")
    with pytest.raises(InvalidOption, match=r"^--quiet: no process type 'all'"):
        check_type_names(procfile, ["all"], "--quiet", allow_all=False)
    with pytest.raises(InvalidOption, match=r"^--with: no process type 'db' .*\(known: web, worker, clock\)$"):
        resolve_formation(procfile, {"db": 1}, only=["db"], option="--with")


def test_every_bad_env_line_is_listed(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text('A=1\nnot valid\nB="open\nC=2\n')
    (tmp_path / "b.env").write_text("D=\0\n")
    problems = env_file_problems([tmp_path / "a.env", tmp_path / "missing.env", tmp_path / "b.env"],
                                 display={str(tmp_path / "a.env"): "a.env", str(tmp_path / "b.env"): "b.env"})
    assert [str(p).split(": ")[0] for p in problems] == ["a.env:2", "a.env:3", str(tmp_path / "missing.env"),
                                                          "b.env:1"]
    with pytest.raises(EnvFileError, match=r"^x.env:1: .*NUL byte"):
        read_env_text("K=a\0b\n", "x.env")
    assert env_file_problems([tmp_path / "missing.env"], required=False) == []


def test_a_nul_byte_in_a_procfile_line_is_a_problem() -> None:
    _, problems = check_procfile("web: echo a\0b\nworker: ok\n")
    assert [str(p) for p in problems] == ["Procfile:1: contains a NUL byte"]


def test_a_missing_procfile_names_where_it_was_looked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ProcfileError, match=rf"^{tmp_path}/Procfile: does not exist \(use -f FILE or -d DIR\)$"):
        load_app(tmp_path, os_environ={})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProcfileError, match=rf"^Procfile: does not exist in {tmp_path} \(use -f FILE or -d DIR\)$"):
        load_app(tmp_path, os_environ={})
    (tmp_path / ".env").write_text("PROCFILE=P2\n")
    with pytest.raises(ProcfileError, match=r"^P2: does not exist in .* \(the name is PROCFILE from \.env:1; "):
        load_app(tmp_path, os_environ={})
