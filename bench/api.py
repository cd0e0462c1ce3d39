"""API figures: GET /processes latency with 100 processes, and output fan-out to 50 subscribers.

Usage: PYTHONPATH=. python bench/api.py [--seconds S]

The server side is a real ``hu start`` (subprocess, uvloop) whose console goes to a file;
clients run in this process on aiohttp over the unix socket.

1. Latency: a Procfile of 100 sleeping processes; 500 sequential ``GET /processes``.
2. Fan-out: 4 processes write lines as fast as they can (``yes``-like, 100-byte lines) for S
   seconds. Runs: (a) no subscriber; (b) 50 raw-stream subscribers that keep up, plus one SSE
   subscriber that never reads. Reported: console bytes/s in each run, bytes each keeping-up
   subscriber received versus what its process wrote (loss), and the slow one's drop count
   (from the server's ``dropped`` SSE events are not visible to a non-reader, so it is read
   from the stream's first event after it finally reads).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
WRITER = "yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"  # 100-byte lines, as fast as the pipe takes them


def start_hu(app: Path, sock: Path, console: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HU_SOCKET=str(sock), NO_COLOR="1")
    with open(console, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "honcho_uv", "start", "--no-timestamps"], cwd=app, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 20
    while not sock.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"hu did not start: {console.read_text()[-2000:]}")
        time.sleep(0.05)
    return proc


def stop_hu(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()


async def latency(sock: Path, n: int = 500) -> dict[str, float]:
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(str(sock))) as s:
        while True:
            async with s.get("http://localhost/pids") as r:
                if len((await r.json())["pids"]) == 100:
                    break
            await asyncio.sleep(0.1)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            async with s.get("http://localhost/processes") as r:
                await r.read()
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p99_ms": times[int(len(times) * 0.99) - 1], "max_ms": times[-1]}


async def fanout(sock: Path, console: Path, seconds: float, subscribers: int) -> dict[str, float]:
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(str(sock), limit=0)) as s:
        async with s.get("http://localhost/pids") as r:
            pids = [p["id"] for p in (await r.json())["pids"]]
        received = [0] * subscribers
        slow = None
        streams = []
        for i in range(subscribers):
            resp = await s.get(f"http://localhost/streams/{pids[i % len(pids)]}/out")
            streams.append(resp)
        if subscribers:
            slow = await s.get(f"http://localhost/streams/{pids[0]}/out?feed=eventsource")

        async def reader(i: int) -> None:
            async for chunk in streams[i].content.iter_any():
                received[i] += len(chunk)

        size0, t0 = console.stat().st_size, time.monotonic()
        tasks = [asyncio.ensure_future(reader(i)) for i in range(subscribers)]
        await asyncio.sleep(seconds)
        size1, t1 = console.stat().st_size, time.monotonic()
        out: dict[str, float] = {"console_MBps": (size1 - size0) / (t1 - t0) / 1e6}
        # Stop the writers so the streams drain, then compare with what the console got.
        async with s.post("http://localhost/processes/w/_stop", json={}) as r:
            await r.read()
        await asyncio.sleep(1.0)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if subscribers:
            out["subscriber_MB_min"] = min(received) / 1e6
            out["subscriber_MB_max"] = max(received) / 1e6
            dropped = 0
            async for line in slow.content:
                if line.startswith(b"event: dropped"):
                    data = await slow.content.readline()
                    dropped = int(data.split(b":")[-1].strip(b" }\n"))
                    break
            out["slow_subscriber_dropped_chunks"] = dropped
            slow.close()
        for resp in streams:
            resp.close()
    return out


def per_process_console_bytes(console: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with open(console, "rb") as f:
        for line in f:
            name, sep, body = line.partition(b" | ")
            if sep:
                key = name.strip().decode()
                counts[key] = counts.get(key, 0) + len(body)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hu-b-", dir="/tmp") as d:
        d = Path(d)
        (d / "Procfile").write_text("".join(f"p{i}: sleep 1000\n" for i in range(100)))
        proc = start_hu(d, d / "s.sock", d / "console.log")
        try:
            print("GET /processes, 100 processes:", asyncio.run(latency(d / "s.sock")))
        finally:
            stop_hu(proc)
        (d / "Procfile").write_text(f"w: {WRITER}\n")
        for subs in (0, 50):
            console = d / f"console{subs}.log"
            proc = start_hu(d, d / "s.sock", console)
            try:
                subprocess.run([sys.executable, "-m", "honcho_uv", "scale", "w=4"], env=dict(
                    os.environ, PYTHONPATH=str(ROOT), HU_SOCKET=str(d / "s.sock")), check=True, capture_output=True)
                time.sleep(0.5)
                result = asyncio.run(fanout(d / "s.sock", console, args.seconds, subs))
            finally:
                stop_hu(proc)
            print(f"4 writers, {subs} subscribers:", {k: round(v, 2) for k, v in result.items()})


if __name__ == "__main__":
    main()
