"""T06 / T09a: crash loops in daemon mode. A template that exits at once and one whose
executable is missing go BACKOFF then FATAL (with events) under the flapping rule; the
daemon's CPU stays low, ``GET /processes`` stays fast throughout, other templates run
normally, and a stop during BACKOFF is immediate and final.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import psutil
import pytest

from tests.kit.api import JSON
from tests.kit.procs import PY, TREE
from tests.kit.wait import until

FLAP = "2 1 0.3 2"  # attempts window retry_in max_retry
INI = f"""\
[process:steady]
cmd = {PY} -u {TREE}

[process:crash]
cmd = /bin/sh -c 'exit 1'
flapping = {FLAP}
start = false

[process:missing]
cmd = /nonexistent/bin/server --port 1
flapping = {FLAP}
start = false

[process:slow]
cmd = /bin/sh -c 'exit 3'
flapping = 2 1 0.8 5
start = false
"""


async def _session(sock):
    return aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(sock)),
                                 timeout=aiohttp.ClientTimeout(total=10))


async def _watch(session, events: list[tuple[float, dict]]) -> None:
    async with session.get("http://hu/watch") as resp:
        assert resp.status == 200
        async for line in resp.content:
            if line.strip():
                events.append((time.monotonic(), json.loads(line)))


async def _state(session, name: str) -> str:
    async with session.get(f"http://hu/processes/{name}") as resp:
        return (await resp.json())["state"]


async def _crash_loop(sock, daemon_pid: int) -> dict:
    async with await _session(sock) as session:
        events: list[tuple[float, dict]] = []
        watcher = asyncio.ensure_future(_watch(session, events))
        await until(lambda: _running(session), 10, "steady running")
        steady_before = await (await session.get("http://hu/processes/steady")).json()

        latencies: list[float] = []
        probing = True

        async def probe() -> None:
            while probing:
                t = time.monotonic()
                async with session.get("http://hu/processes") as resp:
                    assert resp.status == 200
                    await resp.read()
                latencies.append(time.monotonic() - t)
                await asyncio.sleep(0.05)

        prober = asyncio.ensure_future(probe())
        hu = psutil.Process(daemon_pid)
        cpu0, t0 = sum(hu.cpu_times()[:2]), time.monotonic()
        for name in ("crash", "missing"):
            async with session.post(f"http://hu/processes/{name}/_start", data="{}", headers=JSON) as resp:
                assert resp.status == 200, await resp.text()

        async def both_fatal() -> bool:
            return all([await _state(session, n) == "FATAL" for n in ("crash", "missing")])

        await until(both_fatal, 10, "crash and missing FATAL")
        cpu1, t1 = sum(hu.cpu_times()[:2]), time.monotonic()
        probing = False
        await prober

        # a stop during BACKOFF is immediate, and nothing respawns afterwards
        async with session.post("http://hu/processes/slow/_start", data="{}", headers=JSON) as resp:
            assert resp.status == 200
        await until(lambda: _is(session, "slow", "BACKOFF"), 10, "slow in BACKOFF")
        t = time.monotonic()
        async with session.post("http://hu/processes/slow/_stop", data="{}", headers=JSON) as resp:
            assert resp.status == 200
        stop_took = time.monotonic() - t
        stopped_state = await _state(session, "slow")
        stopped_at = time.monotonic()
        await asyncio.sleep(1.0)  # past retry_in (0.8 s): proving that nothing happens
        steady_after = await (await session.get("http://hu/processes/steady")).json()
        watcher.cancel()
        return {"events": events, "latencies": latencies, "cpu": (cpu1 - cpu0) / (t1 - t0), "wall": t1 - t0,
                "stop_took": stop_took, "stopped_state": stopped_state, "stopped_at": stopped_at,
                "steady": (steady_before, steady_after)}


async def _running(session) -> bool:
    return await _state(session, "steady") == "RUNNING"


async def _is(session, name: str, state: str) -> bool:
    return await _state(session, name) == state


@pytest.mark.async_timeout(40)
async def test_t06_crash_loop_backoff_fatal_responsive_daemon(daemon):
    running = daemon(ini=INI)
    r = await _crash_loop(running.sock, running.pid)
    events = [(t, e) for t, e in r["events"] if not e["event"].startswith("proc.")]  # not the per-name copies

    for name in ("crash", "missing"):
        mine = [(t, e["event"]) for t, e in events if e.get("name") == name]
        kinds = [k for _, k in mine]
        assert kinds.count("backoff") == 2 and kinds.count("fatal") == 1, kinds
        assert kinds.index("backoff") < kinds.index("fatal") and kinds[-1] == "fatal", kinds
        # each retry waits retry_in (0.3 s) after its backoff: the monotonic timer, not a spin
        backoffs = [t for t, k in mine if k == "backoff"]
        retries = [t for t, k in mine if k == "retry"]
        assert len(retries) == 2
        for b, rt in zip(backoffs, retries, strict=False):
            assert rt - b >= 0.25, (b, rt)
    missing = [e for _, e in events if e.get("name") == "missing" and e["event"] == "spawn_error"]
    assert missing and "/nonexistent/bin/server" in missing[0]["error"]

    lat = sorted(r["latencies"])
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    assert len(lat) >= 10 and p99 < 0.1, (len(lat), p99, lat[-3:])
    spawns = sum(1 for _, e in events if e["event"] in ("spawn", "spawn_error") and e.get("name") != "steady")
    per_spawn = r["cpu"] * r["wall"] / spawns
    print(f"crash loop: {r['wall']:.2f}s, {spawns} spawns, daemon CPU {r['cpu']:.1%} "
          f"({per_spawn * 1000:.1f} ms per spawn), {len(lat)} GET /processes, p99 {p99 * 1000:.1f} ms")
    # The loop is as dense as the flapping rule allows (attempts=2 per retry_in=0.3 s: ~16
    # spawns/s), and each spawn costs the daemon a few ms of CPU (a uvloop fork of the daemon,
    # bookkeeping, its events streamed to the /watch client): ~8 % without a watcher, ~18 %
    # with one. What must hold is that the cost is per spawn, bounded by the rule, and nothing
    # spins: at gaffer's default timings (retry_in 7 s) the same loop averages well under 1 %.
    assert per_spawn < 0.025, f"{per_spawn * 1000:.1f} ms of daemon CPU per spawn"
    assert r["cpu"] < 0.35, f"daemon CPU {r['cpu']:.1%} over the {r['wall']:.2f}s crash loop"

    before, after = r["steady"]
    assert after["state"] == "RUNNING" and after["restarts"] == 0
    assert after["os_pids"] == before["os_pids"] and psutil.pid_exists(after["os_pids"][0])

    assert r["stop_took"] < 0.5 and r["stopped_state"] == "STOPPED"
    # In the order the server published them (the stream may deliver a batch up to 20 ms
    # late, so arrival times cannot tell before from after): nothing of slow after its stop.
    stop_at = next(i for i, (_, e) in enumerate(events) if e.get("name") == "slow" and e["event"] == "stop")
    late = [e for _, e in events[stop_at:] if e.get("name") == "slow" and e["event"] in ("spawn", "retry", "spawn_error")]
    assert not late, late
    log = running.output()
    assert "Traceback" not in log
    running.proc.terminate()
    assert running.proc.wait(15) == 0
