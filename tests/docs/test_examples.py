"""Every runnable example of README.rst and docs/*.rst runs as written (issue 15).

What runs (the block grammar is in :mod:`tests.docs.rstblocks`):

* ``python`` blocks (``.. code-block:: python``) run as a script and must exit 0; when the
  next block is an output block (introduced by ``... prints::``), what the script printed
  must show its lines as a console command's output must (below);
* ``console`` blocks (``.. code-block:: console``, or a ``::`` literal block whose first line
  starts with ``$ ``) run each ``$`` command with ``bash -c``, and what it prints (stdout and
  stderr) must show the lines the doc shows under it, in order. Numbers, ``...`` and runs of
  spaces are wildcards, and other lines may come between (see ``output_mismatch``). The exit
  code is not checked (docs show failures on purpose), except 127: a command that does not
  exist fails the block. A command gets :data:`COMMAND_TIMEOUT_S` seconds; a stream needs
  ``curl --max-time``;
* file blocks (first line ``# Procfile``, ``# hu.toml``, ``# etc/gafferd.ini``...) are written
  into the app directory before the next block of their doc runs.

Opting out, with a visible RST comment (a comment: the rendered page does not show it) on its
own line before the block, naming why::

    .. no-test: needs systemd
    .. no-output-check: the listing shows the machine's user and dates

``no-test`` skips the block; ``no-output-check`` runs a console block's commands without
comparing their output.

Each doc runs like one terminal session: its blocks in order, in one temporary app directory
(seeded with ``Procfile.example`` as ``Procfile``), so a block may use what an earlier one
started. The session's environment: this worktree's ``hu``, ``gafferd`` and ``python`` first
on PATH; ``PORT`` set to a free base (``Procfile.example`` listens on it); ``NO_COLOR=1``; a
private ``XDG_RUNTIME_DIR`` (the suite's); ``HU_TEST_MARKER`` on every process. At the end of
a doc, ``hu down`` stops a ``hu start`` of its app directory, anything else that carries the
marker gets SIGTERM (then SIGKILL), and nothing may survive.

:data:`PENDING` lists blocks of docs that other people edit, which need a marker or a fix
there: each is skipped or expected to fail (not strictly: a fix there needs no change here),
with the reason. Remove an entry once its doc is fixed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.docs.rstblocks import Block, blocks, commands, output_mismatch, shown_lines
from tests.kit.hu import REPO, hu_env
from tests.kit.procs import carriers, kill_carriers
from tests.kit.wait import wait_for

pytestmark = pytest.mark.e2e

DOCS = [REPO / "README.rst", *sorted((REPO / "docs").glob("*.rst"))]
COMMAND_TIMEOUT_S = 20.0
PYTHON_TIMEOUT_S = 30.0

#: (doc, first line of the block) -> ("skip" | "xfail", reason). Blocks of docs that are not
#: this runner's to edit: each needs a ``.. no-test:`` marker or a fix in its doc.
PENDING: dict[tuple[str, str], tuple[str, str]] = {}


def _params() -> list[object]:
    params: list[object] = []
    for path in DOCS:
        for block in blocks(path):
            if block.kind not in ("python", "console"):
                continue
            marks = []
            pending = PENDING.get((path.name, block.text.splitlines()[0]))
            if pending is not None:
                kind, reason = pending
                marks.append(pytest.mark.skip(reason=reason) if kind == "skip"
                             else pytest.mark.xfail(reason=reason, strict=False))
            params.append(pytest.param(block, id=block.id, marks=marks))
    return params


def _free_port_base() -> int:
    """A base port whose first two instances and the next two types' first are free."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base > 60000:
            continue
        try:
            for port in (base, base + 1, base + 100, base + 200):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no free port base")


