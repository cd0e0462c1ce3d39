"""API figures: GET /processes latency with 100 processes, and output fan-out to 50 subscribers.

Usage: PYTHONPATH=. python bench/api.py [--seconds S] [--reps N] [--skip-latency] [--json FILE]
                                         [--console-dir DIR] [--max-load L]

It first waits until the 1-minute load average is below ``--max-load`` (default 1.0).

The server side is a real ``hu start`` (subprocess, uvloop) whose console goes to a file;
clients talk to it over its unix socket. Standard library, psutil and aiohttp only.

1. Latency: a Procfile of 100 sleeping processes; 500 sequential ``GET /processes`` on one
   keep-alive aiohttp connection; p50 / p99 / max.

2. Fan-out. Procfile: ``w`` (x4) writes 100-byte lines as fast as the pipe takes them
   (``yes``), ``t`` (x1) is a ticker writing numbered 100-byte lines
   (``t 0000001234 xxx...``) at a fixed rate (default 2,000 lines/s, 10 lines per write).
   Two kinds of run, interleaved (``base, subs``, ``subs, base``, ...), ``--reps`` of each:

   * *base*: no subscriber;
   * *subs*: 50 raw-stream subscribers to ``GET /streams/<t.1>/out``, spread over 5 client
     processes (10 each; raw sockets that only receive during the window and check after
     it, so the clients take little of a small machine's CPU), plus one Server-Sent-Events subscriber to
     ``GET /streams/<w.1>/out`` (a full-speed writer) on a plain socket that never reads
     during the window.

   In both, the console bytes/s is the growth of the console file (in ``--console-dir``,
   default /tmp, i.e. disk; /dev/shm for tmpfs) over a ``--seconds``
   window that starts once everything runs (and, in *subs*, once every subscriber has
   received a line). Each keeping-up subscriber reassembles lines and checks that the
   sequence numbers are contiguous from the first it saw to the last it saw (a leading
   fragment is skipped; any other malformed line is counted as broken): loss = the sum of
   the gaps. After the window the writers are stopped (``POST /processes/w/_stop``), which
   ends the slow subscriber's stream; it then reads everything the server kept for it and
   reports the last ``event: dropped`` count it carries (drops are counted in chunks, i.e.
   pipe reads, not lines), plus how many output lines it did receive. Also reported: the
   ticker's delivered rate (lines over each subscriber's first-to-last span) and the longest
   time a subscriber waited between two chunks (the ticker is starved while the console is
   under backpressure, see docs/benchmarks.rst).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parents[1]
WRITER = "yes " + "x" * 99  # 100-byte lines, as fast as the pipe takes them
POLL_S = 0.01  # how often a subscriber client reads its sockets
LINE_LEN = 99  # ticker line without its newline: "t " + 10 digits + " " + 86 x
TICKER = r"""
import os, sys, time
rate, batch = float(sys.argv[1]), int(sys.argv[2])
pad = b"x" * 86
t0, i = time.monotonic(), 0
while True:
    delay = t0 + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    os.write(1, b"".join(b"t %010d %s\n" % (n, pad) for n in range(i, i + batch)))
    i += batch
"""


# -- small helpers --------------------------------------------------------------------------

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def api(sock: Path, method: str, path: str, body: Any = None) -> Any:
    conn = UnixHTTPConnection(str(sock))
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status} {data[:200]!r}")
        return json.loads(data)
    finally:
        conn.close()


def start_hu(app: Path, sock: Path, console: Path, concurrency: str | None = None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    cmd = [sys.executable, "-m", "honcho_uv", "start", "--no-timestamps", "--socket", str(sock)]
    if concurrency:
        cmd += ["-c", concurrency]
    with open(console, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=app, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 20
    while not sock.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"hu did not start: {console.read_bytes()[-2000:]!r}")
        time.sleep(0.05)
    return proc


def stop_hu(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_pids(sock: Path, n: int, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            pids = api(sock, "GET", "/pids")["pids"]
            if len(pids) >= n:
                return pids
        except (OSError, RuntimeError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"fewer than {n} processes running after {timeout} s")
        time.sleep(0.1)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of *pid* (its reaped children not included)."""
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


