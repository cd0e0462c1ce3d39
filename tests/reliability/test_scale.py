"""Thousands of instances: a stop reads the process table once per wave, and leaves nothing.

Not timed (bench/scale.py measures); what is checked is the shape of the work: a stop of N
processes must not read ``/proc`` once per process (with 5,000 running that was minutes).
"""

from __future__ import annotations

import resource
import subprocess

import psutil
import pytest

from honcho_uv import Manager
from tests.kit.hu import stop_gracefully
from tests.kit.wait import until, wait_for

N = 2000


@pytest.fixture
def enough_files() -> None:
    """Each instance holds two pipes and a pidfd: raise the soft limit as hu start does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4 * N:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low for {N} instances")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8 * N)) if hard != resource.RLIM_INFINITY
                                                else max(soft, 8 * N), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.async_timeout(120)
@pytest.mark.parametrize("loop_factory", ["uvloop"], indirect=True)  # the loop hu start runs on
async def test_2000_instances_stop_with_one_table_pass_per_wave_and_leave_nothing(env, enough_files) -> None:
    async with Manager() as m:
        m.add_process("db", "sleep", args=["1000"], env=env, numprocesses=N // 2, redirect_output=["out"])
        m.add_process("web", "sleep", args=["1000"], env=env, numprocesses=N // 2, redirect_output=["out"],
                      depends_on={"db": "started"})
        await until(lambda: sum(p.alive for name in ("db", "web") for p in m.list(name)) == N, 90)
        before = m.table.reads
        m.stop()
        await m.wait_stopped()
        # Two waves (web, then db), one read each; then one fresh read to find adopted orphans
        # and one to reap adopted zombies. Not one read per process.
        assert m.table.reads - before <= 2 + 2, m.table.reads - before
    # the `marker` fixture behind `env` proves nothing carrying this test's marker survived


def _limit_files(soft: int, hard: int):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_file_limit_too_low_for_the_formation_is_one_line_before_anything_starts(app):
    app.write("Procfile", "p: sleep 60\n")
    proc = app.popen("start", "-c", "p=100", preexec_fn=_limit_files(256, 256), stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and out == b""
    assert err == (b"hu: 100 processes need about 264 open files, but the limit is 256 "
                   b"(raise it with `ulimit -n 264`, or LimitNOFILE= under systemd)\n")
    assert not app.survivors()


def test_hu_start_raises_its_soft_file_limit_to_the_hard_limit(app):
    app.write("Procfile", "p: sleep 60\n")
    proc = app.popen("start", "-c", "p=100", sock=app.sock, preexec_fn=_limit_files(256, 4096), stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: app.sock.exists() or proc.poll() is not None, 15, "hu start to listen")
        assert proc.poll() is None
        assert psutil.Process(proc.pid).rlimit(psutil.RLIMIT_NOFILE) == (4096, 4096)
    finally:
        stop_gracefully(proc)
