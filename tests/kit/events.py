"""Recorders of what a Manager publishes: every event, and output bytes per instance."""

from __future__ import annotations

import collections
from typing import Any

from honcho_uv import Manager

__all__ = ["EventLog", "Output"]


class EventLog:
    """Records every Manager event (the '.' wildcard) as ``(event, msg)``."""

    def __init__(self, manager: Manager) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        manager.subscribe(".", self)

    def __call__(self, event: str, msg: dict[str, Any]) -> None:
        self.items.append((event, msg))

    def named(self, event: str, name: str | None = None) -> list[dict[str, Any]]:
        """The messages of *event* (for template *name* only, if given)."""
        return [m for e, m in self.items if e == event and (name is None or m.get("name") == name)]

    def names(self, prefix: str = "") -> list[str]:
        """The event names in order (not the ``proc.<name>.*`` copies), starting with *prefix*."""
        return [e for e, _ in self.items if not e.startswith("proc.") and e.startswith(prefix)]


class Output:
    """Collects output bytes per (instance, label) through ``Manager.monitor_io(name, label)``."""

    def __init__(self, manager: Manager, name: str = ".", label: str = ".") -> None:
        self.data: dict[tuple[str, str], bytearray] = collections.defaultdict(bytearray)
        self.chunks = 0
        manager.monitor_io(name, label, self)

    def __call__(self, label: str, msg: dict[str, Any]) -> None:
        assert isinstance(msg["data"], bytes)
        self.data[(msg["process"], label)] += msg["data"]
        self.chunks += 1

    def get(self, instance: str, label: str = "out") -> bytes:
        return bytes(self.data.get((instance, label), b""))

    def text(self, instance: str, label: str = "out") -> str:
        return self.get(instance, label).decode(errors="replace")
