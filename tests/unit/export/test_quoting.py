"""Each quoting rule checked against the parser that reads it (supervisor's own
functions, ConfigParser, shlex, /bin/sh, PyYAML, plistlib)."""

from __future__ import annotations

import configparser
import io
import plistlib
import shlex
import subprocess

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from honcho_uv.errors import ExportError
from honcho_uv.export import quoting

TRICKY = ["", "plain", "a b", "100%", "$HOME", "it's", 'say "hi" now', "a ;b", "x #y", "tab\there", "ünï ✓", "a,b=c"]
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=40)


def _supervisor_parse(line: str) -> configparser.SectionProxy:
    from supervisor.options import UnhosedConfigParser

    parser = UnhosedConfigParser()
    parser.read_file(io.StringIO(f"[program:x]\n{line}\n"))
    return parser["program:x"]


def _supervisor_expand(value: str) -> str:
    from supervisor.options import expand

    return expand(value, {}, "test")


@pytest.mark.parametrize("value", TRICKY)
def test_supervisor_command_word(value: str) -> None:
    line = "command=/bin/sh -c " + quoting.supervisor_shell_word(value)
    raw = _supervisor_parse(line)["command"]
    assert shlex.split(_supervisor_expand(raw)) == ["/bin/sh", "-c", value]


@given(text.filter(lambda v: "\n" not in v and "\r" not in v))
@settings(max_examples=200, deadline=None)
def test_supervisor_command_word_any(value: str) -> None:
    raw = _supervisor_parse("command=/bin/sh -c " + quoting.supervisor_shell_word(value))["command"]
    assert shlex.split(_supervisor_expand(raw)) == ["/bin/sh", "-c", value]


@given(st.dictionaries(st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,8}\Z"), text, max_size=4))
@settings(max_examples=300, deadline=None)
def test_supervisor_environment_roundtrip_or_refusal(env: dict[str, str]) -> None:
    from supervisor.datatypes import dict_of_key_value_pairs

    try:
        items = [f"{k}={quoting.supervisor_env_value(k, v)}" for k, v in env.items()]
    except ExportError:
        return  # refused: the user is told to use --env-file
    raw = _supervisor_parse("environment=" + ",".join(items)).get("environment", "")
    assert dict_of_key_value_pairs(_supervisor_expand(raw)) == env


def test_supervisor_refuses_both_quotes() -> None:
    with pytest.raises(ExportError, match=r"MIXED .*--env-file"):
        quoting.supervisor_env_value("MIXED", "it's \"both\"")


@given(text)
@settings(max_examples=200, deadline=None)
def test_shell_quote_through_sh(value: str) -> None:
    out = subprocess.run(["/bin/sh", "-c", f"printf %s {quoting.shell_quote(value)}"], capture_output=True, timeout=10)
    assert out.stdout.decode() == value


@pytest.mark.parametrize("value", [*TRICKY, "line1\nline2", 'back\\slash `x` "q" $y'])
def test_envfile_value_through_sh(value: str) -> None:
    script = f"X={quoting.systemd_envfile_value(value)}\nprintf %s \"$X\""
    out = subprocess.run(["/bin/sh", "-c", script], capture_output=True, timeout=10)
    assert out.stdout.decode() == value


@given(text)
@settings(max_examples=300, deadline=None)
def test_yaml_quote_roundtrip(value: str) -> None:
    assert yaml.safe_load("k: " + quoting.yaml_quote(value)) == {"k": value}


@pytest.mark.parametrize("value", [*TRICKY, "a\r\nb", "<&>"])
def test_xml_text_through_plistlib(value: str) -> None:
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><string>'
        + quoting.xml_text(value)
        + "</string></plist>"
    )
    assert plistlib.loads(doc.encode()) == value


def test_xml_refuses_control_characters() -> None:
    with pytest.raises(ExportError):
        quoting.xml_text("bell\x07")


def test_systemd_words() -> None:
    assert quoting.systemd_env_assignment("A", 'it\'s "q" 100% $x\\') == '"A=it\'s \\"q\\" 100%% $x\\\\"'
    assert quoting.systemd_exec_arg("echo 'a' \"b\" 5% $PORT") == "'echo \\'a\\' \"b\" 5%% $$PORT'"


def test_envdir_rules() -> None:
    assert quoting.envdir_content("K", "a\nb") == "a\0b\n"
    assert quoting.envdir_content("K", "") == "\n"  # a 0-byte file would unset K
    with pytest.raises(ExportError, match="ends with a blank"):
        quoting.envdir_content("K", "x ")


def test_ini_value_rules() -> None:
    assert quoting.ini_value("K", "a %(x)s $y : #z", "gafferd") == "a %(x)s $y : #z"
    for bad in (" lead", "trail ", "two\nlines"):
        with pytest.raises(ExportError):
            quoting.ini_value("K", bad, "gafferd")
