"""What an embedder plugs into the Manager: applications, and the exit policy.

``hu start`` itself is built from these: its console printer, log buffer and control API are
applications, and foreman's "first exit stops all" rule is an exit policy
(:class:`honcho_uv.core.foreground.Foreground`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from honcho_uv.core.process import Process
    from honcho_uv.models import ExitStatus

__all__ = ["Application", "ExitPolicy"]


class Application(Protocol):
    """An object the Manager starts and stops with itself (HttpHandler, the console printer)."""

    def start(self, loop: asyncio.AbstractEventLoop, manager: Any) -> None: ...
    def stop(self) -> None: ...
    def restart(self) -> None: ...


class ExitPolicy(Protocol):
    """Called synchronously for every unexpected exit, after the restart decision.

    *outcome* is ``"restart"`` (respawned now), ``"backoff"`` (flapping; retried later),
    ``"fatal"`` (flapping; given up) or ``"exited"`` (the restart policy said no).
    """

    def __call__(self, process: Process, status: ExitStatus, outcome: str) -> None: ...
