"""hu.toml and the probe grammar: strict reading, errors that name the line, the release phase."""

from __future__ import annotations

from pathlib import Path

import pytest

from honcho_uv.core.deps import check_graph, start_levels, stop_waves
from honcho_uv.errors import ConfigError, InvalidOption
from honcho_uv.models import Probe, ProcessTemplate, parse_probe
from honcho_uv.procfile.config import dependency_graph, load_config
from honcho_uv.procfile.parse import parse_procfile

PROCFILE = parse_procfile("release: migrate\ndb: postgres\nweb: serve\nworker: work\n")


def _load(tmp_path: Path, text: str, procfile=PROCFILE):  # type: ignore[no-untyped-def]
    path = tmp_path / "hu.toml"
    path.write_text(text)
    return load_config(path, procfile, display="hu.toml")


@pytest.mark.parametrize(
    ("text", "probe"),
    [
        ("started", Probe("started")),
        (3, Probe("alive", seconds=3.0)),
        (0.5, Probe("alive", seconds=0.5)),
        ("2.5", Probe("alive", seconds=2.5)),
        ("tcp", Probe("tcp")),
        ("port", Probe("tcp")),  # alias
        ("tcp:6379", Probe("tcp", port=6379)),
        ("tcp:db.local:5432", Probe("tcp", host="db.local", port=5432)),
        ("tcp:[::1]:5432", Probe("tcp", host="::1", port=5432)),
        ("http", Probe("http")),
        ("http:/healthz", Probe("http", path="/healthz")),
        ("http://127.0.0.1:8080/up?full=1", Probe("http", host="127.0.0.1", port=8080, path="/up?full=1")),
        ("log:listening on \\d+", Probe("log", pattern="listening on \\d+")),
        ("regex:ready", Probe("log", pattern="ready")),  # alias
        ("exec:pg_isready -q", Probe("exec", command="pg_isready -q")),
        ("notify", Probe("notify")),
    ],
)
def test_every_probe_of_the_grammar(text: object, probe: Probe) -> None:
    assert parse_probe(text) == probe
    assert parse_probe(str(probe)) == probe  # the canonical text reads back as the same probe


@pytest.mark.parametrize("text", ["", "tcp:", "tcp:70000", "tcp:host:", "http:healthz", "http://host/x",
                                  "log:(", "exec:", "sometimes", -1, True, None, "nan", "inf"])
def test_a_bad_probe_is_one_error_naming_the_option(text: object) -> None:
    with pytest.raises(InvalidOption) as info:
        parse_probe(text, "processes.web.ready")
    assert str(info.value).startswith("processes.web.ready: ")


