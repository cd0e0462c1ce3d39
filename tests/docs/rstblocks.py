"""The code blocks of an RST file, and the loose match of a command's output against a doc.

Pure functions (no processes): :func:`blocks` reads a file into :class:`Block` objects,
:func:`commands` splits a console block into :class:`Command` objects, and
:func:`output_mismatch` compares what a command printed with what the doc shows.

What counts as a block (README.rst and docs/*.rst):

* ``.. code-block:: LANG`` (also ``.. code::`` and ``.. sourcecode::``): ``python`` runs,
  ``console`` (or ``shell-session``) runs its ``$`` lines, any other language is text;
* a literal block after a paragraph ending in ``::``: ``console`` when its first line starts
  with ``$ ``, else text;
* a text block whose first line is ``# FILE`` (``# Procfile``, ``# hu.toml``,
  ``# etc/gafferd.ini``) is a *file block*: the doc creates FILE in the app directory with the
  block as its content, header line included (a comment in every one of those formats);
* a literal block introduced by a paragraph ending in ``prints::`` is an *output block*: what
  the python block just before it prints, compared as a console command's output is.

Markers, RST comments (invisible in the rendered page) on their own line before a block:
each applies to the first block that follows it.

* ``.. no-test: REASON``: the block is not run (it needs a real service manager, a database,
  minutes of benchmarking...). REASON is shown as the skip reason.
* ``.. no-output-check: REASON``: a console block's commands run, but what they print is not
  compared with the doc (the output depends on the machine or the clock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Block", "Command", "blocks", "commands", "output_mismatch", "pattern_of", "shown_lines"]

_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. (?:code-block|code|sourcecode)::\s*(?P<lang>\S*)\s*$")
_MARKER = re.compile(r"^\s*\.\. (?P<kind>no-test|no-output-check):\s*(?P<reason>.*\S)\s*$")
_FILE_HEADER = re.compile(r"^#\s*(?P<name>[A-Za-z0-9_.-][A-Za-z0-9_./-]*)\s*$")
_CONSOLE_LANGS = ("console", "shell-session")


@dataclass
class Block:
    """One code block: where it is, what kind, its text (dedented), and its markers."""

    path: Path
    line: int  # 1-based line of the first line of the block's text
    kind: str  # "python", "console", "file", "output" or "text"
    text: str
    skip: str | None = None  # the reason of a ``.. no-test:`` marker
    no_output_check: str | None = None  # the reason of a ``.. no-output-check:`` marker
    file: str | None = None  # for a file block: the path it creates, relative to the app dir

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}-{self.kind}"


@dataclass
class Command:
    """One ``$`` command of a console block, and the output lines the doc shows under it."""

    line: int
    text: str
    expected: list[str] = field(default_factory=list)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _body(lines: list[str], start: int, parent_indent: int) -> tuple[int, list[str]]:
    """The indented body after line *start*: (index of its first line, dedented lines)."""
    i = start + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    first = i
    body: list[str] = []
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > parent_indent):
        body.append(lines[i])
        i += 1
    while body and not body[-1].strip():
        body.pop()
    if not body:
        return first, []
    depth = min(_indent(line) for line in body if line.strip())
    return first, [line[depth:] for line in body]


def _kind_of(lang: str | None, text_lines: list[str], intro: str) -> tuple[str, str | None]:
    first = next((line for line in text_lines if line.strip()), "")
    if lang is None and intro.rstrip().endswith("prints::"):
        return "output", None
    if lang == "python":
        return "python", None
    if lang in _CONSOLE_LANGS or (lang is None and first.startswith("$ ")):
        return "console", None
    header = _FILE_HEADER.match(text_lines[0]) if text_lines else None
    if header and ("." in header["name"] or header["name"] == "Procfile"):
        return "file", header["name"]
    return "text", None


def blocks(path: Path) -> list[Block]:
    """Every code block of the RST file *path*, in order, with its markers applied."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    pending: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = _MARKER.match(line)
        directive = _DIRECTIVE.match(line)
        lang: str | None
        if marker:
            pending[marker["kind"]] = marker["reason"]
            i += 1
            continue
        if directive:
            lang = directive["lang"] or "text"
        elif line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            lang = None
        else:
            i += 1
            continue
        first, body = _body(lines, i, _indent(line))
        if not body:
            i += 1
            continue
        kind, file = _kind_of(lang, body, line)
        found.append(Block(path, first + 1, kind, "\n".join(body) + "\n", pending.get("no-test"),
                           pending.get("no-output-check"), file))
        pending = {}
        i = first + len(body)
    return found


def shown_lines(lines: list[str]) -> list[str]:
    """The output lines a doc shows: blank lines dropped, and a line that starts with a space
    joined to the one before it with one space (long JSON wrapped for the page)."""
    shown: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        if line[0].isspace() and shown:
            shown[-1] = f"{shown[-1].rstrip()} {line.strip()}"
        else:
            shown.append(line.rstrip())
    return shown


def commands(block: Block) -> list[Command]:
    """The ``$`` commands of a console block (a line ending in ``\\`` continues on the next),
    each with the output lines shown under it (:func:`shown_lines`)."""
    out: list[Command] = []
    continuing = False
    for offset, line in enumerate(block.text.splitlines()):
        if continuing and out:
            out[-1].text += "\n" + line
        elif line.startswith("$ "):
            out.append(Command(block.line + offset, line[2:]))
        elif out:
            out[-1].expected.append(line)
        continuing = line.endswith("\\") and (continuing or line.startswith("$ "))
    for command in out:
        command.expected = shown_lines(command.expected)
    return out


def pattern_of(shown: str) -> re.Pattern[str]:
    """The regex a shown output line stands for: ``...`` is anything, a run of digits any
    number, a run of spaces any run of whitespace; the rest is literal."""
    parts = []
    for piece in shown.strip().split("..."):
        escaped = re.sub(r"\d+", lambda _: r"\d+", re.escape(piece))
        parts.append(re.sub(r"(?:\\ )+|\s+", lambda _: r"\s+", escaped))
    return re.compile("(?:" + ".*".join(parts) + r")\Z")


def output_mismatch(expected: list[str], actual: str) -> str | None:
    """None if the shown lines *expected* appear in *actual* in order (other lines may come
    between: a doc may abbreviate), each as :func:`pattern_of` reads it; else the first line
    that was not found."""
    got = [line.strip() for line in actual.splitlines()]
    at = 0
    for shown in expected:
        pattern = pattern_of(shown)
        while at < len(got) and not pattern.match(got[at]):
            at += 1
        if at == len(got):
            return shown
        at += 1
    return None
