"""The daemon's files on their own: the ini reader, the pidfile, the atomic write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from honcho_uv.atomicfile import write_atomic
from honcho_uv.daemon.config import load_config
from honcho_uv.daemon.pidfile import Pidfile
from honcho_uv.errors import ConfigError, StateError

INI = """\
[gaffer]
bind = unix:/tmp/x.sock, tcp://127.0.0.1:5001
pidfile = /tmp/g.pid
include = more.ini

[process:web]
cmd = python -m http.server
numprocesses = 2
port = 8000
env:Greeting = 100% $HOME: "yes"
flapping = 3 2 5 1
restart = on-failure
start = false

[env:web]
MixedCase = kept
"""


def test_the_ini_keeps_percent_dollar_colon_and_case(tmp_path: Path) -> None:
    (tmp_path / "g.ini").write_text(INI)
    (tmp_path / "more.ini").write_text("[process:worker]\ncmd = sleep 60\npriority = -1\n")
    config = load_config(tmp_path / "g.ini")
    assert config.binds == ["unix:/tmp/x.sock", "tcp://127.0.0.1:5001"] and config.pidfile == "/tmp/g.pid"
    assert list(config.processes) == ["worker", "web"]  # priority, then file order
    web = config.processes["web"]
    assert web.start is False and web.template.numprocesses == 2 and web.template.port == 8000
    assert web.template.env == {"Greeting": '100% $HOME: "yes"', "MixedCase": "kept"}
    assert web.template.flapping is not None and web.template.flapping.attempts == 3
    assert web.template.restart == "on-failure" and web.template.os_env  # the daemon's defaults
    assert config.processes["worker"].template.restart == "always"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[process:web]\ncmd = x\nnumprocesses = many\n", "[process:web] numprocesses: must be a whole number"),
        ("[process:web]\ncmd = x\nbogus = 1\n", "[process:web] bogus: unknown key"),
        ("[process:web]\nargs = x\n", "[process:web] cmd: is required"),
        ("[process:w b]\ncmd = x\n", "[process:w b]: process name: invalid name"),
        ("[env:ghost]\nA = 1\n", "[env:ghost]: no [process:ghost] to apply it to"),
        ("[process:web\ncmd = x\n", "g.ini:"),
        # regression: log_keep was taken as a process key and reached ProcessTemplate (a TypeError)
        ("[process:web]\ncmd = x\nlog_keep = 3\n", "[process:web] log_keep: unknown key"),
        # regression: a bad size was found only at start, without the file and section
        ("[gaffer]\nlog_max_size = big\n", "[gaffer] log_max_size: expected a size like 512k, 10M or 1G"),
        ("[gaffer]\nlog_keep = -1\n", "[gaffer] log_keep: must be >= 0"),
        ("[gaffer]\nlog_keep = some\n", "[gaffer] log_keep: must be a whole number"),
        # regression (issue 15): `flapping = 3 2` was taken with gaffer's defaults for the rest
        ("[process:web]\ncmd = x\nflapping = 3 2\n",
         "[process:web] flapping: expected 4 values, 'attempts window retry_in max_retry'"),
    ],
)
def test_a_bad_ini_names_the_file_section_and_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "g.ini").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "g.ini")
    assert str(info.value).startswith(str(tmp_path / "g.ini")) and message in str(info.value)


def test_an_include_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.ini").write_text("[gaffer]\ninclude = b.ini\n")
    (tmp_path / "b.ini").write_text("[gaffer]\ninclude = a.ini\n")
    with pytest.raises(ConfigError, match="included twice"):
        load_config(tmp_path / "a.ini")


def test_a_pidfile_is_ours_refused_over_a_live_owner_and_removed_only_if_ours(tmp_path: Path) -> None:
    path = tmp_path / "d.pid"
    pidfile = Pidfile(path)
    pidfile.create()
    assert path.read_text() == f"{os.getpid()}\n" and (path.stat().st_mode & 0o777) == 0o644
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        path.write_text(f"{other.pid}\n")  # a live process took it over
        with pytest.raises(StateError, match=f"already running with pid {other.pid}"):
            Pidfile(path).create()
        pidfile.remove()
        assert path.exists()  # not ours any more: left alone
    finally:
        other.kill()
        other.wait()
    assert Pidfile(path).owner() is None  # a dead owner does not block
    path.write_text("garbage\n")
    assert Pidfile(path).owner() is None


def test_the_atomic_write_leaves_the_old_file_or_the_new_one(tmp_path: Path) -> None:
    target = tmp_path / "state"
    write_atomic(target, b"one\n", 0o600)
    assert target.read_bytes() == b"one\n" and (target.stat().st_mode & 0o777) == 0o600
    with pytest.raises(TypeError):  # a write that fails half-way leaves the old file, and no temp file
        write_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"one\n" and sorted(os.listdir(tmp_path)) == ["state"]
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "state", b"x")
    write_atomic(target, b"two\n", 0o644, fsync=True)
    assert target.read_bytes() == b"two\n" and sorted(os.listdir(tmp_path)) == ["state"]
