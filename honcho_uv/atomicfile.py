"""The one atomic file write: a temporary file beside the target, then ``rename``.

Used for the daemon's pidfile and state file, the export writer and log rotation. After
:func:`write_atomic` returns, *path* holds exactly *data* with *mode*; a reader never sees a
partial file. After it raises, *path* is unchanged and no temporary file is left behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | Path, data: bytes, mode: int = 0o644, *, fsync: bool = False) -> None:
    """Replace *path* with *data* (file mode *mode*, not masked by the umask).

    *fsync* flushes the data to disk before the rename (an export that must survive a power
    cut); runtime files that are rewritten often skip it.

    Raises:
        OSError: the directory is not writable, the disk is full, ... (*path* unchanged).
    """
    target = Path(path)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
