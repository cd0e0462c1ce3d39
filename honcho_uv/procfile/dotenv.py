""".env files -> variables, each remembered with the file and line that set it.

Parsed with python-dotenv (quotes, ``export``, multi-line values, ``${VAR}`` expansion). Its
public ``dotenv_values`` expands ``${VAR}`` inside single quotes too, which foreman, docker
compose and shells keep literal, so this module uses python-dotenv's own parser
(``dotenv.parser.parse_stream`` and ``dotenv.variables.parse_variables``). Those are not its
documented API: they are fenced here, and ``tests/unit/test_dotenv.py`` fails loudly if they
move.

Guarantees:

* a line python-dotenv cannot parse is an :class:`EnvFileError` naming ``FILE:LINE`` (never a
  warning on stderr and a silently dropped key); so is a NUL byte in a key or value, which no
  environment can carry; :func:`env_file_problems` lists every such line (``hu check``);
* a key given without ``=`` (``FOO`` alone) is skipped, as python-dotenv does;
* every value's origin is kept (:class:`EnvValues.origin`), so a later error about a value
  (a bad ``PORT``) names the file and line that set it, not the last file read.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from honcho_uv.errors import EnvFileError

__all__ = ["EnvValues", "env_file_problems", "load_env_files", "parse_env_text", "read_env_files", "read_env_text",
           "split_env_option"]

_IDENTIFIER_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class EnvValues:
    """Variables in file order (later files win) and where each was set (``path:line``)."""

    values: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def origin(self, key: str) -> str:
        """``"path:line"`` of the line that set *key*."""
        return self.origins.get(key, key)

    def odd_names(self) -> list[str]:
        """Warnings for names that are not shell identifiers (``app.db.host``): hu passes them
        on, but a shell cannot read them and some export formats cannot write them."""
        return [f"{self.origin(k)}: warning: {k!r} is not a shell identifier; shells and some export formats "
                f"cannot use it" for k in self.values if not _IDENTIFIER_RE.match(k)]


def split_env_option(values: Iterable[str] | None) -> list[str]:
    """``["a.env,b.env", "c.env"]`` -> ``["a.env", "b.env", "c.env"]`` (repeatable and comma lists)."""
    out: list[str] = []
    for value in values or ():
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def load_env_files(paths: Iterable[str | Path], *, required: bool = True,
                   display: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of :func:`read_env_files` as a plain dict."""
    return read_env_files(paths, required=required, display=display).values


def env_file_problems(paths: Iterable[str | Path], *, required: bool = True,
                      display: Mapping[str, str] | None = None) -> list[EnvFileError]:
    """Every problem of the env files, in order (each bad line, not only the first one);
    empty when :func:`read_env_files` would succeed."""
    problems: list[EnvFileError] = []
    for path in paths:
        try:
            read_env_files([path], required=required, display=display, problems=problems)
        except EnvFileError as exc:  # the file itself: missing, not a file, unreadable
            problems.append(exc)
    return problems


def parse_env_text(text: str, path: str = ".env") -> dict[str, str]:
    """The variables of :func:`read_env_text` as a plain dict."""
    return read_env_text(text, path).values


def read_env_files(paths: Iterable[str | Path], *, required: bool = True,
                   display: Mapping[str, str] | None = None, problems: list[EnvFileError] | None = None) -> EnvValues:
    """Read .env files in order; later files win.

    Each file may use ``${VAR}`` against the OS env and the values read before it.
    *display* maps a path to the name errors use for it (default: the path). With a
    *problems* list, a bad line is appended to it and skipped instead of raised.

    Raises:
        EnvFileError: a file is missing (when *required*), is not a regular file, cannot be
            read, or has a line that cannot be parsed (``FILE:LINE``).
    """
    merged = EnvValues()
    for path in paths:
        name = (display or {}).get(str(path), str(path))
        p = Path(path)
        if not p.exists():
            if required:
                raise EnvFileError("env file does not exist", name)
            continue
        if not p.is_file():
            raise EnvFileError("env file is not a regular file", name)
        try:
            text = p.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise EnvFileError(f"cannot be read ({exc.strerror})", name) from exc
        read_env_text(text, name, into=merged, problems=problems)
    return merged


def read_env_text(text: str, path: str = ".env", *, into: EnvValues | None = None,
                  problems: list[EnvFileError] | None = None) -> EnvValues:
    """Parse .env *text* (named *path* in errors) into *into* (or a new :class:`EnvValues`).

    ``${VAR}`` expands from the values already read and from the OS environment;
    single-quoted values stay literal. With a *problems* list, bad lines are appended to it
    (and skipped) instead of raised.

    Raises:
        EnvFileError: a line that cannot be parsed, or with a NUL byte, named ``path:line``.
    """
    # Imported with a file to parse: python-dotenv's package pulls in logging and tempfile
    # (17 ms), which `hu run` in an app without a .env should not pay.
    from dotenv.parser import parse_stream
    from dotenv.variables import parse_variables

    out = into if into is not None else EnvValues()
    text = text.removeprefix("\ufeff")
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original.string
        # python-dotenv counts the blank lines before a statement as part of it.
        lineno = binding.original.line + original[: len(original) - len(original.lstrip())].count("\n")
        shown = original.strip().splitlines()[0][:60] if original.strip() else ""
        problem = None
        if binding.error:
            problem = f"cannot parse {shown!r} (expected KEY=VALUE)"
        elif "\0" in (binding.key or "") + (binding.value or ""):
            problem = f"{shown!r} contains a NUL byte, which no environment can carry"
        if problem is not None:
            error = EnvFileError(problem, f"{path}:{lineno}")
            if problems is None:
                raise error
            problems.append(error)
            continue
        if binding.key is None or binding.value is None:
            continue
        _, _, rhs = original.partition("=")
        if rhs.lstrip().startswith("'"):
            value = binding.value
        else:
            scope = {**os.environ, **out.values}
            value = "".join(atom.resolve(scope) for atom in parse_variables(binding.value))
        out.values[binding.key] = value
        out.origins[binding.key] = f"{path}:{lineno}"
    return out
