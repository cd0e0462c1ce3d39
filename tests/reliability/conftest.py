from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from hu_helpers import AppDir


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/reliability/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def app(tmp_path: Path):
    """A temporary app root; anything it started and left behind is killed afterwards."""
    app = AppDir(tmp_path)
    yield app
    for proc in app.survivors():
        try:
            proc.kill()
        except psutil.Error:
            pass