# -- 1. latency -----------------------------------------------------------------------------

async def latency(sock: Path, n: int = 500) -> dict[str, float]:
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(str(sock))) as s:
        async with s.get("http://localhost/processes") as r:  # warm-up, and a sanity check
            procs = (await r.json())["processes"]
            assert sum(p["running"] for p in procs) == 100, procs[:2]
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            async with s.get("http://localhost/processes") as r:
                await r.read()
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p99_ms": times[int(len(times) * 0.99) - 1], "max_ms": times[-1]}


def run_latency(base: Path) -> dict[str, float]:
    d = base / "lat"
    d.mkdir()
    (d / "Procfile").write_text("".join(f"p{i}: sleep 1000\n" for i in range(100)))
    proc = start_hu(d, d / "s.sock", d / "console.log")
    try:
        wait_pids(d / "s.sock", 100)
        return asyncio.run(latency(d / "s.sock"))
    finally:
        stop_hu(proc)


# -- 2a. a keeping-up subscriber (runs in a client process) ---------------------------------

class SeqCheck:
    """Reassembles lines from raw chunks and checks the ticker's sequence numbers."""

    def __init__(self) -> None:
        self.buf = b""
        self.first: int | None = None
        self.last: int | None = None
        self.lines = 0
        self.lost = 0
        self.disorder = 0
        self.broken = 0
        self.head_skipped = 0
        self.t_first = self.t_last = 0.0  # time.monotonic() of the first / last line (system-wide clock)
        self.max_gap_s = 0.0  # longest time between two chunks, once lines flow

    def feed(self, chunk: bytes, now: float) -> None:
        """*chunk*: decoded body bytes that arrived at *now* (time.monotonic())."""
        if self.first is not None:
            self.max_gap_s = max(self.max_gap_s, now - self.t_last)
        parts = (self.buf + chunk).split(b"\n")
        self.buf = parts.pop()
        for line in parts:
            ok = len(line) == LINE_LEN and line[:2] == b"t " and line[12:13] == b" "
            n = int(line[2:12]) if ok and line[2:12].isdigit() else None
            if n is None:
                if self.first is None:
                    self.head_skipped += 1  # a fragment of a line that began before we subscribed
                else:
                    self.broken += 1
                continue
            self.lines += 1
            self.t_last = now
            if self.first is None:
                self.first = n
                self.t_first = now
            elif n > self.last + 1:
                self.lost += n - self.last - 1
            elif n <= self.last:
                self.disorder += 1
            self.last = max(n, self.last if self.last is not None else n)

    def result(self) -> dict[str, Any]:
        return {"lines": self.lines, "first": self.first, "last": self.last, "lost": self.lost,
                "disorder": self.disorder, "broken": self.broken, "head_skipped": self.head_skipped,
                "t_first": self.t_first, "t_last": self.t_last, "max_gap_s": self.max_gap_s}


class Dechunker:
    """Incremental HTTP/1.1 response parser: status line and headers, then a chunked body."""

    def __init__(self) -> None:
        self.buf = b""
        self.status = 0
        self.in_body = False
        self.left = 0  # bytes of the current chunk still to come
        self.crlf = False  # the CRLF after a chunk's data is due
        self.done = False

    def feed(self, data: bytes) -> bytes:
        self.buf += data
        out = []
        if not self.in_body:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return b""
            self.status = int(self.buf.split(b" ", 2)[1])
            self.buf, self.in_body = self.buf[end + 4:], True
        while self.buf and not self.done:
            if self.left:
                part = self.buf[:self.left]
                out.append(part)
                self.left -= len(part)
                self.buf = self.buf[len(part):]
                self.crlf = not self.left
            elif self.crlf:
                if len(self.buf) < 2:
                    break
                self.buf, self.crlf = self.buf[2:], False
            else:
                end = self.buf.find(b"\r\n")
                if end < 0:
                    break
                self.left = int(self.buf[:end].split(b";")[0], 16)
                self.buf = self.buf[end + 2:]
                self.done = self.left == 0
        return b"".join(out)


