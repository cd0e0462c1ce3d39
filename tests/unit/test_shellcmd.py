from __future__ import annotations

import pytest

from honcho_uv.procfile.shellcmd import exec_command, is_simple_command


@pytest.mark.parametrize(
    "command",
    [
        "python app.py",
        "bundle exec puma -p $PORT",
        "echo 'a && b; c | d'",
        'echo "x > y"',
        "ruby -e 'puts 1' # comment",
        "grep a\\;b file",
    ],
)
def test_simple(command: str) -> None:
    assert is_simple_command(command)
    assert exec_command(command) == f"exec {command}"


@pytest.mark.parametrize(
    "command",
    [
        "cd x && y",
        "a || b",
        "a; b",
        "a | b",
        "a &",
        "echo $(date)",
        'echo "$(date)"',
        "echo `date`",
        "a > log",
        "a < in",
        "(a)",
        "FOO=1 python app.py",
        "exec python app.py",
        "if true; then a; fi",
        "a\nb",
        "echo 'unterminated",
    ],
)
def test_not_simple(command: str) -> None:
    assert not is_simple_command(command)
    assert exec_command(command) == command.strip()


def test_builtins_without_a_program_are_not_execed():
    # Regression: `exec exit 4` looked for a program called "exit" and exited 127, not 4.
    for command in ("exit 4", "cd /tmp", "trap '' TERM", "wait", "read x", "ulimit -n 64", ": noop", ". ./env.sh"):
        assert not is_simple_command(command), command
        assert exec_command(command) == command
    assert exec_command("python app.py") == "exec python app.py"
