"""Exec a command as another user: ``python -I path/to/_privdrop.py UID GID [--terminal] -- ARGV...``.

The child side of ``ProcessTemplate.uid``/``gid``. uvloop's ``subprocess_exec`` cannot change
user and its ``preexec_fn`` blocks the loop, so the spawn execs this tiny program, which drops
privileges (supplementary groups, then gid, then uid) and execs the real command in the same
process (same pid). It is run by file path with ``-I`` and imports only the standard
library, so neither the child's environment nor its working directory can substitute other
code for it (``-m`` would search the cwd and PYTHONPATH). With ``--terminal`` it first makes
the pty on its stdin the controlling terminal of its session (a tty child on that loop). On
failure it writes one line to stderr and exits 127, like a shell. UID or GID -1: unchanged.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import sys
import termios


def main(argv: list[str]) -> None:
    try:
        uid, gid = int(argv[0]), int(argv[1])
        separator = argv.index("--")
        command = argv[separator + 1 :]
        terminal = "--terminal" in argv[2:separator]
    except (IndexError, ValueError):
        sys.stderr.write("usage: _privdrop.py UID GID [--terminal] -- COMMAND...\n")
        os._exit(2)
    try:
        if terminal:  # stdin is a pty's slave: make it our session's controlling terminal
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if gid >= 0:
            os.setgroups([gid])
            os.setgid(gid)
        if uid >= 0:
            if gid < 0:
                entry = pwd.getpwuid(uid)
                os.initgroups(entry.pw_name, entry.pw_gid)
                os.setgid(entry.pw_gid)
            os.setuid(uid)
        os.execvp(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"hu: cannot run {command[0]!r} as uid={uid} gid={gid}: {exc.strerror}\n")
        os._exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])
