"""Suite-wide pytest options."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Shared test helpers (e.g. export_fixtures.py) live next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files of the export tests instead of comparing with them",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
