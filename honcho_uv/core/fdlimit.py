"""Enough file descriptors for the asked formation, or one clear error before anything starts.

Each running instance holds about :data:`FDS_PER_INSTANCE` descriptors in hu: the read end
of its output pipe (two with separate stdout and stderr), and its stdin pipe with ``--stdin``
or a child's pipe end while it spawns (exits are watched without a descriptor per child). The
usual soft limit (1,024) stops a formation near 300 instances with ``EMFILE`` halfway
through its spawns, so hu raises its own soft ``RLIMIT_NOFILE`` to the hard limit at start,
as systemd and Go programs do. Children inherit the raised limit (Python, Node and Go
programs do not mind; a program that ``select()``\\ s on fds above 1,023 would).
"""

from __future__ import annotations

import resource

from honcho_uv.errors import ConfigError

__all__ = ["FDS_PER_INSTANCE", "RESERVED_FDS", "ensure_open_files"]

FDS_PER_INSTANCE = 2  # the output pipe, and stderr's or stdin's pipe (or a pipe end mid-spawn)
RESERVED_FDS = 64  # hu's own: the console, the control socket and its clients, log files


def ensure_open_files(instances: int) -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; return the new soft limit.

    Raises:
        ConfigError: the limit is too low for *instances* instances, naming what is needed
            and how to raise it. Nothing has been started when it raises.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # a hard limit of infinity some kernels refuse as soft
            pass
    needed = RESERVED_FDS + FDS_PER_INSTANCE * instances
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise ConfigError(f"{instances} processes need about {needed} open files, but the limit is {soft} "
                          f"(raise it with `ulimit -n {needed}`, or LimitNOFILE= under systemd)")
    return soft