class DocSession:
    """One doc's terminal session: an app directory, an environment, what was started."""

    def __init__(self, doc: Path, base: Path):
        self.doc = doc
        self.root = Path(tempfile.mkdtemp(prefix="doc-", dir=base))
        self.scratch = Path(tempfile.mkdtemp(prefix="doc-x-", dir=base))
        shutil.copy(REPO / "Procfile.example", self.root / "Procfile")
        shim = self.scratch / "bin"
        shim.mkdir()
        for name, argv in (("hu", "-m honcho_uv"), ("gafferd", "-c 'from honcho_uv.cli.daemon import "
                                                              "gafferd_main; gafferd_main()'")):
            (shim / name).write_text(f'#!/bin/sh\nexec {sys.executable} {argv} "$@"\n')
            (shim / name).chmod(0o755)
        for name in ("python", "python3"):
            (shim / name).symlink_to(sys.executable)
        self.marker = os.urandom(16).hex()
        self.env = hu_env(HU_TEST_MARKER=self.marker, PORT=str(_free_port_base()))
        self.env["PATH"] = f"{shim}{os.pathsep}{self.env.get('PATH', '/usr/bin:/bin')}"
        for key in ("PROCFILE", "FORCE_COLOR", "HU_CONFIG"):
            self.env.pop(key, None)
        self._files_done: set[int] = set()
        self._outputs = 0

    def write_files_before(self, block: Block) -> None:
        """Create the files of the doc's file blocks that come before *block*."""
        for earlier in blocks(self.doc):
            if earlier.line >= block.line:
                break
            if earlier.kind == "file" and earlier.skip is None and earlier.line not in self._files_done:
                assert earlier.file is not None
                target = self.root / earlier.file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(earlier.text)
                self._files_done.add(earlier.line)

    def shell(self, command: str, timeout: float = COMMAND_TIMEOUT_S) -> tuple[int, str]:
        """Run *command* with ``bash -c`` here: (exit code, stdout and stderr). Output goes to a
        file, so a job it leaves in the background cannot hold the call up."""
        self._outputs += 1
        out = self.scratch / f"output{self._outputs}"  # a background job keeps its own file
        with open(out, "wb") as sink:
            proc = subprocess.Popen(["bash", "-c", command], cwd=self.root, env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, None)):  # a hu cleans up on TERM
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, sig)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(grace)
                        break
                raise AssertionError(f"`{command}` did not finish within {timeout:.0f} s:\n"
                                     f"{out.read_text(errors='replace')}") from None
        return code, out.read_text(errors="replace")

    def run_console(self, block: Block) -> None:
        for command in commands(block):
            code, output = self.shell(command.text)
            where = f"{block.path.name}:{command.line}: $ {command.text}"
            assert not (code == 127 and "command not found" in output), f"{where}\n{output}"
            if block.no_output_check is None:
                missing = output_mismatch(command.expected, output)
                assert missing is None, f"{where}\nthe doc shows: {missing}\nthe command printed:\n{output}"

    def run_python(self, block: Block) -> None:
        script = self.scratch / f"block_{block.line}.py"
        script.write_text(block.text)
        result = subprocess.run([sys.executable, str(script)], cwd=self.root, env=self.env, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=PYTHON_TIMEOUT_S)
        assert result.returncode == 0, f"{block.id} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        following = [b for b in blocks(self.doc) if b.line > block.line][:1]
        if following and following[0].kind == "output":
            expected = shown_lines(following[0].text.splitlines())
            missing = output_mismatch(expected, result.stdout)
            assert missing is None, f"{block.id}\nthe doc shows: {missing}\nthe script printed:\n{result.stdout}"

    def close(self) -> None:
        """Stop what the doc started (``hu down``, then SIGTERM/SIGKILL by marker); nothing may
        survive."""
        try:
            self.shell("hu down --timeout 15", timeout=30)
            for topmost_only in (True, False):  # a hu first: it stops its own children
                left = carriers(self.marker)
                pids = {proc.pid for proc in left}
                for proc in left:
                    with contextlib.suppress(psutil.Error):
                        if not topmost_only or proc.ppid() not in pids:
                            proc.terminate()  # a hu removes its socket and lock on SIGTERM
                with contextlib.suppress(AssertionError):
                    wait_for(lambda: not carriers(self.marker), 10, "the doc's processes to stop")
            survivors = carriers(self.marker)
            assert not survivors, f"{self.doc.name} left processes that ignored SIGTERM: {survivors}"
        finally:
            kill_carriers(self.marker)
            shutil.rmtree(self.root, ignore_errors=True)
            shutil.rmtree(self.scratch, ignore_errors=True)


class Sessions:
    """The session of the doc being run: one at a time, the previous doc's is closed when the
    next one starts."""

    def __init__(self, base: Path):
        self.base = base
        self.current: DocSession | None = None

    def of(self, doc: Path) -> DocSession:
        if self.current is None or self.current.doc != doc:
            self.close()
            self.current = DocSession(doc, self.base)
        return self.current

    def close(self) -> None:
        current, self.current = self.current, None
        if current is not None:
            current.close()


@pytest.fixture(scope="module")
def sessions(xdg_runtime_dir: Path) -> Iterator[Sessions]:
    base = Path(tempfile.mkdtemp(prefix="docs-", dir=xdg_runtime_dir.parent))
    open_sessions = Sessions(base)
    try:
        yield open_sessions
    finally:
        try:
            open_sessions.close()
        finally:
            shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("block", _params())
def test_doc_example_runs_as_written(block: Block, sessions: Sessions) -> None:
    if block.skip is not None:
        pytest.skip(block.skip)
    session = sessions.of(block.path)
    session.write_files_before(block)
    if block.kind == "python":
        session.run_python(block)
    else:
        session.run_console(block)