def subscriber_main(sock: str, pid: int, n: int) -> None:
    """Client-process entry: *n* raw subscribers to /streams/<pid>/out; 'ready' once each has
    body bytes; on a line on stdin, stop and print one JSON list of per-subscriber results.

    Lean on purpose: during the window each subscriber only ``recv``s and keeps (time, bytes);
    parsing and sequence checks run after the stop. On a 2-core machine an aiohttp client
    that checked every line as it came took half a core, which hu's console then lacked.
    """
    conns = []
    for _ in range(n):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(sock)
        c.sendall(f"GET /streams/{pid}/out HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        c.setblocking(False)
        conns.append(c)
    received: dict[socket.socket, list[tuple[float, bytes]]] = {c: [] for c in conns}

    def has_body(chunks: list[tuple[float, bytes]]) -> bool:
        data = b"".join(d for _, d in chunks)
        head = data.find(b"\r\n\r\n")
        return head >= 0 and len(data) > head + 4 + LINE_LEN

    ready = False
    # Poll every POLL_S instead of waking for each chunk: 100 wake-ups a second per client
    # process, not one per chunk per subscriber (10,000 a second in all), whose scheduling
    # cost is what the clients took from hu on a 2-core machine. Arrival times are thus
    # rounded to POLL_S; the socket buffers hold far more than POLL_S of the ticker.
    while not select.select([sys.stdin], [], [], POLL_S)[0]:
        now = time.monotonic()
        for c in conns:
            while True:
                try:
                    data = c.recv(1 << 20)
                except BlockingIOError:
                    break
                if not data:
                    break
                received[c].append((now, data))
        if not ready and all(has_body(r) for r in received.values()):
            ready = True
            print("ready", flush=True)
    results = []
    for c in conns:
        c.close()
        parser, check = Dechunker(), SeqCheck()
        for when, data in received[c]:
            body = parser.feed(data)
            if body:
                check.feed(body, when)
        assert parser.status == 200, parser.status
        results.append(check.result())
    print(json.dumps(results), flush=True)


# -- 2b. the slow subscriber (a plain socket that does not read during the window) ----------

class SlowSSE:
    def __init__(self, sock: Path, pid: int):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.s.connect(str(sock))
        self.s.sendall(f"GET /streams/{pid}/out HTTP/1.1\r\nHost: localhost\r\n"
                       "Accept: text/event-stream\r\n\r\n".encode())

    def drain(self, timeout: float = 20) -> dict[str, Any]:
        """Read until the chunked body ends (the stream ends when its process exits)."""
        self.s.settimeout(timeout)
        raw = bytearray()
        while True:
            try:
                data = self.s.recv(1 << 20)
            except TimeoutError:
                break
            if not data:
                break
            raw += data
            if raw.endswith(b"\r\n0\r\n\r\n"):
                break
        self.s.close()
        head, _, body = bytes(raw).partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        text = dechunk(body)
        drops = [int(m) for m in re.findall(rb'event: dropped\ndata: \{"dropped": (\d+)\}', text)]
        return {"status": status, "dropped_events": len(drops), "dropped": drops[-1] if drops else 0,
                "output_events": text.count(b"event: output\n"),
                "lines_received": text.count(b"\ndata: ") - len(drops),
                "complete": raw.endswith(b"\r\n0\r\n\r\n")}


def dechunk(body: bytes) -> bytes:
    out, i = [], 0
    while i < len(body):
        j = body.find(b"\r\n", i)
        if j < 0:
            break
        size = int(body[i:j].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(body[j + 2:j + 2 + size])
        i = j + 2 + size + 2
    return b"".join(out)


# -- 2c. one fan-out run --------------------------------------------------------------------

def fanout_run(base: Path, tag: str, with_subs: bool, args: argparse.Namespace) -> dict[str, Any]:
    d = base / tag
    d.mkdir()
    console = Path(args.console_dir) / f"hu-apibench-{os.getpid()}-{tag}.log"
    (d / "ticker.py").write_text(TICKER)
    (d / "Procfile").write_text(f"w: {WRITER}\nt: {sys.executable} -u ticker.py {args.rate} 10\n")
    sock = d / "s.sock"
    hu = start_hu(d, sock, console, "w=4,t=1")
    clients: list[subprocess.Popen] = []
    slow = None
    out: dict[str, Any] = {"subscribers": args.clients * args.per_client if with_subs else 0}
    try:
        pids = wait_pids(sock, 5)
        ids = {p["name"]: p["id"] for p in pids}
        t0_ready = time.monotonic()
        if with_subs:
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            for _ in range(args.clients):
                clients.append(subprocess.Popen(
                    [sys.executable, str(Path(__file__).resolve()), "--subscriber", str(sock), str(ids["t.1"]),
                     str(args.per_client)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
                    preexec_fn=(lambda n=args.nice_clients: os.nice(n)) if args.nice_clients else None))
            slow = SlowSSE(sock, ids["w.1"])
            for c in clients:
                line = c.stdout.readline()
                if line.strip() != "ready":
                    raise SystemExit(f"subscriber client failed: {line!r}")
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t0_ready)))  # same minimum warm-up in both kinds
        procs = [hu.pid] + [c.pid for c in clients]
        cpu0 = [cpu_s(p) for p in procs]
        size0, t0 = console.stat().st_size, time.monotonic()
        time.sleep(args.seconds)
        size1, t1 = console.stat().st_size, time.monotonic()
        cpu1 = [cpu_s(p) for p in procs]
        window = t1 - t0
        out["console_MBps"] = (size1 - size0) / window / 1e6
        out["hu_cpu_pct"] = 100 * (cpu1[0] - cpu0[0]) / window
        out["clients_cpu_pct"] = 100 * sum(b - a for a, b in zip(cpu0[1:], cpu1[1:], strict=False)) / window
        api(sock, "POST", "/processes/w/_stop", {})
        if with_subs:
            for c in clients:
                c.stdin.write("stop\n")
                c.stdin.flush()
            subs = []
            for c in clients:
                res, _ = c.communicate(timeout=30)
                subs.extend(json.loads(res.strip().splitlines()[-1]))
            out["sub_lost"] = [s["lost"] for s in subs]
            out["sub_lines"] = [s["lines"] for s in subs]
            out["sub_disorder_broken"] = sum(s["disorder"] + s["broken"] for s in subs)
            out["sub_head_skipped"] = sum(s["head_skipped"] for s in subs)
            out["sub_max_gap_s"] = max(s["max_gap_s"] for s in subs)
            # lines each got inside the window, from its arrival times: not measurable per line
            # without more bookkeeping, so the ticker's delivered rate over each one's span:
            out["sub_rate_lps_median"] = statistics.median(
                (s["lines"] - 1) / (s["t_last"] - s["t_first"]) for s in subs if s["t_last"] > s["t_first"])
            out["window_t0"], out["window_t1"] = t0, t1
            out["slow"] = slow.drain()
            slow = None
        # ticker rate achieved over the run, from the console (a light sanity figure)
        out["window_s"] = window
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait()
        stop_hu(hu)
        for f in (console,):
            f.unlink(missing_ok=True)
    return out


