"""Manager events -> the system lines the console (and the daemon's log) show."""

from __future__ import annotations

import signal
from typing import Any

__all__ = ["describe_event", "signal_name"]


def describe_event(event: str, msg: dict[str, Any]) -> str | None:
    """The system line for a Manager event, or None for events the console does not show."""
    instance = msg.get("instance") or msg.get("name")
    if event == "spawn":
        return f"{instance} started (pid={msg.get('os_pid')})"
    if event == "exit":
        if "os_pid" in msg and msg["os_pid"] is None:
            return None  # it never started: its spawn_error line said why
        sig = msg.get("term_signal")
        how = f"signal {signal_name(sig)}" if sig else f"code {msg.get('exit_status')}"
        if msg.get("requested"):
            return f"{instance} stopped ({how})"
        return f"{instance} exited with {how}"
    if event == "spawn_error":
        return f"{msg.get('error')}"
    if event == "backoff":
        return f"{msg.get('name')} is restarting too fast: retry {msg.get('retries')} after a pause"
    if event == "fatal":
        return f"{msg.get('name')} keeps crashing: gave up (FATAL)"
    if event == "retry":
        return f"{msg.get('name')} retrying (retry {msg.get('retries')})"
    if event in ("escalate", "not_ready", "unhealthy", "dependency_failed"):
        return str(msg.get("message"))
    if event == "ready":
        return f"{instance} is ready ({msg.get('probe')})"
    if event == "waiting":
        return f"{msg.get('name')} is waiting for {msg.get('on')}"
    return None


def signal_name(sig: Any) -> str:
    """``15`` -> ``SIGTERM`` (or the number as text if it names no signal)."""
    try:
        return signal.Signals(int(sig)).name
    except (TypeError, ValueError):
        return str(sig)
