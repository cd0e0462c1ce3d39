"""T17 (G9): stats under churn. A process forking ~50 short-lived children a second and
one that keeps exiting (and being respawned) while /stats, /stats/<name> and /pids/<id>
are polled ~50 times a second: never a 5xx, no exception in the daemon's log, vanished
pids left out, cpu within [0, 100 * ncpu], inaccessible fields null."""

from __future__ import annotations

import signal
import time

import psutil
from rel_daemon import PY, daemons, get, wait_for  # noqa: F401

from honcho_uv.core.stats import StatsSampler

FORKER = (
    "import os, time\n"
    "while True:\n"
    "    if os.fork() == 0:\n"
    "        time.sleep(0.015)\n"
    "        os._exit(0)\n"
    "    time.sleep(0.02)\n"
    "    while True:\n"
    "        try:\n"
    "            if os.waitpid(-1, os.WNOHANG)[0] == 0: break\n"
    "        except ChildProcessError: break\n"
)

def _check_sample(sample: dict, ncpu: int) -> None:
    assert sample["os_pid"] is not None and sample.get("create_time") is not None, sample  # gone ones are omitted
    cpu = sample.get("cpu")
    assert cpu is None or 0.0 <= cpu <= 100.0 * ncpu, sample
    for child in sample.get("children", []):
        _check_sample(child, ncpu)


def test_t17_stats_under_churn_never_fail(daemons, tmp_path):
    forker = tmp_path / "forker.py"
    forker.write_text(FORKER)
    ini = daemons.dir / "app.ini"
    ini.write_text(f"[process:churn]\ncmd = {PY} -u {forker}\n\n"
                   "[process:flicker]\ncmd = /bin/sh -c 'sleep 0.03'\nflapping = 1000 1 0.01 1000\n")
    daemon = daemons.start(str(ini), "--bind", f"unix:{daemons.sock}")
    wait_for(lambda: get(daemons.sock, "/processes/churn")[1].get("state") == "RUNNING", what="churn running")
    ncpu = psutil.cpu_count() or 1
    counts = {"requests": 0, "404": 0, "children_seen": 0}
    deadline = time.monotonic() + 3.0
    known: list[int] = []
    while time.monotonic() < deadline:
        t = time.monotonic()
        status, body = get(daemons.sock, "/pids")
        assert status == 200, body
        known = ([p["id"] for p in body["pids"]] + known)[:20]  # recent ids: many have vanished since
        for path in ("/stats", "/stats/churn", "/stats/flicker", *(f"/pids/{i}" for i in known[:4])):
            status, body = get(daemons.sock, path)
            counts["requests"] += 1
            assert status < 500, (path, status, body)
            if status == 404:
                counts["404"] += 1
                assert body["error"] == "unknown_process", body
                continue
            assert status == 200, (path, status, body)
            if path == "/stats":
                groups = body["stats"]
            elif path.startswith("/stats/"):
                groups = [body]
            else:
                groups = [{"stats": [body["stats"]] if body["stats"] else []}]
            for group in groups:
                for sample in group["stats"]:
                    _check_sample(sample, ncpu)
                    counts["children_seen"] += len(sample.get("children", []))
                if group.get("cpu") is not None:
                    assert 0.0 <= group["cpu"] <= 100.0 * ncpu * max(1, len(group["stats"]))
        time.sleep(max(0.0, 0.02 - (time.monotonic() - t)))
    restarts = get(daemons.sock, "/processes/flicker")[1]["restarts"]
    assert counts["requests"] >= 100, counts
    assert counts["children_seen"] > 0 and restarts >= 10, (counts, restarts)  # there was churn
    log = daemons.log(daemon)
    assert "Traceback" not in log and "[ERROR]" not in log, log[-2000:]
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(15) == 0


def test_t17_inaccessible_fields_are_null_and_vanished_pids_none(monkeypatch):
    proc = psutil.Process()

    def denied(self, *args, **kwargs):
        raise psutil.AccessDenied(self.pid)

    platform = psutil._psplatform.Process  # below psutil's oneshot cache: as /proc would refuse
    monkeypatch.setattr(platform, "memory_info", denied)
    monkeypatch.setattr(platform, "uids", denied)
    sample = StatsSampler().sample(proc.pid, proc.create_time())
    assert sample is not None
    assert sample["mem_info1"] is None and sample["mem_info2"] is None and sample["username"] is None
    assert sample["cpu"] is not None and sample["create_time"] == proc.create_time()
    # a recycled pid (create time mismatch) and a vanished pid both give None, never raise
    assert StatsSampler().sample(proc.pid, proc.create_time() - 1000.0) is None
    gone = psutil.Popen(["true"])
    gone.wait()
    assert StatsSampler().sample(gone.pid, None) is None
