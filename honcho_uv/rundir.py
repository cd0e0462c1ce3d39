"""Where a running ``hu start`` keeps its lock and control socket, and the lock itself.

DESIGN.md "Control of a running hu start": the runtime directory is ``$XDG_RUNTIME_DIR/hu``,
else ``/tmp/hu-<uid>``; it is created 0700 and its owner verified. Each app root gets a key
(a short hash of its absolute path): ``<key>.lock`` holds the running hu's pid under an
``flock`` (the kernel drops it when hu dies, so a crash never leaves a stale lock), and
``<key>.sock`` is the control socket. ``HU_SOCKET`` or ``--socket`` override the socket path.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from honcho_uv.errors import ConfigError, StateError

__all__ = ["AppLock", "PidLock", "app_key", "runtime_dir", "socket_path"]


def runtime_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The private runtime directory, created 0700 if missing.

    Raises:
        ConfigError: it exists but is not a directory we own with mode 0700.
    """
    env = os.environ if environ is None else environ
    base = env.get("XDG_RUNTIME_DIR")
    path = Path(base) / "hu" if base and os.path.isdir(base) else Path(f"/tmp/hu-{os.getuid()}")
    try:
        path.mkdir(mode=0o700, parents=False, exist_ok=True)
    except FileNotFoundError:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise ConfigError(f"{path}: runtime directory is not a directory owned by uid {os.getuid()}")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def app_key(app_root: str | Path) -> str:
    """A short stable key for an app root (16 hex digits of a SHA-256 of its absolute path)."""
    return hashlib.sha256(str(Path(app_root).resolve()).encode()).hexdigest()[:16]


def socket_path(app_root: str | Path, environ: Mapping[str, str] | None = None) -> Path:
    """The control socket for *app_root*: ``HU_SOCKET`` if set, else ``<runtime dir>/<key>.sock``."""
    env = os.environ if environ is None else environ
    if env.get("HU_SOCKET"):
        return Path(env["HU_SOCKET"])
    return runtime_dir(env) / f"{app_key(app_root)}.sock"


class PidLock:
    """An exclusive ``flock`` on *path*, which holds the owner's pid while it is held.

    The kernel drops the lock when its owner dies, so a crash never leaves a stale lock. With
    *remove* (``hu start``'s lock), a clean release also deletes the file, so app roots leave
    nothing behind in the runtime directory. That is safe because :meth:`acquire` only counts
    a lock on the file that is *at the path* after locking: a process that locked a file
    just unlinked by its last owner notices (its inode is no longer the path's) and retries.
    :meth:`acquire` raises :class:`StateError` with *busy* formatted with ``pid=`` (the holder's
    pid, or ``?``), and :class:`ConfigError` naming the path if the file cannot be opened.
    """

    def __init__(self, path: str | Path, busy: str, *, remove: bool = False):
        self.path = Path(path)
        self.busy = busy
        self.remove = remove
        self._fd: int | None = None

    def acquire(self) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise ConfigError(f"{self.path}: cannot open the lock file ({exc.strerror})") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = "?"
                with contextlib.suppress(OSError):
                    other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise StateError(self.busy.format(pid=other)) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # we locked a file its owner removed as we opened it: lock the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def holder(self) -> str | None:
        """The pid written by whoever holds the lock now (``?`` if unreadable), or None when
        nobody holds it. Takes nothing: a free lock is let go at once."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            with contextlib.suppress(OSError):
                return os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            return "?"
        finally:
            os.close(fd)
        return None

    def release(self) -> None:
        """Drop the lock (and, with *remove*, delete the file while still holding it)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                if self.remove:
                    self.path.unlink()
                else:
                    os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> PidLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class AppLock(PidLock):
    """One ``hu start`` per app root: a :class:`PidLock` on ``<runtime dir>/<key>.lock``,
    removed at a clean exit."""

    def __init__(self, app_root: str | Path):
        self.app_root = Path(app_root)
        super().__init__(runtime_dir() / f"{app_key(app_root)}.lock",
                         f"hu is already running in {self.app_root} (pid {{pid}})", remove=True)


def _same_file(fd: int, path: Path) -> bool:
    """Whether *fd* is the file now at *path*."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (opened.st_dev, opened.st_ino)