def test_the_whole_example_of_the_design_is_read(tmp_path: Path) -> None:
    config = _load(tmp_path, """
[start]
timeout = 5
log_dir = "log"
formation = "web=2,worker=1"

[processes.db]
ready = "tcp"
ready_timeout = 30

[processes.release]
oneshot = true

[processes.web]
depends_on = { db = "ready", release = "succeeded" }
ready = "http:/healthz"
health = "http:/healthz"
health_interval = 10
health_failures = 3
restart = "on-failure"
stop_signal = "INT"
tty = true
watch = ["src/**/*.py"]
watch_ignore = ["src/generated/**"]
""")
    assert config.start.timeout == 5.0 and config.start.formation == "web=2,worker=1" and config.start.log_dir == "log"
    web = config.of("web")
    assert web.ready == Probe("http", path="/healthz") and web.health_failures == 3 and web.stop_signal == 2
    assert web.depends_on == {"db": "ready", "release": "succeeded"} and web.watch == ("src/**/*.py",)
    assert config.of("db").ready_timeout == 30.0 and config.of("worker").ready is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[processes.web]\nredy = \"tcp\"\n", "hu.toml:2: processes.web.redy: unknown key"),
        ("[processes.wbe]\nready = \"tcp\"\n", "hu.toml:1: processes.wbe: no process type 'wbe' in Procfile"),
        ("[proceses.web]\n", "hu.toml:1: proceses: unknown table"),
        ("[start]\ntimeout = \"soon\"\n", "hu.toml:2: start.timeout: expected a number of seconds"),
        ("[start]\ntty = \"sometimes\"\n", "hu.toml:2: start.tty: expected one of auto, always, never"),
        ("[processes.web]\nhealth_failures = 0\n", "hu.toml:2: processes.web.health_failures: expected a whole number >= 1"),
        ("[processes.web]\noneshot = \"yes\"\n", "hu.toml:2: processes.web.oneshot: expected true or false"),
        ("[processes.web]\nhealth = \"log:up\"\n", "hu.toml:2: processes.web.health: a health check is a tcp, http or exec"),
        ("[processes.web]\nwatch = 3\n", "hu.toml:2: processes.web.watch: expected a list of glob patterns"),
        ("\n\n[processes.web]\nready = \"tcp:x\"\n", "hu.toml:4: processes.web.ready: expected tcp:PORT"),
        ("[processes.web]\ndepends_on = [\"dbb\"]\n", "hu.toml:2: processes.web.depends_on: 'dbb' is not a process type"),
        ("[processes.web]\ndepends_on = { db = \"healthy\" }\n",
         "hu.toml:2: processes.web.depends_on: expected one of started, ready, exited, succeeded"),
        ("[processes.web]\ndepends_on = [\"db\"]\n[processes.db]\ndepends_on = { web = \"started\" }\n",
         "hu.toml:4: processes.db.depends_on: dependency cycle: db -> web -> db"),  # found from db, first in the Procfile
        ("[processes.release]\ndepends_on = [\"web\"]\n",  # web depends on the release phase already
         "hu.toml:2: processes.release.depends_on: dependency cycle: release -> web -> release"),
        ("[processes.web\n", "hu.toml:1: "),
        # regression: a bad size was kept as text, passed `hu check`, and `hu start` blamed --log-max-size
        ("[start]\nlog_max_size = \"big\"\n", "hu.toml:2: start.log_max_size: expected a size like 512k, 10M or 1G"),
        ("[start]\nlog_max_size = 12\n", "hu.toml:2: start.log_max_size: must be at least 1k"),
    ],
)
def test_mistakes_are_one_line_naming_the_line_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_the_release_entry_is_a_dependency_of_everyone_unless_told_otherwise(tmp_path: Path) -> None:
    graph = dependency_graph(PROCFILE, _load(tmp_path, ""))
    assert graph == {"release": {}, "db": {"release": "succeeded"}, "web": {"release": "succeeded"},
                     "worker": {"release": "succeeded"}}
    custom = dependency_graph(PROCFILE, _load(tmp_path, '[processes.web]\ndepends_on = { release = "exited" }\n'))
    assert custom["web"] == {"release": "exited"} and custom["db"] == {"release": "succeeded"}
    plain = dependency_graph(PROCFILE, _load(tmp_path, "[processes.release]\noneshot = false\n"))
    assert all(not deps for deps in plain.values())


def test_without_a_release_entry_there_is_no_release_phase(tmp_path: Path) -> None:
    procfile = parse_procfile("web: serve\n")
    assert dependency_graph(procfile, _load(tmp_path, "", procfile)) == {"web": {}}


def test_levels_and_stop_waves_follow_the_graph() -> None:
    graph = {"web": {"db": "ready", "release": "succeeded"}, "db": {"release": "succeeded"}, "release": {},
             "worker": {}}
    check_graph(graph, graph)
    assert start_levels(graph, graph) == {"web": 2, "db": 1, "release": 0, "worker": 0}
    assert stop_waves(graph, list(graph)) == [["web"], ["db"], ["release", "worker"]]
    assert stop_waves({"a": {}, "b": {}}, ["a", "b"]) == [["a", "b"]]  # no dependencies: one wave


def test_templates_carry_readiness_and_check_it() -> None:
    template = ProcessTemplate("web", "serve", ready="http:/up", depends_on=["db"], health="tcp", oneshot=False)
    assert template.ready == Probe("http", path="/up") and template.depends_on == {"db": "ready"}
    assert ProcessTemplate.from_dict(template.to_dict()) == template
    for bad, field in [({"ready": "nope"}, "ready"), ({"health": "started"}, "health"),
                       ({"depends_on": {"web": "ready"}}, "depends_on"), ({"depends_on": {"db": "up"}}, "depends_on"),
                       ({"health_failures": 0}, "health_failures"), ({"ready_timeout": -1}, "ready_timeout")]:
        with pytest.raises(InvalidOption) as info:
            ProcessTemplate("web", "serve", **bad)
        assert info.value.option == field


@pytest.mark.parametrize("flag,terminal,expected", [
    (None, True, []),  # [start] tty = "never" decides when no flag is given
    ("auto", True, ["web"]),  # an explicit --tty auto wins over [start] tty (review finding)
    ("auto", False, []),
    ("always", False, ["web", "worker"]),  # ... and always/never over the type's own tty too
])
def test_the_tty_flag_wins_over_start_tty_and_a_types_own_tty_over_both(
        tmp_path: Path, flag: str | None, terminal: bool, expected: list[str]) -> None:
    from honcho_uv.procfile.app import load_app
    from honcho_uv.procfile.templates import tty_types

    (tmp_path / "Procfile").write_text("web: sleep 1\nworker: sleep 1\n")
    (tmp_path / "hu.toml").write_text('[start]\ntty = "never"\n\n[processes.worker]\ntty = false\n')
    assert tty_types(load_app(tmp_path), flag, terminal) == expected
