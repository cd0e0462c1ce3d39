"""Golden files: every format's output for the tricky app, compared byte for byte.

Regenerate on purpose only: ``pytest tests/unit/export --update-golden``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.kit.export_app import golden_context, render

GOLDEN = Path(__file__).parent / "golden"

CASES = {
    "systemd": dict(user="deploy"),
    "systemd-env-file-user-units": dict(env_file=True, user_units=True),
    "gafferd": dict(user="deploy"),
    "supervisord": dict(user="deploy", log_dir="/var/log/tricky"),
    "runit": dict(user="deploy"),
    "launchd": dict(log_dir="/usr/local/var/log/tricky"),
    "compose": dict(),
    "compose-image": dict(image="registry.example/tricky:1.0", listen=["web", "clock"]),
    "kubernetes": dict(image="registry.example/tricky:1.0"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, update_golden: bool) -> None:
    fmt = case.split("-")[0]
    files = render(golden_context(fmt, **CASES[case]))
    directory = GOLDEN / case
    if update_golden:
        shutil.rmtree(directory, ignore_errors=True)
        for f in files:
            target = directory / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            content = f.content if f.content.endswith("\n") else f.content + "\n"
            target.write_bytes(content.encode())
    expected = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    assert sorted(f.path for f in files) == expected
    for f in files:
        assert f.content.endswith("\n"), f.path
        assert f.content.encode() == (directory / f.path).read_bytes(), f"{case}/{f.path} differs from golden"
