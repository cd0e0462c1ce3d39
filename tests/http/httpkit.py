"""Helpers of tests/http: the shared in-process server (apikit.py) and a ticking child."""

from __future__ import annotations

from apikit import Api, run, serve, sock_dir  # noqa: F401 - re-exported for the tests
from hu_helpers import until  # noqa: F401 - re-exported for the tests of this directory

TICKER = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done"
