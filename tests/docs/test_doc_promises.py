"""Issue 15, "every documented promise holds": what README.rst and docs/*.rst say that the
example runner (test_examples.py) cannot check by running a block, one test per defect.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
import uvloop

from honcho_uv import Manager, ProcessTemplate
from honcho_uv.cli import loop as cli_loop
from tests.docs.rstblocks import blocks, commands, output_mismatch, pattern_of
from tests.kit.events import Output
from tests.kit.hu import REPO
from tests.kit.wait import until

DOCS = [REPO / "README.rst", *sorted((REPO / "docs").glob("*.rst"))]


def test_regression_docs_name_only_files_in_the_repository():
    # http.rst linked docs/reliability-security.rst (it is reliability.rst); reliability.rst and
    # architecture.rst cited design notes (reliability-anchors.md, DESIGN.md...) that are not
    # in the repository.
    missing = []
    for doc in DOCS:
        for name in set(re.findall(r"[A-Za-z0-9_./-]+\.(?:rst|md)\b", doc.read_text())):
            if name.endswith(".md") or not ((REPO / name).exists() or (REPO / "docs" / name).exists()):
                missing.append(f"{doc.name}: {name}")
    assert not missing, missing


def test_regression_the_foreman_table_says_what_dash_f_does_to_the_app_root():
    # foreman's `-f dir/Procfile` makes dir the app root; hu's does not (the behaviour is
    # tests/e2e/test_names_and_ports.py::test_regression_dash_f_names_the_file_and_leaves_the_app_root).
    text = (REPO / "docs" / "cli.rst").read_text()
    table = text[text.index("Coming from honcho or foreman"):]
    row = next(line for line in table.splitlines() if line.startswith("``-f dir/Procfile``"))
    assert "the app root becomes ``dir``" in row and "``-f`` names the file only" in row
    assert "``-d dir`` for foreman's behaviour" in table


def test_regression_reliability_cites_no_private_notes():
    text = (REPO / "docs" / "reliability.rst").read_text()
    assert not re.search(r"\b(?:RA|PA|GS)\b|§", text), "citations of the design notes (RA §x, PA, GS)"


def test_every_test_reliability_rst_cites_exists():
    # ``file.py::test_name`` names a test; a bare ``::test_name`` is in the file named before it.
    text = (REPO / "docs" / "reliability.rst").read_text()
    files: list = []
    missing = []
    for path, name in re.findall(r"``((?:[\w/]+\.py)?)::(\w+)``", text):
        if path:
            files = [p for p in (REPO / "tests").rglob(Path(path).name) if str(p).endswith(path.removeprefix("tests/"))]
        if not any(re.search(rf"def {name}\b", p.read_text()) for p in files):
            missing.append(f"{path or '(the file before)'}::{name}")
    assert not missing, missing


async def test_regression_embedding_children_find_python_on_path():
    # docs/api.rst's examples ran `python ...` with os_env defaulting to false: no PATH.
    assert ProcessTemplate("t", "true").os_env is True
    async with Manager() as manager:
        out = Output(manager)
        manager.add_process("py", "python -c 'import os; print(os.environ[\"PATH\"])'", redirect_output=["out"],
                            restart="never")
        await until(lambda: out.text("py.1"), what="the output of py.1")
        assert out.text("py.1") == os.environ["PATH"] + "\n"


def test_regression_readme_says_how_to_get_uvloop():
    # The README said "uvloop when you ask for it" without saying how.
    readme = (REPO / "README.rst").read_text()
    assert "Manager(loop=uvloop.new_event_loop())" in readme and "uvloop.run(main())" in readme
    assert "HU_LOOP=asyncio" in readme


def test_the_readme_uvloop_recipe_runs_the_manager_on_uvloop():
    loop = uvloop.new_event_loop()
    try:
        manager = Manager(loop=loop)
        manager.start()
        seen = []
        manager.add_process("x", "echo hi", redirect_output=["out"], restart="never")
        manager.monitor_io("x", "out", lambda label, msg: seen.append(msg["data"]))
        manager.on_idle(manager.stop)
        manager.run()
        assert isinstance(manager.loop, uvloop.Loop) and seen == [b"hi\n"]
    finally:
        loop.close()


@pytest.mark.parametrize("setting,expected", [("", uvloop.new_event_loop), ("asyncio", None)])
def test_the_hu_command_runs_on_uvloop_unless_hu_loop_says_asyncio(monkeypatch, setting, expected):
    monkeypatch.setenv("HU_LOOP", setting)
    assert cli_loop.loop_factory() is expected


def test_the_async_with_form_runs_under_uvloop_run():
    async def main():
        async with Manager() as manager:
            return type(manager.loop)

    assert uvloop.run(main()) is uvloop.Loop


# -- the runner's own grammar ---------------------------------------------------------------------


def test_shown_output_wildcards_numbers_ellipses_and_spaces():
    assert pattern_of("hu: running in the background (pid 4242); `hu down` stops it").match(
        "hu: running in the background (pid 17); `hu down` stops it")
    assert pattern_of('{"pids": [6], ...}').match('{"pids": [12], "processes": []}')
    assert not pattern_of('{"ok": true}').match('{"ok": false}')
    assert output_mismatch(["a 1", "c 3"], "a 10\nb\nc 30\n") is None
    assert output_mismatch(["c 3", "a 1"], "a 10\nb\nc 30\n") == "a 1", "in order"


def test_markers_console_commands_and_file_blocks_are_read(tmp_path):
    doc = tmp_path / "x.rst"
    doc.write_text(
        "Text::\n\n    # Procfile\n    web: run\n\n"
        ".. no-test: needs systemd\n\n.. code-block:: console\n\n    $ systemctl start x\n\n"
        ".. no-output-check: the date varies\n\n.. code-block:: console\n\n"
        "    $ echo a \\\n        b\n    a b\n     continued\n    $ date\n\n"
        "It prints::\n\n    42\n")
    found = blocks(doc)
    assert [(b.kind, b.file, b.skip, b.no_output_check) for b in found] == [
        ("file", "Procfile", None, None), ("console", None, "needs systemd", None),
        ("console", None, None, "the date varies"), ("output", None, None, None)]
    first, second = commands(found[2])
    assert first.text == "echo a \\\n    b" and first.expected == ["a b continued"]
    assert second.text == "date" and second.expected == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_doc_is_valid_rst(doc):
    # readiness.rst's probe table was malformed (text in the column margin), so the page
    # rendered as an error: a doc nobody can read promises nothing.
    core = pytest.importorskip("docutils.core")
    warnings = io.StringIO()
    core.publish_doctree(doc.read_text(), source_path=str(doc),
                         settings_overrides={"warning_stream": warnings, "report_level": 2, "halt_level": 5,
                                             "syntax_highlight": "none"})
    assert not warnings.getvalue(), warnings.getvalue()
