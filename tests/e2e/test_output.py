"""Output that never lies: every byte arrives, lines stay whole, bytes pass through."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time

from tests.kit.hu import HU
from tests.kit.procs import PY

PREFIX = re.compile(rb"^\d\d:\d\d:\d\d (\S+)\s* \| ")


def bodies(out: bytes, name: str) -> list[bytes]:
    found = []
    for line in out.split(b"\n"):
        m = PREFIX.match(line)
        if m and m.group(1) == name.encode():
            found.append(line[m.end():])
    return found


def test_bytes_pass_through_untouched(app):
    # Regression for honcho #54: invalid UTF-8 must not crash or be rewritten.
    payload = b"bad \x88\xff\xfe utf8, nul \x00 byte, ansi \x1b[31mred\x1b[0m"
    app.write("emit.py", f"import sys; sys.stdout.buffer.write({payload!r} + b'\\n')\n")
    app.write("Procfile", f"web: {PY} emit.py\n")
    out = app.hu("start", env={"LANG": "C", "LC_ALL": "C"}).stdout
    assert bodies(out, "web.1") == [payload]


def test_a_one_mib_line_arrives_whole(app):
    app.write("emit.py", "import sys; sys.stdout.write('x' * (1 << 20) + '\\n'); sys.stdout.write('after\\n')\n")
    app.write("Procfile", f"web: {PY} emit.py\n")
    lines = bodies(app.hu("start").stdout, "web.1")
    assert lines == [b"x" * (1 << 20), b"after"]


def test_last_line_without_newline_is_printed(app):
    app.write("Procfile", "web: printf 'last words'\n")
    assert bodies(app.hu("start").stdout, "web.1") == [b"last words"]


def test_partial_line_is_flushed_after_a_short_idle(app):
    app.write("Procfile", "web: printf 'Password: '; sleep 3\n")
    proc = app.popen("start")
    started = time.monotonic()
    line = b""
    while b"Password" not in line and time.monotonic() - started < 2.5:
        line = proc.stdout.readline()
    assert b"Password: " in line and time.monotonic() - started < 2.5
    proc.terminate()
    proc.communicate(timeout=10)


def test_lines_are_never_mixed_between_processes(app):
    # Four writers racing with odd-sized writes: every line must come back whole, in order.
    writer = ("import os, sys\n"
              "name = sys.argv[1]\n"
              "for i in range(20000):\n"
              "    line = f'{name} {i} ' + 'y' * (i % 97) + '\\n'\n"
              "    half = len(line) // 2\n"
              "    os.write(1, line[:half].encode()); os.write(1, line[half:].encode())\n")
    app.write("writer.py", writer)
    app.write("Procfile", "".join(f"w{n}: {PY} writer.py w{n}; sleep 1\n" for n in range(4)))
    out = app.hu("start", timeout=120).stdout
    for n in range(4):
        lines = bodies(out, f"w{n}.1")
        assert len(lines) == 20000
        for i, body in enumerate(lines):
            assert body == f"w{n} {i} ".encode() + b"y" * (i % 97)


def test_pipe_to_head_exits_promptly_and_leaves_nothing(app):
    app.write("Procfile", "a: yes aaaa\nb: yes bbbb\n")
    started = time.monotonic()
    pipeline = subprocess.run(f"{shlex.join(HU)} start | head -n 5", shell=True, cwd=app.root, env=app.env,
                              capture_output=True, timeout=30)
    assert time.monotonic() - started < 10
    assert len(pipeline.stdout.splitlines()) == 5
    assert b"Traceback" not in pipeline.stderr
    app.assert_no_survivors()


def test_output_reaches_a_pipe_line_by_line(app):
    # honcho #136/#167: output must not sit in a buffer when stdout is a pipe.
    app.write("Procfile", "web: echo first; sleep 5\n")
    proc = app.popen("start")
    started = time.monotonic()
    seen = b""
    while b"first" not in seen:
        seen += os.read(proc.stdout.fileno(), 4096)
    assert time.monotonic() - started < 2
    proc.terminate()
    proc.communicate(timeout=10)
