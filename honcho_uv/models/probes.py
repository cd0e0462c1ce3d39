"""The probe grammar: how hu tells that an instance is ready, or still healthy.

One parser for ``hu.toml`` (``ready``, ``health``), ``--ready NAME=PROBE`` on ``hu start`` and
``hu run --with``, the daemon ini and the HTTP API (DESIGN.md "Probes")::

    started                      as soon as spawned
    N  (a number, or "N")        alive N seconds
    tcp | tcp:PORT | tcp:HOST:PORT   a connection is accepted (``port`` is an alias of ``tcp``);
                                 default 127.0.0.1 and the instance's $PORT, and then only a
                                 listener of the instance's own process tree counts
    http | http:/PATH | http://HOST:PORT/PATH   a GET answers 2xx or 3xx within 1 s
    log:REGEX  (alias regex:)    a line of the instance's output matches (re.search)
    exec:COMMAND                 COMMAND, with the instance's env and cwd, exits 0 within 5 s
    notify                       the child sends READY=1 to $NOTIFY_SOCKET (sd_notify)

A :class:`Probe` is plain data; running one is :mod:`honcho_uv.core.probes`' job.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from honcho_uv.errors import InvalidOption

__all__ = ["PROBE_KINDS", "Probe", "parse_probe"]

PROBE_KINDS = ("started", "alive", "tcp", "http", "log", "exec", "notify")
_HOST_PORT_RE = re.compile(r"\A(?:(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):)?(?P<port>[0-9]{1,5})\Z")


@dataclass(frozen=True)
class Probe:
    """One probe. ``host``/``port`` None mean 127.0.0.1 and the instance's ``$PORT``."""

    kind: str
    seconds: float | None = None  # alive
    host: str | None = None  # tcp, http
    port: int | None = None  # tcp, http
    path: str = "/"  # http
    pattern: str | None = None  # log
    command: str | None = None  # exec

    @property
    def own_port(self) -> bool:
        """The probe targets the instance's own $PORT on the default host."""
        return self.kind in ("tcp", "http") and self.host is None and self.port is None

    def __str__(self) -> str:
        if self.kind == "alive":
            return f"{self.seconds:g}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        if self.kind == "tcp":
            if self.port is None:
                return "tcp"
            return f"tcp:{host}:{self.port}" if host else f"tcp:{self.port}"
        if self.kind == "http":
            if self.host is None and self.port is None:
                return "http" if self.path == "/" else f"http:{self.path}"
            return f"http://{host or '127.0.0.1'}:{self.port}{self.path}"
        if self.kind == "log":
            return f"log:{self.pattern}"
        if self.kind == "exec":
            return f"exec:{self.command}"
        return self.kind


def parse_probe(value: object, option: str = "ready") -> Probe:
    """Parse a probe written as text or a number (see the module docstring).

    Raises:
        InvalidOption: naming *option* and saying what was expected.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidOption(option, f"expected a probe (started, N, tcp, http, log:, exec:, notify), got {value!r}")
    if isinstance(value, (int, float)):
        return _alive(float(value), option)
    text = value.strip()
    head, colon, rest = text.partition(":")
    kind = head.lower()
    if not colon and _is_number(text):
        return _alive(float(text), option)
    if kind in ("started", "notify") and not colon:
        return Probe(kind)
    if kind in ("tcp", "port"):
        return _tcp(rest, option) if colon else Probe("tcp")
    if kind == "http":
        return _http(text, rest, option) if colon else Probe("http")
    if kind in ("log", "regex") and colon:
        return Probe("log", pattern=_pattern(rest, option))
    if kind == "exec" and colon and rest.strip():
        return Probe("exec", command=rest.strip())
    raise InvalidOption(option, f"unknown probe {text[:60]!r} (expected started, N seconds, tcp[:[HOST:]PORT], "
                                f"http[:/PATH], http://HOST:PORT/PATH, log:REGEX, exec:COMMAND or notify)")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _alive(seconds: float, option: str) -> Probe:
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidOption(option, f"seconds must be a finite number >= 0, got {seconds!r}")
    return Probe("alive", seconds=seconds)


def _port(text: str, option: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise InvalidOption(option, f"port must be between 1 and 65535, got {port}")
    return port


def _tcp(rest: str, option: str) -> Probe:
    match = _HOST_PORT_RE.match(rest.strip())
    if match is None:
        raise InvalidOption(option, f"expected tcp:PORT or tcp:HOST:PORT, got 'tcp:{rest[:60]}'")
    host = match.group("host")
    return Probe("tcp", host=host.strip("[]") if host else None, port=_port(match.group("port"), option))


def _http(text: str, rest: str, option: str) -> Probe:
    if rest.startswith("/") and not rest.startswith("//"):
        return Probe("http", path=rest)
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme.lower() != "http" or not parts.hostname or port is None:
        raise InvalidOption(option, f"expected http:/PATH or http://HOST:PORT/PATH, got {text[:60]!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Probe("http", host=parts.hostname, port=_port(str(port), option), path=path)


def _pattern(pattern: str, option: str) -> str:
    try:
        re.compile(pattern.encode())
    except re.error as exc:
        raise InvalidOption(option, f"bad regular expression {pattern[:60]!r}: {exc}") from None
    return pattern
