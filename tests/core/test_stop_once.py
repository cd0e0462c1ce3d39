"""A stop signals each process once: the group through killpg, only escapees one by one."""

from __future__ import annotations

import sys
from pathlib import Path

from honcho_uv import Manager
from tests.kit.wait import until

COUNTER = """
import os, signal, sys, time
path = sys.argv[1]
def count(signum, frame):
    with open(path, "a") as f:
        f.write(signal.Signals(signum).name + "\\n")
signal.signal(signal.SIGTERM, count)
open(path + ".ready", "w").close()
time.sleep(0.6)  # long enough for a second signal to arrive, then leave
"""


async def test_regression_a_group_member_gets_the_stop_signal_once(env, tmp_path: Path) -> None:
    # The renovated stop sent the stop signal to the group *and* to every member of the
    # snapshot, so a child in the group got SIGTERM twice (many programs read a second
    # SIGTERM or SIGINT as "quit now, skip the graceful part").
    record = tmp_path / "signals"
    script = tmp_path / "counter.py"
    script.write_text(COUNTER)

    async with Manager() as m:
        # sh stays the leader; the counter is its child, in the same process group.
        m.add_process("w", "sh", args=["-c", f"{sys.executable} {script} {record} & wait"], env=env,
                      graceful_timeout=5)
        await until(lambda: Path(str(record) + ".ready").exists(), 10)
        await m.stop_process("w")
    assert record.read_text() == "SIGTERM\n"
