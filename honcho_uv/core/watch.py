"""Restart on file change: an application of the Manager (``hu start --watch``).

Design note. DESIGN.md names watchfiles; its Python binding, though, waits for changes by
sleeping ``step`` milliseconds in a loop (``RustNotify.watch``), so an idle hu would wake
several times a second, which "no periodic wake-ups from watching" forbids. So the kernel's
inotify is read directly: ``inotify_simple`` gives its file descriptor, the loop watches it,
and nothing runs until something changes (Linux only, as pidfds are). Globs are matched
with ``pathspec`` (git's wildmatch, where ``src/**/*.py`` matches ``src/app.py``, which
``fnmatch`` and ``PurePath.match`` do not), and ``.gitignore`` with git's own rules.

Guarantees (DESIGN.md "Watch"):

* globs are relative to the app root; always ignored, at any depth: ``.git``,
  ``__pycache__``, ``node_modules``, ``.venv``, the log directory, and what the app root's
  ``.gitignore`` ignores (git repository or not);
* changes are debounced: a burst ending 300 ms quiet is one restart per type, of its
  instances (each stopped, its process group gone, then spawned), then of the types that
  depend on it, in dependency order; a system line names the file that triggered it;
* directories created later are watched too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from honcho_uv.core.deps import start_levels
from honcho_uv.errors import ConfigError

__all__ = ["ALWAYS_IGNORED", "DEBOUNCE_S", "Watcher"]

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.3
ALWAYS_IGNORED = (".git/", "__pycache__/", "node_modules/", ".venv/")


class Watcher:
    """Watches *root* and restarts types whose ``watch`` globs match a change.

    Args:
        root: the app root.
        rules: type name -> (globs, ignore globs), relative to *root*.
        ignore: more paths to ignore (the log directory).
        say: prints a system line.

    Raises:
        ConfigError: not on Linux, or inotify cannot be had (at :meth:`start`).
    """

    def __init__(self, root: Path, rules: Mapping[str, tuple[Iterable[str], Iterable[str]]], *,
                 ignore: Iterable[Path] = (), say: Callable[[str], None] = lambda _: None):
        import pathspec  # only `hu start --watch` pays for it

        self.root = root.resolve()
        self.say = say
        self._specs = {name: (pathspec.PathSpec.from_lines("gitwildmatch", [_anchored(g) for g in globs]),
                              pathspec.PathSpec.from_lines("gitwildmatch", [_anchored(g) for g in ignores]))
                       for name, (globs, ignores) in rules.items()}
        lines = list(ALWAYS_IGNORED)
        for path in ignore:
            with contextlib.suppress(ValueError):  # outside the app root: nothing to ignore
                lines.append("/" + str(path.resolve().relative_to(self.root)).strip("/") + "/")
        gitignore = self.root / ".gitignore"
        if gitignore.is_file():
            lines.extend(gitignore.read_text(errors="replace").splitlines())
        self._ignored = pathspec.GitIgnoreSpec.from_lines(lines)
        self._inotify: Any = None
        self._dirs: dict[int, Path] = {}  # watch descriptor -> directory
        self._pending: dict[str, str] = {}  # type -> the first file that changed
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.manager: Any = None

    # -- application protocol ------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, manager: Any) -> None:
        if not sys.platform.startswith("linux"):
            raise ConfigError("--watch needs Linux (inotify)")
        from inotify_simple import INotify

        self._loop, self.manager = loop, manager
        try:
            self._inotify = INotify(nonblocking=True)
        except OSError as exc:
            raise ConfigError(f"--watch: cannot use inotify ({exc.strerror})") from exc
        self._watch_tree(self.root)
        loop.add_reader(self._inotify.fd, self._on_readable)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._inotify is not None and self._loop is not None:
            self._loop.remove_reader(self._inotify.fd)
            self._inotify.close()
            self._inotify = None

    def restart(self) -> None:
        pass

    # -- watching -------------------------------------------------------------------------

    def _watch_tree(self, top: Path) -> None:
        from inotify_simple import flags

        mask = (flags.CLOSE_WRITE | flags.CREATE | flags.DELETE | flags.MOVED_FROM | flags.MOVED_TO
                | flags.DELETE_SELF | flags.ONLYDIR)
        for directory, subdirs, _ in os.walk(top):
            path = Path(directory)
            if path != self.root and self._is_ignored(path, is_dir=True):
                subdirs[:] = []
                continue
            try:
                wd = self._inotify.add_watch(path, mask)
            except OSError as exc:  # gone meanwhile, or out of watches: say so once per dir
                log.warning("cannot watch %s: %s", path, exc.strerror)
                continue
            self._dirs[wd] = path
            subdirs[:] = [d for d in subdirs if not self._is_ignored(path / d, is_dir=True)]

    def _is_ignored(self, path: Path, *, is_dir: bool) -> bool:
        relative = str(path.relative_to(self.root))
        return bool(self._ignored.match_file(relative + "/" if is_dir else relative))

    def _on_readable(self) -> None:
        from inotify_simple import flags

        try:
            events = self._inotify.read(timeout=0)
        except BlockingIOError:
            return
        for event in events:
            directory = self._dirs.get(event.wd)
            if directory is None:
                continue
            if event.mask & flags.IGNORED:
                self._dirs.pop(event.wd, None)
                continue
            path = directory / event.name if event.name else directory
            is_dir = bool(event.mask & flags.ISDIR)
            if self._is_ignored(path, is_dir=is_dir):
                continue
            if is_dir and event.mask & (flags.CREATE | flags.MOVED_TO):
                self._watch_tree(path)  # a new directory: watch it (and what is already in it)
            relative = str(path.relative_to(self.root))
            for name, (globs, ignores) in self._specs.items():
                if name not in self._pending and globs.match_file(relative) and not ignores.match_file(relative):
                    self._pending[name] = relative
        if self._pending:
            if self._timer is not None:
                self._timer.cancel()
            assert self._loop is not None, "started"
            self._timer = self._loop.call_later(DEBOUNCE_S, self._fire)

    def _fire(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, {}
        manager = self.manager
        if manager is None or not manager.started or manager.stopping:
            return
        for name, path in pending.items():
            self.say(f"{path} changed: restarting {name}")
        manager.own_task(self._restart(list(pending)))

    async def _restart(self, names: list[str]) -> None:
        """Restart *names* and then every type that depends on them, in dependency order."""
        manager = self.manager
        graph = {sup.name: dict(sup.template.depends_on) for sup in manager.jobs()}
        affected = set(names)
        changed = True
        while changed:
            changed = False
            for name, deps in graph.items():
                if name not in affected and affected & set(deps):
                    affected.add(name)
                    changed = True
        levels = start_levels(graph, affected)
        for level in sorted(set(levels[n] for n in affected)):
            wave = [n for n in affected if levels[n] == level and not manager.supervisor(n).stopped]
            await asyncio.gather(*(manager.restart_process(n) for n in wave), return_exceptions=True)


def _anchored(glob: str) -> str:
    """A glob relative to the app root (``src/**/*.py`` -> ``/src/**/*.py``)."""
    return glob if glob.startswith("/") else "/" + glob

