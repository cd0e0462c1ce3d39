"""Decide whether a Procfile command may be prefixed with ``exec``.

``/bin/sh -c 'exec CMD'`` makes the app the main process of its unit, so the
supervisor's signals reach it directly. That is only correct for a *single simple
command*: ``exec`` in front of ``cd x && y`` would replace the shell after ``cd`` and
never run ``y``. Anything that looks compound runs exactly as written.
"""

from __future__ import annotations

import re

__all__ = ["exec_command", "is_simple_command"]

# First words that make the line a compound command (or a shell builtin form that
# ``exec`` cannot take).
_RESERVED = frozenset(
    "if then else elif fi do done case esac while until for select function in "
    "{ } ! [[ ]] exec".split()
)
# Shell builtins with no program of the same name: ``exec exit 4`` would look for a program
# called "exit" and fail with 127 instead of exiting 4.
_BUILTINS = frozenset(
    ": . break continue eval exit export readonly return set shift times trap unset "
    "alias bg cd command fc fg getopts hash jobs read type ulimit umask unalias wait "
    "source local let declare typeset builtin".split()
)
_ASSIGNMENT = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*=")
_OPERATORS = frozenset(";&|<>()`\n\r")


def is_simple_command(command: str) -> bool:
    """True when *command* is one simple command with no shell operator.

    Operators looked for outside single quotes (a backslash escapes the next
    character outside quotes): ``; & | < > ( )``, a backtick, ``$(``, a newline.
    Inside double quotes only ``$(`` and backticks count (they run subcommands).
    A leading ``NAME=value`` assignment, a reserved word, a shell builtin with no program
    of its name (``exit``, ``cd``, ``trap``...) or ``exec`` itself also make it "not simple".
    The test is conservative: when unsure, it says False,
    and the command then runs as written, which is always correct.
    """
    text = command.strip()
    if not text:
        return False
    first = text.split(None, 1)[0]
    if first in _RESERVED or first in _BUILTINS or _ASSIGNMENT.match(first):
        return False
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote == "'":
            if c == "'":
                quote = ""
        elif c == "\\":
            i += 1  # the next character is escaped (or, at the end, nothing)
        elif quote == '"':
            if c == '"':
                quote = ""
            elif c == "`" or text.startswith("$(", i):
                return False
        elif c in "'\"":
            quote = c
        elif c in _OPERATORS or text.startswith("$(", i):
            return False
        i += 1
    return quote == ""


def exec_command(command: str) -> str:
    """*command* with ``exec `` in front when :func:`is_simple_command` allows, else unchanged."""
    command = command.strip()
    return f"exec {command}" if is_simple_command(command) else command
