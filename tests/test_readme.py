"""The README's embedding example runs as written (extracted from README.rst)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.kit.hu import hu_env

README = Path(__file__).resolve().parent.parent / "README.rst"


def test_readme_embedding_example_runs_as_written(tmp_path):
    block = re.search(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", README.read_text()).group(1)
    script = tmp_path / "example.py"
    script.write_text("\n".join(line[4:] for line in block.splitlines()) + "\n")
    result = subprocess.run([sys.executable, str(script)], env=hu_env(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "spawn hello.1 ", "hello from honcho_uv", "exit hello.1 0", "announcer stopped"
    ]


def test_readme_names_both_setup_commands():
    text = README.read_text()
    assert "pip install . && hu start -f Procfile.example" in text
    assert "pip install -e '.[test]' && pytest" in text
