"""Fixtures live in e2ekit.py (a uniquely named module, so tests/http and tests/control can run together)."""

from e2ekit import short_dir, spawn  # noqa: F401
