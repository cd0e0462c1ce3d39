"""Quoting rules of the files each exporter writes, one function per consumer rule.

Every function either returns text that the named consumer reads back as exactly the
given value, or raises :class:`~honcho_uv.errors.ExportError` naming the value (some
consumers cannot carry some values at all; we refuse rather than write something that
would be read differently). The tests check these against the real parsers.
"""

from __future__ import annotations

import json
import re
from xml.sax.saxutils import escape as _xml_escape

from honcho_uv.errors import ExportError

__all__ = [
    "compose_escape",
    "envdir_content",
    "ini_value",
    "kubernetes_escape",
    "shell_quote",
    "supervisor_env_value",
    "supervisor_shell_word",
    "systemd_env_assignment",
    "systemd_envfile_value",
    "systemd_exec_arg",
    "systemd_specifiers",
    "xml_text",
    "yaml_quote",
]

_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _c_escape(value: str, quote: str) -> str:
    """systemd's C-style escapes inside a *quote*-quoted word (see systemd.syntax(7))."""
    out = []
    for c in value:
        if c in _C_ESCAPES and (c not in "'\"" or c == quote):
            out.append(_C_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return "".join(out)


def systemd_specifiers(value: str) -> str:
    """``%`` -> ``%%``: systemd expands ``%x`` specifiers in most unit settings."""
    return value.replace("%", "%%")


def systemd_env_assignment(key: str, value: str) -> str:
    """One ``Environment=`` word: ``"KEY=value"``, C-escaped, ``%`` doubled.

    ``Environment=`` does not expand ``$``, so ``$`` is written as is.
    """
    return '"' + systemd_specifiers(_c_escape(f"{key}={value}", '"')) + '"'


def systemd_exec_arg(value: str) -> str:
    """One ``ExecStart=`` word in single quotes, C-escaped, ``%`` -> ``%%``, ``$`` -> ``$$``.

    systemd expands ``$VAR`` in command lines before exec; ``$$`` is a literal ``$``,
    so the shell receives the command unchanged.
    """
    return "'" + systemd_specifiers(_c_escape(value, "'")).replace("$", "$$") + "'"


def systemd_envfile_value(value: str) -> str:
    """A value for an ``EnvironmentFile=`` line: double quotes, ``\\`` before ``" \\ ` $``.

    Inside double quotes systemd (like ``sh``) keeps newlines and removes the backslash
    before exactly those four characters, and it never expands ``$`` or ``%`` in an
    environment file. The same text sourced by ``sh`` gives the same value.
    """
    return '"' + re.sub(r'(["\\`$])', r"\\\1", value) + '"'


def shell_quote(value: str) -> str:
    """POSIX shell single quoting: ``'it'"'"'s'``; ``sh`` reads back exactly *value*."""
    if value and re.fullmatch(r"[A-Za-z0-9_@%+:,./-]+", value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


def supervisor_shell_word(value: str) -> str:
    """A word for supervisor's ``command=``, which is read by ConfigParser, then ``%``
    expansion, then ``shlex.split``.

    Shell single quoting; a whitespace character followed by ``;`` or ``#`` gets ``''``
    between them (ConfigParser would take `` ;...`` as an inline comment); ``%`` doubled.
    """
    if "\n" in value or "\r" in value:
        raise ExportError(f"supervisord: a command cannot contain a line break: {value[:60]!r}")
    quoted = "'" + value.replace("'", "'\"'\"'") + "'"
    quoted = "".join(
        c + "''" if c.isspace() and quoted[i + 1 : i + 2] in (";", "#") else c for i, c in enumerate(quoted)
    )
    return quoted.replace("%", "%%")


def supervisor_env_value(key: str, value: str) -> str:
    """*value* quoted for supervisor's ``environment=KEY=value,...`` list.

    supervisor splits that list with a non-POSIX ``shlex`` (no escapes at all) and then
    strips every quote character from both ends of each value. So a value is written in
    the quote it does not contain; values that contain both quotes, start or end with a
    quote, contain a line break, or a blank before ``;``/``#`` cannot be carried and raise
    (``--env-file`` carries any value).
    """
    problem = None
    if "\n" in value or "\r" in value:
        problem = "contains a line break"
    elif value[:1] in ("'", '"') or value[-1:] in ("'", '"'):
        problem = "starts or ends with a quote"
    elif '"' in value and "'" in value:
        problem = "contains both kinds of quote"
    elif any(c.isspace() and value[i + 1 : i + 2] in (";", "#") for i, c in enumerate(value)):
        problem = "has a blank before ';' or '#' (read as a comment)"
    if problem:
        raise ExportError(
            f"supervisord: the value of {key} {problem}, which supervisor's environment= "
            "cannot carry; use --env-file"
        )
    quote = '"' if '"' not in value else "'"
    return (quote + value + quote).replace("%", "%%")


def ini_value(key: str, value: str, fmt: str) -> str:
    """A value for an ini line read by ConfigParser without interpolation or inline comments.

    ConfigParser strips surrounding whitespace and joins continuation lines, so values
    with a line break or surrounding blanks raise.
    """
    if "\n" in value or "\r" in value:
        raise ExportError(f"{fmt}: the value of {key} contains a line break, which an ini file cannot carry")
    if value != value.strip():
        raise ExportError(f"{fmt}: the value of {key} starts or ends with a blank, which an ini file cannot carry")
    return value


def envdir_content(key: str, value: str) -> str:
    """The content of an envdir file (runit ``chpst -e``) giving *key* the value *value*.

    chpst reads the first line, removes trailing blanks and turns NUL into newline: so
    newlines are written as NUL, and a value ending in a space or tab raises. The file
    always ends with a newline, so an empty value sets an empty variable (a 0-byte file
    would unset it).
    """
    if value.endswith((" ", "\t")):
        raise ExportError(f"runit: the value of {key} ends with a blank, which chpst's envdir strips")
    if "\0" in value:
        raise ExportError(f"runit: the value of {key} contains a NUL byte")
    return value.replace("\n", "\0") + "\n"


def compose_escape(value: str) -> str:
    """``$`` -> ``$$``: Compose interpolates ``$VAR`` in every value of compose.yaml."""
    return value.replace("$", "$$")


def kubernetes_escape(value: str) -> str:
    """``$`` -> ``$$`` for ``command``/``args``/``env[].value``, where Kubernetes expands
    ``$(VAR)`` and turns every ``$$`` into ``$``."""
    return value.replace("$", "$$")


_YAML_UNSAFE = re.compile("[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def yaml_quote(value: object) -> str:
    """A YAML double-quoted scalar for *value* (JSON string syntax, which YAML includes).

    Characters YAML would fold as line breaks or reject as non-printable are written as
    ``\\uXXXX`` escapes; everything else is kept as UTF-8.
    """
    text = json.dumps(str(value), ensure_ascii=False)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: str) -> str:
    """*value* escaped for XML character data; ``\\r`` as ``&#13;`` so it survives parsing.

    XML 1.0 cannot carry other control characters: those raise.
    """
    if _XML_BAD.search(value):
        raise ExportError(f"launchd: a plist cannot carry the control characters in {value[:60]!r}")
    return _xml_escape(value, {'"': "&quot;", "\r": "&#13;"})
