"""Listen addresses: parsing, policy, and creating the sockets safely.

Guarantees (reliability-anchors.md S-a, S-b):

* ``unix:/path`` sockets are bound under ``umask 077`` to a temporary name in the target
  directory, chmod 0600, then renamed into place: there is no moment when the socket is
  reachable with wider permissions, and a stale socket is replaced atomically;
* the directory must be owned by us (or be the verified runtime directory); a path longer
  than ``sun_path`` allows is a clear :class:`ConfigError`, never a traceback;
* an existing socket that accepts connections belongs to a live owner: we refuse to start
  (:class:`StateError`); one that refuses them (its owner died) is replaced; a path that is
  not a socket is never touched;
* ``tcp://host:port`` defaults to 127.0.0.1; a non-loopback host is refused unless the caller
  allows remote access *and* configured a token (:func:`check_policy`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from honcho_uv.errors import ConfigError, StateError

__all__ = ["SUN_PATH_MAX", "Bind", "Listener", "bind_socket", "check_policy", "is_loopback_host", "parse_bind",
           "unlink_if_ours"]

#: sun_path is 108 bytes on Linux, one of which is the terminating NUL.
SUN_PATH_MAX = 107
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


@dataclass(frozen=True)
class Bind:
    """One listen address: ``kind`` is ``"unix"`` (``path``) or ``"tcp"`` (``host``, ``port``)."""

    kind: str
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    @property
    def loopback(self) -> bool:
        return self.kind == "unix" or is_loopback_host(self.host)


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_bind(text: str) -> Bind:
    """``unix:/path``, ``tcp://host:port``, ``host:port``, ``:port`` or ``port`` -> :class:`Bind`.

    Raises:
        ConfigError: an address that is none of those (the message quotes it).
    """
    value = text.strip()
    if value.startswith("unix:"):
        path = value[5:]
        if path.startswith("//"):
            path = path[2:]
        if not path or path.startswith("@"):
            raise ConfigError(f"bind {text!r}: expected unix:/absolute/path (abstract sockets have no permissions)")
        return Bind("unix", path=os.path.abspath(path))
    if value.startswith("tcp://"):
        value = value[6:]
    elif "://" in value:
        raise ConfigError(f"bind {text!r}: expected unix:/path or tcp://host:port")
    if value.isdigit():
        host, port_text = "", value
    elif value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = value.rpartition(":")
    try:
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise ConfigError(f"bind {text!r}: expected a port number 0-65535") from None
    return Bind("tcp", host=host or "127.0.0.1", port=port)


def check_policy(binds: list[Bind], *, allow_remote: bool, token: str | None) -> None:
    """Refuse a non-loopback TCP bind unless remote access is allowed and a token is set."""
    for bind in binds:
        if not bind.loopback and not (allow_remote and token):
            need = "--allow-remote and a token" if not allow_remote else "a token (--token or --token-file)"
            raise ConfigError(f"refusing to listen on {bind}: a non-loopback address needs {need}")


def _check_dir(directory: Path) -> None:
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        raise ConfigError(f"{directory}: socket directory does not exist") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{directory}: not a directory")
    if st.st_uid != os.getuid():
        raise ConfigError(f"{directory}: socket directory is owned by uid {st.st_uid}, not by us ({os.getuid()})")


def _probe(path: str) -> str:
    """``"absent"``, ``"live"``, ``"stale"`` or ``"other"`` (exists, not a socket)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "absent"
    if not stat.S_ISSOCK(st.st_mode):
        return "other"
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        return "stale"
    except OSError:
        return "live"  # e.g. a full backlog or EACCES: someone is there; do not steal it
    finally:
        probe.close()
    return "live"


def _bind_unix(path: str, backlog: int) -> tuple[socket.socket, int]:
    if len(os.fsencode(path)) > SUN_PATH_MAX:
        raise ConfigError(
            f"socket path is {len(os.fsencode(path))} bytes, longer than the {SUN_PATH_MAX} a unix socket "
            f"allows: {path} (use --socket with a shorter path, or set HU_SOCKET)"
        )
    directory = Path(path).parent
    _check_dir(directory)
    state = _probe(path)
    if state == "live":
        raise StateError(f"another process is already serving on {path}")
    if state == "other":
        raise ConfigError(f"{path} exists and is not a socket; refusing to replace it")
    temp = str(directory / f".hu-{secrets.token_hex(4)}.sock")
    direct = len(os.fsencode(temp)) > SUN_PATH_MAX  # the temp name does not fit: bind in place
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o077)  # the socket is created 0600 (0700 & ~077 on Linux): never wider
    try:
        if direct:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        sock.bind(path if direct else temp)
        os.chmod(path if direct else temp, 0o600)
        if not direct:
            os.rename(temp, path)  # atomic: replaces a stale socket, never exposes a wider mode
    except OSError as exc:
        sock.close()
        with contextlib.suppress(OSError):
            if not direct:
                os.unlink(temp)
        raise ConfigError(f"cannot listen on unix:{path}: {exc.strerror or exc}") from exc
    finally:
        os.umask(old_umask)
    sock.listen(backlog)
    sock.setblocking(False)
    return sock, os.lstat(path).st_ino


def _bind_tcp(bind: Bind, backlog: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(bind.host.strip("[]"), bind.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {bind}: {exc.strerror}") from exc
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {bind}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


@dataclass
class Listener:
    """A listening socket made by :func:`bind_socket` for *bind*; *inode* is that of the unix
    socket file we created (None for TCP), so :meth:`close` never removes someone else's."""

    sock: socket.socket
    bind: Bind
    inode: int | None

    @property
    def address(self) -> str:
        """``unix:/path``, or ``tcp://host:port`` with the port actually bound."""
        if self.bind.kind == "unix":
            return f"unix:{self.bind.path}"
        host, port = self.sock.getsockname()[:2]
        return str(Bind("tcp", host=host, port=port))

    def unlink(self) -> None:
        """Remove our socket file (nobody new can connect); the socket stays open."""
        if self.bind.kind == "unix":
            unlink_if_ours(self.bind.path, self.inode)

    def close(self) -> None:
        """Remove our socket file and close the socket. After return nothing listens."""
        self.unlink()
        self.sock.close()


def bind_socket(bind: Bind, backlog: int = 128) -> Listener:
    """A non-blocking listening socket for *bind* (see the module's guarantees).

    Raises:
        ConfigError: the address is malformed, unusable or not ours to replace.
        StateError: a live process already serves on that unix socket.
    """
    if bind.kind == "unix":
        sock, inode = _bind_unix(bind.path, backlog)
        return Listener(sock, bind, inode)
    return Listener(_bind_tcp(bind, backlog), bind, None)


def unlink_if_ours(path: str, inode: int | None) -> None:
    """Remove the socket file at *path* only if it is still the one we created."""
    with contextlib.suppress(OSError):
        if inode is not None and os.lstat(path).st_ino == inode:
            os.unlink(path)
