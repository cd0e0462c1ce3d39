"""Fixtures live in seckit.py (a uniquely named module, so every suite can run together)."""

from seckit import daemon, run, sock_dir  # noqa: F401