def wait_quiet(limit: float, max_wait: float = 900) -> float:
    t0 = time.monotonic()
    while True:
        load1 = os.getloadavg()[0]
        if load1 < limit or time.monotonic() - t0 > max_wait:
            return load1
        print(f"  load average {load1:.2f} >= {limit}: waiting", file=sys.stderr)
        time.sleep(15)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8.0, help="fan-out measurement window")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rate", type=float, default=2000.0, help="ticker lines/s")
    ap.add_argument("--clients", type=int, default=5)
    ap.add_argument("--per-client", type=int, default=10)
    ap.add_argument("--console-dir", default="/tmp", help="where the console file goes (default /tmp, disk)")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--nice-clients", type=int, default=0, metavar="N",
                    help="run the subscriber client processes at this nice value (e.g. 19), so on a "
                         "small machine they take only CPU hu leaves idle: isolates the server's cost")
    ap.add_argument("--max-load", type=float, default=1.0, help="wait until the 1-min load average is below")
    ap.add_argument("--warmup", type=int, default=1,
                    help="base runs before the measured ones, not counted (the first run of a session was "
                         "consistently the slowest)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--subscriber", nargs=3, metavar=("SOCK", "ID", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.subscriber:
        subscriber_main(args.subscriber[0], int(args.subscriber[1]), int(args.subscriber[2]))
        return

    load = wait_quiet(args.max_load)
    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                                          "python": platform.python_version(), "aiohttp": aiohttp.__version__,
                                          "load1_at_start": load},
                              "params": {k: v for k, v in vars(args).items() if k not in ("json", "subscriber")}}
    with tempfile.TemporaryDirectory(prefix="hu-b-", dir="/tmp") as tmp:
        base = Path(tmp)
        if not args.skip_latency:
            report["latency"] = run_latency(base)
            print("GET /processes, 100 processes, 500 sequential requests:",
                  {k: round(v, 2) for k, v in report["latency"].items()}, flush=True)
        runs: list[dict[str, Any]] = []
        for i in range(args.warmup):
            r = fanout_run(base, f"warmup{i}", False, args)
            print(f"  warm-up (not counted): console {r['console_MBps']:.1f} MB/s", flush=True)
        for rep in range(args.reps):
            order = (False, True) if rep % 2 == 0 else (True, False)
            for with_subs in order:
                tag = f"r{rep}-{'subs' if with_subs else 'base'}"
                r = fanout_run(base, tag, with_subs, args)
                r["rep"] = rep
                runs.append(r)
                line = f"  {tag}: console {r['console_MBps']:.1f} MB/s, hu CPU {r['hu_cpu_pct']:.0f}%"
                if with_subs:
                    s = r["slow"]
                    line += (f", clients CPU {r['clients_cpu_pct']:.0f}%; {len(r['sub_lost'])} subscribers: lost "
                             f"max {max(r['sub_lost'])}, lines min/max {min(r['sub_lines'])}/{max(r['sub_lines'])}"
                             f", disorder+broken {r['sub_disorder_broken']}; slow SSE: dropped {s['dropped']}"
                             f" chunks ({s['dropped_events']} events), {s['lines_received']} lines received"
                             f"; ticker delivered {r['sub_rate_lps_median']:.0f} lines/s, longest stall "
                             f"{r['sub_max_gap_s']:.2f} s")
                print(line, flush=True)
        report["runs"] = runs
    base_rates = [r["console_MBps"] for r in runs if not r["subscribers"]]
    sub_rates = [r["console_MBps"] for r in runs if r["subscribers"]]
    sub_runs = [r for r in runs if r["subscribers"]]
    summary = {
        "console_MBps_median_base": statistics.median(base_rates),
        "console_MBps_median_subs": statistics.median(sub_rates),
        "console_ratio_subs_over_base": statistics.median(sub_rates) / statistics.median(base_rates),
        "console_ratio_per_rep": [round(s / b, 3) for s, b in zip(
            [r["console_MBps"] for r in sorted(sub_runs, key=lambda r: r["rep"])],
            [r["console_MBps"] for r in sorted((r for r in runs if not r["subscribers"]), key=lambda r: r["rep"])], strict=False)],
        "subscribers_total": sum(len(r["sub_lost"]) for r in sub_runs),
        "subscriber_lines_lost_total": sum(sum(r["sub_lost"]) for r in sub_runs),
        "subscriber_disorder_broken_total": sum(r["sub_disorder_broken"] for r in sub_runs),
        "subscriber_lines_min": min(min(r["sub_lines"]) for r in sub_runs),
        "subscriber_lines_median": statistics.median([n for r in sub_runs for n in r["sub_lines"]]),
        "slow_dropped_chunks": [r["slow"]["dropped"] for r in sub_runs],
        "slow_lines_received": [r["slow"]["lines_received"] for r in sub_runs],
        "ticker_delivered_lps": [round(r["sub_rate_lps_median"]) for r in sub_runs],
        "subscriber_longest_stall_s": [round(r["sub_max_gap_s"], 2) for r in sub_runs],
    }
    report["summary"] = summary
    summary["console_ratio_per_rep_median"] = statistics.median(summary["console_ratio_per_rep"])
    print("summary:", json.dumps(summary), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
