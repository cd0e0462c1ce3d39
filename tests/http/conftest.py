"""Fixtures live in httpkit.py (a uniquely named module, so tests/http and tests/control can run together)."""

from httpkit import run, sock_dir  # noqa: F401
