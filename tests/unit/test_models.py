"""ProcessTemplate, FlappingInfo, ExitStatus and parse_signal (issue 2, item 3)."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from honcho_uv.errors import ConfigError, InvalidOption
from honcho_uv.models import TRANSITIONS, ExitStatus, FlappingInfo, ProcessState, ProcessTemplate, parse_signal

BAD_FIELDS = [
    # name: a dot is the instance separator
    ({"name": "web.1"}, "name"),
    # name: not a string
    ({"name": 7}, "name"),
    # cmd: empty
    ({"cmd": "  "}, "cmd"),
    # cmd: shlex cannot split an unbalanced quote
    ({"cmd": 'echo "oops'}, "cmd"),
    # args: a list with a non-string
    ({"args": ["a", 1]}, "args"),
    # args: an unsplittable string
    ({"args": "'a"}, "args"),
    # env: a non-string value
    ({"env": {"A": 1}}, "env"),
    # env: not a mapping
    ({"env": ["A=1"]}, "env"),
    # uid: unknown user name
    ({"uid": "no-such-user-hu"}, "uid"),
    # gid: unknown group name
    ({"gid": "no-such-group-hu"}, "gid"),
    # cwd: not a path string
    ({"cwd": 3}, "cwd"),
    # each boolean flag rejects a non-bool
    ({"detach": "yes"}, "detach"),
    ({"shell": 1}, "shell"),
    ({"os_env": None}, "os_env"),
    ({"redirect_input": "true"}, "redirect_input"),
    # numprocesses: negative
    ({"numprocesses": -1}, "numprocesses"),
    # numprocesses: a bool is not a count
    ({"numprocesses": True}, "numprocesses"),
    # numprocesses: a float
    ({"numprocesses": 1.5}, "numprocesses"),
    # flapping: unreadable form
    ({"flapping": object()}, "flapping"),
    # flapping: an unknown key
    ({"flapping": {"attempts": 2, "tries": 3}}, "flapping"),
    # flapping: a bad value names the sub-field
    ({"flapping": {"window": -1}}, "flapping.window"),
    # redirect_output: three labels
    ({"redirect_output": ["a", "b", "c"]}, "redirect_output"),
    # redirect_output: the wildcard is not a label
    ({"redirect_output": ["."]}, "redirect_output"),
    # redirect_output: an empty label
    ({"redirect_output": ["out", ""]}, "redirect_output"),
    # graceful_timeout: negative
    ({"graceful_timeout": -0.1}, "graceful_timeout"),
    # graceful_timeout: a string
    ({"graceful_timeout": "5"}, "graceful_timeout"),
    # stop_signal: unknown name
    ({"stop_signal": "SIGNOPE"}, "stop_signal"),
    # restart: unknown policy
    ({"restart": "sometimes"}, "restart"),
    # port: zero
    ({"port": 0}, "port"),
    # port: too large
    ({"port": 70000}, "port"),
    # port: a bool
    ({"port": True}, "port"),
    # port_index: negative
    ({"port_index": -1}, "port_index"),
    # port_index: a bool
    ({"port_index": True}, "port_index"),
    # priority: not a whole number
    ({"priority": "1"}, "priority"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_FIELDS)
def test_every_invalid_field_is_named(changes: dict[str, Any], field: str) -> None:
    kwargs: dict[str, Any] = {"name": "web", "cmd": "true", **changes}
    with pytest.raises(InvalidOption) as info:
        ProcessTemplate(**kwargs)
    assert info.value.option == field
    assert str(info.value).startswith(f"{field}: ")
    assert isinstance(info.value, ConfigError)


def test_defaults() -> None:
    t = ProcessTemplate("web", "true")
    # os_env: the OS environment is passed, as in gafferd's ini and for a new user's PATH (issue 15)
    assert t.numprocesses == 1 and t.restart == "always" and t.os_env and not t.shell
    assert t.flapping == FlappingInfo(2, 1.0, 7.0, 5)  # on by default, gaffer's values
    assert t.redirect_output == () and t.stop_signal == signal.SIGTERM and t.graceful_timeout == 10.0


@pytest.mark.root_only
def test_uid_gid_names_resolve_to_numbers() -> None:
    t = ProcessTemplate("web", "true", uid="nobody", gid="nogroup")
    assert (t.uid, t.gid) == (65534, 65534)
    assert ProcessTemplate("web", "true", uid=65534, gid="65534").uid == 65534
    assert ProcessTemplate("web", "true", uid="", gid=None).uid is None


ARGV = [
    # cmd alone is shlex-split
    ({"cmd": "python -c 'print(1)'"}, ["python", "-c", "print(1)"]),
    # args as a string is shlex-split; cmd is then the executable verbatim (gaffer 0.4)
    ({"cmd": "python", "args": "-c 'print(1)'"}, ["python", "-c", "print(1)"]),
    # args as a list is taken as is
    ({"cmd": "python", "args": ["-c", "print( 1 )"]}, ["python", "-c", "print( 1 )"]),
    # an empty args list: just the executable
    ({"cmd": "/bin/true", "args": []}, ["/bin/true"]),
    # shell: the whole command line goes to sh -c as one argument (gaffer's bug split it)
    ({"cmd": "echo a && echo b | tr a-z A-Z", "shell": True}, ["/bin/sh", "-c", "echo a && echo b | tr a-z A-Z"]),
    # shell with args: appended, quoted
    ({"cmd": "echo", "args": ["a b", "$HOME"], "shell": True}, ["/bin/sh", "-c", "echo 'a b' '$HOME'"]),
]


@pytest.mark.parametrize(("kwargs", "argv"), ARGV)
def test_argv(kwargs: dict[str, Any], argv: list[str]) -> None:
    assert ProcessTemplate(name="p", **kwargs).argv() == argv


def test_args_string_becomes_tuple_and_redirect_output_string() -> None:
    t = ProcessTemplate("p", "x", args="a 'b c'", redirect_output="out, err")
    assert t.args == ("a", "b c")
    assert t.redirect_output == ("out", "err")


def test_env_is_copied() -> None:
    env = {"A": "1"}
    t = ProcessTemplate("p", "x", env=env)
    env["A"] = "2"
    assert t.env == {"A": "1"}  # gaffer mutated the caller's dict; we copy


def test_replace_validates_and_round_trip() -> None:
    t = ProcessTemplate("p", "x", args=["a"], redirect_output=["o", "o"], stop_signal="INT", env={"A": "1"})
    assert ProcessTemplate.from_dict(t.to_dict()) == t
    assert t.to_dict()["stop_signal"] == "SIGINT"
    with pytest.raises(InvalidOption, match="numprocesses"):
        t.replace(numprocesses=-2)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "p", "cmd": "x", "colour": "red"}, "colour"),  # unknown key named
        ({"name": "p"}, "cmd"),  # missing cmd
        ({"cmd": "x"}, "name"),  # missing name
    ],
)
def test_from_dict_errors(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidOption) as info:
        ProcessTemplate.from_dict(data)
    assert info.value.option == field


COERCE = [
    # None and False: flapping off
    (None, None),
    (False, None),
    # True: gaffer's defaults
    (True, FlappingInfo()),
    # an instance is kept
    (FlappingInfo(3, 2.0, 1.0, 1), FlappingInfo(3, 2.0, 1.0, 1)),
    # a dict, partial
    ({"attempts": 3, "retry_in": 0.5}, FlappingInfo(attempts=3, retry_in=0.5)),
    # a sequence in gaffer's order
    ([3, 2, 5, 4], FlappingInfo(3, 2.0, 5.0, 4)),
    # the gafferd ini form (gaffer 0.5 crashed on the float max_retry)
    ("2 1 7 5", FlappingInfo(2, 1.0, 7.0, 5)),
    # the documented comma form (gaffer ignored it)
    ("2, 1., 7., 5", FlappingInfo(2, 1.0, 7.0, 5)),
    # five values: stable_after too
    ("2 1 7 5 30", FlappingInfo(2, 1.0, 7.0, 5, 30.0)),
]


@pytest.mark.parametrize(("value", "expected"), COERCE)
def test_flapping_coerce(value: Any, expected: FlappingInfo | None) -> None:
    assert FlappingInfo.coerce(value) == expected


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("a b", "flapping"),  # not numbers
        ("1 2 3 4 5 6", "flapping"),  # too many values
        ("4", "flapping"),  # too few values: nothing is guessed (issue 15)
        ([3, 2], "flapping"),  # the same over the API
        ("", "flapping"),  # nothing
        ({"attempts": 0}, "flapping.attempts"),  # attempts >= 1
        ({"attempts": True}, "flapping.attempts"),  # a bool is not a count
        ({"max_retry": -1}, "flapping.max_retry"),  # max_retry >= 0
        ({"max_retry": 1.5}, "flapping.max_retry"),  # max_retry whole
        ({"retry_in": "7"}, "flapping.retry_in"),  # seconds must be numbers
        ({"stable_after": -1}, "flapping.stable_after"),  # non-negative
        (3.5, "flapping"),  # a bare number
    ],
)
def test_flapping_coerce_errors(value: Any, field: str) -> None:
    with pytest.raises(InvalidOption) as info:
        FlappingInfo.coerce(value)
    assert info.value.option == field


EXIT = [
    # success
    (0, ExitStatus(0, None), 0, True, "exited with code 0"),
    # a failure code
    (3, ExitStatus(3, None), 3, False, "exited with code 3"),
    # killed by SIGKILL: 128 + 9
    (-9, ExitStatus(None, 9), 137, False, "killed by SIGKILL"),
    # killed by SIGTERM
    (-15, ExitStatus(None, 15), 143, False, "killed by SIGTERM"),
]


@pytest.mark.parametrize(("rc", "status", "shell_rc", "success", "text"), EXIT)
def test_exit_status(rc: int, status: ExitStatus, shell_rc: int, success: bool, text: str) -> None:
    got = ExitStatus.from_returncode(rc)
    assert got == status and got.returncode == shell_rc and got.success is success and got.describe() == text


def test_exit_status_unknown_signal() -> None:
    assert ExitStatus(None, 99).describe() == "killed by signal 99"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("TERM", signal.SIGTERM), ("sigint", signal.SIGINT), (9, signal.SIGKILL), (" 15 ", signal.SIGTERM),
     ("SIGHUP", signal.SIGHUP)],
)
def test_parse_signal(value: Any, expected: signal.Signals) -> None:
    assert parse_signal(value) is expected


@pytest.mark.parametrize("value", ["NOPE", "", 999, "-1"])
def test_parse_signal_errors(value: Any) -> None:
    with pytest.raises(InvalidOption, match="unknown signal"):
        parse_signal(value, "--signal")


def test_transitions_cover_every_state() -> None:
    assert set(TRANSITIONS) == set(ProcessState)
    assert ProcessState.STARTING in TRANSITIONS[ProcessState.FATAL]  # only a user start leaves FATAL
    assert ProcessState.RUNNING not in TRANSITIONS[ProcessState.BACKOFF]
