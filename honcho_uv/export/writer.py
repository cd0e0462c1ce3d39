"""Write an export: plan first, then apply atomically, removing our stale files.

Guarantees:

* each file is written to a temporary file in its directory, given its mode, flushed,
  then renamed over the target (``os.replace``): a reader sees the old or the new file;
* every file ends with a newline;
* a file is removed only if it carries the header marker of the *same* app (or an
  exporter vouches for it, like the envdir files of a runit service we wrote) and this
  export does not write it;
* an existing file that is not ours is never overwritten: the export stops first;
* paths never leave the export location (no absolute paths, no ``..``).

``plan_export`` touches nothing, which is what ``--dry-run`` prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from honcho_uv.atomicfile import write_atomic
from honcho_uv.errors import ExportError
from honcho_uv.export.base import Exporter, ExportFile, marker_app

__all__ = ["Plan", "apply_plan", "plan_export", "scan_marked"]

_HEAD_BYTES = 1024
# Directories that supervisors create inside service dirs (runit): never read (FIFOs).
_SKIP_DIRS = frozenset({"supervise"})


@dataclass(frozen=True)
class Plan:
    """What an export will do under ``location``: files to write, relative paths to remove."""

    location: Path
    writes: tuple[ExportFile, ...]
    removals: tuple[str, ...]

    def describe(self) -> list[str]:
        """One line per action, e.g. ``write  /etc/app/app.conf (0644)``."""
        lines = [f"write  {self.location / f.path} ({f.mode:04o})" for f in self.writes]
        lines += [f"remove {self.location / p}" for p in self.removals]
        return lines


def _check_relpath(path: str) -> None:
    pure = PurePosixPath(path)
    if not path or "\0" in path or pure.is_absolute() or any(p in ("", ".", "..") for p in path.split("/")):
        raise ExportError(f"refusing to write outside the export location: {path!r}")


def _read_head(path: Path) -> str:
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return ""
    try:
        return os.read(fd, _HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def scan_marked(location: Path, depth: int) -> dict[str, str | None]:
    """Regular files under *location* up to *depth* levels -> the app their marker names.

    Symlinks are not followed and count as unmarked; ``supervise`` dirs are skipped.
    """
    found: dict[str, str | None] = {}
    if not location.is_dir():
        return found

    def walk(directory: Path, rel: str, level: int) -> None:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return
        for entry in entries:
            relpath = f"{rel}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if level < depth and entry.name not in _SKIP_DIRS:
                    walk(Path(entry.path), relpath + "/", level + 1)
            elif entry.is_file(follow_symlinks=False):
                found[relpath] = marker_app(_read_head(Path(entry.path)))
            else:
                found[relpath] = None

    walk(location, "", 1)
    return found


def plan_export(exporter: Exporter, files: list[ExportFile] | None = None) -> Plan:
    """Render (unless *files* is given) and decide what to write and remove.

    Raises:
        ExportError: a path escapes the location, two files share a path, a marked file
            lacks its marker (e.g. an overriding template dropped ``{{ header }}``), or
            an existing file or directory that is not ours is in the way.
    """
    ctx = exporter.ctx
    location = ctx.location
    if location.exists() and not location.is_dir():
        raise ExportError(f"{location} exists and is not a directory")
    files = exporter.files() if files is None else files
    writes: dict[str, ExportFile] = {}
    for f in files:
        _check_relpath(f.path)
        if f.path in writes:
            raise ExportError(f"{ctx.format}: two files would be written to {f.path}")
        if f.marked and marker_app(f.content) != ctx.app:
            raise ExportError(
                f"{ctx.format}: {f.path} lacks the header line '{exporter.header}' "
                "(keep {{ header }} at the top of overridden templates)"
            )
        content = f.content if f.content.endswith("\n") else f.content + "\n"
        writes[f.path] = ExportFile(f.path, content, f.mode, f.marked)
    existing = scan_marked(location, exporter.scan_depth)
    ours = {p for p, app in existing.items() if app == ctx.app}
    ours |= exporter.owned_extras(location, ours)
    for path in writes:
        target = location / path
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise ExportError(f"{target} exists and is not a regular file; remove it or export elsewhere")
        if target.exists() and path not in ours:
            raise ExportError(
                f"{target} exists and was not written by hu export for app {ctx.app}; remove it or export elsewhere"
            )
    removals = tuple(sorted(p for p in ours if p not in writes))
    return Plan(location, tuple(writes[p] for p in sorted(writes)), removals)


def apply_plan(plan: Plan) -> None:
    """Write and remove what *plan* says. OS errors become ExportError naming the path."""
    current = ""
    try:
        for f in plan.writes:
            current = str(plan.location / f.path)
            target = plan.location / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, f.content.encode("utf-8"), f.mode, fsync=True)
        parents: set[Path] = set()
        for rel in plan.removals:
            current = str(plan.location / rel)
            path = plan.location / rel
            if path.is_file() and not path.is_symlink():
                path.unlink()
            parents.update(p for p in path.parents if plan.location in p.parents)
        for directory in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            current = str(directory)
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
    except OSError as exc:
        raise ExportError(f"{current}: {exc.strerror or exc}") from exc

