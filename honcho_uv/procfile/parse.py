"""Procfile text -> an ordered list of entries.

Rules (DESIGN.md "Procfile"): one ``name: command`` per line, the name matching
``[A-Za-z0-9_-]+``; ``#`` comments and blank lines are ignored; CRLF is accepted.
Any other line, a duplicate name, an empty command or a Procfile with no entries is
an error naming ``file:line``. Unlike honcho, nothing is silently skipped.

A UTF-8 byte-order mark is dropped; a UTF-16 file is one error saying so (not five
"invalid name" lines of garbage). Lines other Procfile readers treat differently are
accepted and reported as warnings (:attr:`Procfile.warnings`, printed by ``hu check``): a
space before the colon (``web : cmd``; honcho and foreman ignore the line) and no space
after it (``web:cmd``; Heroku's parser ignores it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from honcho_uv.errors import ProcfileError
from honcho_uv.models import NAME_PATTERN, split_instance_name, validate_name

__all__ = [
    "Procfile",
    "ProcfileEntry",
    "check_procfile",
    "load_procfile",
    "parse_procfile",
    "read_procfile_text",
    "split_instance_name",
    "validate_name",
]

# ``name: command``; the groups keep the blanks around the colon for the warnings.
_LINE_RE = re.compile(rf"\A({NAME_PATTERN})([ \t]*):([ \t]*)(.*?)[ \t]*\Z")


@dataclass(frozen=True)
class ProcfileEntry:
    """One process type: its name, its shell command and the line it came from."""

    name: str
    command: str
    lineno: int


@dataclass(frozen=True)
class Procfile:
    """The entries of a Procfile, in file order (the order fixes each type's port slot)."""

    path: str
    entries: tuple[ProcfileEntry, ...]
    #: ``path:line: warning: ...`` for lines other Procfile readers would read differently.
    warnings: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def get(self, name: str) -> ProcfileEntry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def index(self, name: str) -> int:
        """The type's position in the whole Procfile (k in the PORT rule)."""
        return self.names.index(name)

    def __contains__(self, name: object) -> bool:
        return name in self.names


def check_procfile(text: str, path: str = "Procfile") -> tuple[Procfile, list[ProcfileError]]:
    """Parse *text* and collect every problem instead of stopping at the first.

    Returns the entries that parsed and one :class:`ProcfileError` per problem, in line order.
    """
    entries: list[ProcfileEntry] = []
    problems: list[ProcfileError] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "\0" in line:  # no argv or environment can carry it: exec would fail later
            problems.append(ProcfileError("contains a NUL byte", path, lineno))
            continue
        match = _LINE_RE.match(line)
        if match is None:
            problems.append(ProcfileError(_explain_bad_line(line), path, lineno))
            continue
        name, before, after, command = match.groups()
        if before:
            warnings.append(f"{path}:{lineno}: warning: space before ':' (honcho and foreman ignore this line)")
        elif command and not after:
            warnings.append(f"{path}:{lineno}: warning: no space after ':' (Heroku ignores this line)")
        if not command:
            problems.append(ProcfileError(f"process {name!r} has no command", path, lineno))
        elif name in seen:
            problems.append(
                ProcfileError(f"duplicate process name {name!r} (first on line {seen[name]})", path, lineno)
            )
        else:
            seen[name] = lineno
            entries.append(ProcfileEntry(name, command, lineno))
    if not entries and not problems:
        problems.append(ProcfileError("no processes defined", path, None))
    return Procfile(path, tuple(entries), tuple(warnings)), problems


def _explain_bad_line(line: str) -> str:
    head, colon, _ = line.partition(":")
    if colon and head.strip():
        return f"invalid process name {head.strip()!r} (use letters, digits, '_' and '-')"
    return f"expected 'name: command', got {line[:60]!r}"


def parse_procfile(text: str, path: str = "Procfile") -> Procfile:
    """Parse Procfile *text*.

    Raises:
        ProcfileError: for the first bad line, duplicate, empty command, or when there are no entries.
    """
    procfile, problems = check_procfile(text, path)
    if problems:
        first = problems[0]
        first.problems = problems  # every problem, for `hu check`
        raise first
    return procfile


def read_procfile_text(path: str | Path, display: str | None = None, *, searched: str | Path | None = None,
                       hint: str = "") -> str:
    """Read a Procfile as text; a missing or unreadable file is a :class:`ProcfileError`
    naming it as *display* (default: *path*), the directory *searched* when it is missing, and
    ending with *hint* (`` (use -f FILE or -d DIR)``, or where the name came from)."""
    p = Path(path)
    name = display or str(path)
    if not p.exists():
        raise ProcfileError(f"does not exist{f' in {searched}' if searched else ''}{hint}", name)
    if not p.is_file():
        raise ProcfileError(f"is not a file{hint}", name)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ProcfileError(f"cannot be read ({exc.strerror}){hint}", name) from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(data) > 1 and b"\0" in data[:2]):
        raise ProcfileError("is UTF-16 encoded; save it as UTF-8", name)
    return data.decode("utf-8", errors="replace")


def load_procfile(path: str | Path, display: str | None = None, *, searched: str | Path | None = None,
                  hint: str = "") -> Procfile:
    """Read and parse the Procfile at *path*; errors name it as *display* (default: *path*);
    *searched* and *hint* are for a file that cannot be read (:func:`read_procfile_text`)."""
    return parse_procfile(read_procfile_text(path, display, searched=searched, hint=hint), display or str(path))
