"""Moved to :mod:`honcho_uv.core.policy`; this name stays because docs/api.rst cites it."""

from honcho_uv.core.policy import FlapHistory, Verdict, record_retry, record_unexpected_exit, wants_restart

__all__ = ["FlapHistory", "Verdict", "record_retry", "record_unexpected_exit", "wants_restart"]
