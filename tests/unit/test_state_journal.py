"""The state file as a journal (daemon/state.py): what is read back, and what a burst costs."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from types import SimpleNamespace

from honcho_uv.daemon.state import DaemonState, Record, StateRecorder


def _record(pid: int) -> Record:
    return Record(f"web.{pid}", pid, 1000.0 + pid / 7, pid, pid, 15, 5.0)


def test_starts_and_exits_replay_to_the_live_records(tmp_path):
    state = DaemonState(tmp_path / "s.state")
    state.write([_record(1), _record(2)])
    one = _record(1)
    state.append([_record(3)], [(one.pid, one.create_time)])
    state.append([], [(2, 99.0)])  # same pid, another process: not removed
    pid, records = state.read()
    assert pid is not None and sorted(r.pid for r in records) == [2, 3]
    assert records[0] == _record(2)  # floats survive the round trip exactly


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path):
    state = DaemonState(tmp_path / "s.state")
    state.write([_record(1)])
    with open(state.path, "a") as f:
        f.write('["+", "web.2", 2, 100')  # the crash came in the middle of this append
    assert [r.pid for r in state.read()[1]] == [1]


def test_version_1_files_are_still_read(tmp_path):
    path = tmp_path / "s.state"
    path.write_text(json.dumps({"version": 1, "daemon_pid": 42, "processes": [asdict(_record(5))]}))
    assert DaemonState(path).read() == (42, [_record(5)])


class _CountingState(DaemonState):
    def __init__(self, path):
        super().__init__(path)
        self.writes, self.appends = 0, 0

    def write(self, records):
        self.writes += 1
        super().write(records)

    def append(self, started, exited):
        self.appends += 1
        super().append(started, exited)


def _process(i: int) -> SimpleNamespace:
    return SimpleNamespace(id=i, name=f"p.{i}", alive=True, os_pid=100000 + i, create_time=5000.0 + i,
                           template=SimpleNamespace(stop_signal=15, graceful_timeout=5.0))


def test_a_burst_of_spawns_is_one_append_and_exits_compact_the_file(tmp_path):
    async def main() -> None:
        state = _CountingState(tmp_path / "s.state")
        state.write([])
        processes = [_process(i) for i in range(5000)]
        recorder = StateRecorder(state, lambda: processes)
        for p in processes:
            recorder("spawn", p)
        recorder.flush()
        assert (state.writes, state.appends) == (1, 1), "5,000 starts: one append, no rewrite"
        assert len(state.read()[1]) == 5000
        for p in processes[:4900]:
            p.alive = False
            recorder("exit", p)
        recorder.flush()
        assert state.writes == 2, "exits outnumbering the live rewrite the file whole"
        assert len(state.path.read_text().splitlines()) == 1 + 100
        assert sorted(r.pid for r in state.read()[1]) == [100000 + i for i in range(4900, 5000)]
        recorder.close()

    asyncio.run(main())
