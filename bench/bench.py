#!/usr/bin/env python3
"""Benchmark ``hu start`` from the outside, side by side with honcho 2.0.0.

Standard library + psutil only. Every scenario runs the installed ``hu`` (and honcho from a
side virtualenv, ``bench/.venv-honcho``, created on first use) on a generated Procfile in a
temporary directory, interleaved: hu, honcho, hu, honcho... for ``--reps`` repetitions, and
reports medians.

Scenarios (see docs/benchmarks.rst for what each figure means):

throughput  4 processes x N numbered 60-byte lines (default N = 200,000), the manager's stdout
            a pipe read by this harness; time from launch until the last line of every
            process has been seen, lines/s, and lines lost, duplicated, out of order or broken
            (every line is parsed, the prefix stripped and the body checked). The same
            writers into a bare pipe (``sh -c 'w1 & w2 & w3 & w4 & wait' | harness``) give the
            limit.
            ``hu --log-dir`` is hu's run with every line also written to log files;
            ``hu --tty`` the same writers each on a pseudo-terminal (``--tty always``).
spawn       50 processes that each print one line then sleep: time from launch until the
            50th line is seen.
shutdown    the same 50 sleepers (they exit on SIGTERM): SIGINT to the manager, time until
            the manager has exited and every process carrying this run's marker env var is
            gone (zombies count as gone).
dashboard   the throughput writers again, held until a go file appears, run twice: hu alone,
            and hu with ``--ui`` and its page open in headless Chromium (Debian's, through
            Playwright) following the log of every process; time from the go to the last
            line of every process, and the lines the page holds and was told it skipped.
            Skipped (with a note) where /usr/bin/chromium or playwright is missing.
idle        10 sleeping children, 10 s window: CPU seconds and wake-ups (voluntary +
            involuntary context switches summed over every thread of the manager's own
            processes) per second.
            ``hu + probes``: hu again, each child a listener with a ``tcp`` ready probe.

Usage::

    python bench/bench.py                 # full size, 3 repetitions
    python bench/bench.py --quick         # smoke run
    python bench/bench.py --only hu --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
HONCHO_VENV = HERE / ".venv-honcho"
HONCHO_VERSION = "2.0.0"
MARK_VAR = "HU_BENCH_MARK"
LINE_LEN = 60  # bytes, newline included
NWRITERS = 4
LOG_DIR_RUN = "hu --log-dir"  # hu's throughput run, with its output also going to log files
TTY_RUN = "hu --tty"  # hu's throughput run with a pseudo-terminal per writer (--tty always)
BARE_PTY_RUN = "bare ptys"  # the writers on ptys of their own, copied to stdout by PTY_COPY
#: The floor for hu --tty: each writer on a pty of its own (set up as hu does: output
#: post-processing off), the masters copied to stdout by a select loop. A pty master gives at
#: most 4 KiB per read (the kernel's n_tty buffer), so this costs more than a pipe however
#: little the reader does.
PTY_COPY = textwrap.dedent(
    """\
    import os, select, subprocess, sys, termios
    masters = {}
    for argv in (a.split() for a in sys.argv[1:]):
        master, slave = os.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        masters[master] = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
    while masters:
        for fd in select.select(list(masters), [], [])[0]:
            try:
                data = os.read(fd, 1 << 18)
            except OSError:  # EIO: every writer of this pty is gone
                data = b""
            if not data:
                os.close(fd)
                masters.pop(fd).wait()
                continue
            view = memoryview(data)
            while view:
                view = view[os.write(1, view):]
    """
)
PROBED_RUN = "hu + probes"  # hu's idle run, each sleeper a listener with a tcp ready probe
GATED_RUN = "hu, gated"  # the dashboard scenario's run without the page
PAGE_RUN = "hu + page"  # ... and with the dashboard page open, following the log
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

WRITER = textwrap.dedent(
    """\
    import os, sys, time
    ident, count, linger = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "linger"
    if len(sys.argv) > 4:  # the dashboard scenario opens its page first, then says go
        open(sys.argv[4] + "." + ident, "w").close()  # this writer waits (its Python is up)
        while not os.path.exists(sys.argv[4]):
            time.sleep(0.01)
    # "w1 000000123 xxxx...x\\n": 60 bytes, the writer's id and a sequence number.
    fill = b"x" * (%d - len(ident) - 12)
    head = ident.encode() + b" "
    out = sys.stdout.buffer
    batch = 1000
    for start in range(0, count, batch):
        out.write(b"".join(head + b"%%09d " %% i + fill + b"\\n"
                           for i in range(start, min(start + batch, count))))
    out.flush()
    if linger:  # a Procfile manager stops everything when one process exits
        time.sleep(3600)
    """
    % LINE_LEN
)


# --------------------------------------------------------------------------------------
# Tools under test


class Tool:
    def __init__(self, name: str, argv: list[str]):
        self.name = name
        self.argv = argv

    def start_cmd(self, concurrency: str | None = None) -> list[str]:
        cmd = [*self.argv, "start", "--no-colour"]
        if concurrency:
            cmd += ["-c", concurrency]
        return cmd


def ensure_honcho() -> Path:
    exe = HONCHO_VENV / "bin" / "honcho"
    if not exe.exists():
        print(f"creating {HONCHO_VENV} with honcho=={HONCHO_VERSION} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(HONCHO_VENV)], check=True)
        subprocess.run([str(HONCHO_VENV / "bin" / "pip"), "install", "-q",
                        f"honcho=={HONCHO_VERSION}"], check=True)
    return exe


HU_VENV = HERE / ".venv-hu"


def ensure_hu() -> Path:
    """hu installed from this checkout into its own virtualenv, as honcho is: a regular
    (non-editable, byte-compiled) install, so both start up the way a user's install does.

    Reinstalled (without touching its dependencies) on every run, so it is the checkout's code.
    """
    exe = HU_VENV / "bin" / "hu"
    pip = HU_VENV / "bin" / "pip"
    if not exe.exists():
        print(f"creating {HU_VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(HU_VENV)], check=True)
        subprocess.run([str(pip), "install", "-q", str(HERE.parent)], check=True)
    else:
        subprocess.run([str(pip), "install", "-q", "--force-reinstall", "--no-deps", str(HERE.parent)], check=True)
    return exe


def tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"


# --------------------------------------------------------------------------------------
# Process helpers


def marked_procs(mark: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(MARK_VAR) == mark:
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


def alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_marked(mark: str) -> int:
    """Kill whatever of this run is left (cleanup, never part of a measurement)."""
    left = [p for p in marked_procs(mark) if alive(p)]
    for p in left:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(left, timeout=5)
    return len(left)


class Run:
    """A manager (or shell) launched in *cwd*, stdout a pipe that we read."""

    def __init__(self, argv: list[str], cwd: Path):
        self.mark = uuid.uuid4().hex
        env = dict(os.environ, **{MARK_VAR: self.mark})
        env.pop("NO_COLOR", None)
        env.pop("FORCE_COLOR", None)
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.fd = self.proc.stdout.fileno()
        self.chunks: list[bytes] = []
        self.eof = False

    def read(self, timeout: float) -> bytes:
        """One chunk (b"" on timeout or EOF)."""
        if self.eof:
            return b""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return b""
        data = os.read(self.fd, 1 << 20)
        if not data:
            self.eof = True
        else:
            self.chunks.append(data)
        return data

    def drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self.read(0.2)

    def output(self) -> bytes:
        return b"".join(self.chunks)

    def finish(self) -> None:
        """Stop (SIGINT, then force), read to EOF, clean up everything marked."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.drain(2)
        kill_marked(self.mark)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


# --------------------------------------------------------------------------------------
# Output parsing


def body_of(line: bytes, prefixed: bool) -> tuple[bytes | None, bytes]:
    """(process label or None for system/unprefixed, body)."""
    if not prefixed:
        return None, line
    head, sep, body = line.partition(b" | ")
    if not sep:
        return b"?", line
    label = head.split()[-1] if head.split() else b"?"
    return label, body


def verify_throughput(data: bytes, n: int, prefixed: bool) -> dict:
    """Check every writer line: whole, right writer, contiguous, none lost or duplicated."""
    fill_len = LINE_LEN - 1 - 13
    seen = {f"w{i}".encode(): bytearray(n) for i in range(1, NWRITERS + 1)}
    last = {k: -1 for k in seen}
    broken = dup = out_of_order = mislabelled = system = 0
    examples: list[str] = []
    lines = data.split(b"\n")
    trailing = lines.pop()  # b"" if the output ends with a newline
    if trailing:
        lines.append(trailing)
    for line in lines:
        label, body = body_of(line, prefixed)
        if label == b"system":
            system += 1
            continue
        ident = body[:2]
        ok = (len(body) == LINE_LEN - 1 and ident in seen and body[2:3] == b" "
              and body[12:13] == b" " and body[3:12].isdigit()
              and body[13:] == b"x" * fill_len)
        if not ok:
            broken += 1
            if len(examples) < 5:
                examples.append(repr(line[:120]))
            continue
        if label is not None and label.split(b".")[0] != ident:
            mislabelled += 1
            if len(examples) < 5:
                examples.append("mislabelled " + repr(line[:120]))
        seq = int(body[3:12])
        if seq >= n:
            broken += 1
            continue
        if seen[ident][seq]:
            dup += 1
        seen[ident][seq] = 1
        if seq != last[ident] + 1:
            out_of_order += 1
        last[ident] = seq
    lost = sum(n - sum(b) for b in seen.values())
    return {"lost": lost, "duplicated": dup, "broken": broken, "out_of_order": out_of_order,
            "mislabelled": mislabelled, "system_lines": system, "examples": examples}


# --------------------------------------------------------------------------------------
# Scenarios


def write_throughput_dir(d: Path, n: int, linger: bool, gate: Path | None = None) -> None:
    (d / "writer.py").write_text(WRITER)
    mode = "linger" if linger else "exit"
    py = sys.executable
    (d / "Procfile").write_text("".join(
        f"w{i}: exec {py} writer.py w{i} {n} {mode}{f' {gate}' if gate else ''}\n" for i in range(1, NWRITERS + 1)))


def page_available() -> str | None:
    """Why the dashboard scenario cannot run here, or None."""
    import importlib.util

    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install playwright)"
    return None


def read_to_markers(run: Run, markers: set[bytes], timeout: float, tail: bytes = b"") -> tuple[float | None, float]:
    """Read *run* until every marker (each writer's last line) has been seen, it ends, or
    *timeout*; seen markers are removed from *markers*. (first chunk time, last time)."""
    t_first = None
    deadline = time.monotonic() + timeout
    while markers and not run.eof and time.monotonic() < deadline:
        data = run.read(1.0)
        if not data:
            continue
        if t_first is None:
            t_first = time.perf_counter()
        window = tail + data
        for m in [m for m in markers if m in window]:
            markers.discard(m)
        tail = data[-LINE_LEN:]
    return t_first, time.perf_counter()


def open_page(url: str):
    """Headless Chromium showing *url*, once its table has rows: (playwright, browser, page)."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(url)
    page.locator("#procs tbody tr").first.wait_for(timeout=30_000)
    return playwright, browser, page


def dashboard_throughput(tool: Tool, cwd: Path, n: int, timeout: float, with_page: bool) -> dict:
    """The gated writers of *cwd*, through hu alone or hu with its dashboard page open: the
    clock starts at the go, once every writer runs (and the page shows the table)."""
    import re

    go = cwd / "go"
    go.unlink(missing_ok=True)
    argv = [*tool.start_cmd(), *(["--ui", "127.0.0.1:0"] if with_page else [])]
    markers = {f"w{i} {n - 1:09d} ".encode() for i in range(1, NWRITERS + 1)}
    run = Run(argv, cwd)
    playwright = browser = page = None
    shown: dict = {}
    t_go = t_first = t_last = None
    try:
        deadline = time.monotonic() + 30
        waiting = [cwd / f"go.w{i}" for i in range(1, NWRITERS + 1)]
        while not all(p.exists() for p in waiting) and time.monotonic() < deadline:
            run.read(0.05)
        if with_page:
            found = re.search(rb"dashboard on (http://\S+)", run.output())
            if found is None:
                raise RuntimeError(f"hu printed no dashboard URL: {run.output()[-500:]!r}")
            playwright, browser, page = open_page(found.group(1).decode())
        tail = run.output()[-LINE_LEN:]
        hu = psutil.Process(run.proc.pid)
        cpu0 = sum(hu.cpu_times()[:2])
        go.touch()
        t_go = time.perf_counter()
        t_first, t_last = read_to_markers(run, markers, timeout, tail)
        hu_cpu = sum(hu.cpu_times()[:2]) - cpu0
        if page is not None:
            page.wait_for_timeout(1000)  # the last batches reach the page
            shown = page.evaluate("""() => ({
                lines: document.querySelectorAll('#log .ln:not(.skip)').length,
                skip_notes: document.querySelectorAll('#log .ln.skip').length,
                status: document.getElementById('log-status').textContent,
                heap: performance.memory ? performance.memory.usedJSHeapSize : null})""")
    finally:
        for closing in (browser, playwright):
            if closing is not None:
                try:
                    closing.close() if closing is browser else closing.stop()
                except Exception as exc:  # the measurement is what matters; say why and go on
                    print(f"closing the browser: {exc}", file=sys.stderr)
        run.finish()
        for leftover in cwd.glob("go*"):
            leftover.unlink()
    res = verify_throughput(run.output(), n, True)
    elapsed = t_last - t_go
    res.update({"complete": not markers, "seconds": elapsed,
                "first_line_s": (t_first - t_go) if t_first else None,
                "lines_per_s": (NWRITERS * n - res["lost"]) / elapsed if elapsed > 0 else 0.0,
                "bytes": len(run.output()), "page": shown, "hu_cpu_s": hu_cpu})
    return res


def throughput(argv: list[str], cwd: Path, n: int, prefixed: bool, timeout: float) -> dict:
    markers = {f"w{i} {n - 1:09d} ".encode() for i in range(1, NWRITERS + 1)}
    run = Run(argv, cwd)
    try:
        t_first, t_last = read_to_markers(run, markers, timeout)
    finally:
        run.finish()
    elapsed = t_last - run.t0
    res = verify_throughput(run.output(), n, prefixed)
    total = NWRITERS * n
    res.update({
        "complete": not markers,
        "seconds": elapsed,
        "first_line_s": (t_first - run.t0) if t_first else None,
        "lines_per_s": (total - res["lost"]) / elapsed if elapsed > 0 else 0.0,
        "bytes": len(run.output()),
    })
    return res


def write_sleepers_dir(d: Path) -> None:
    (d / "Procfile").write_text("s: echo ready; exec sleep 3600\n")


def wait_ready(run: Run, count: int, timeout: float) -> float | None:
    """Seconds from launch until *count* distinct processes printed 'ready' (None: timeout)."""
    labels: set[bytes] = set()
    buf = b""
    deadline = time.monotonic() + timeout
    while len(labels) < count and not run.eof and time.monotonic() < deadline:
        data = run.read(0.5)
        if not data:
            continue
        buf += data
        *lines, buf = buf.split(b"\n")
        for line in lines:
            label, body = body_of(line, True)
            if body.strip() == b"ready":
                labels.add(label)
    if len(labels) < count:
        return None
    return time.perf_counter() - run.t0


def spawn_shutdown(tool: Tool, cwd: Path, count: int) -> dict:
    run = Run(tool.start_cmd(f"s={count}"), cwd)
    res: dict = {"spawn_s": None, "exit_s": None, "shutdown_s": None, "left_behind": None}
    try:
        res["spawn_s"] = wait_ready(run, count, 60)
        if res["spawn_s"] is None:
            return res
        time.sleep(0.5)  # let every "started" line and the children settle
        tracked = [p for p in marked_procs(run.mark) if p.pid != run.proc.pid]
        run.proc.send_signal(signal.SIGINT)
        t0 = time.perf_counter()
        # Keep the pipe drained so the manager never blocks on its stdout while stopping.
        while run.proc.poll() is None and time.perf_counter() - t0 < 30:
            run.read(0.0005)
        res["exit_s"] = time.perf_counter() - t0
        while any(alive(p) for p in tracked) and time.perf_counter() - t0 < 30:
            time.sleep(0.0005)
        res["shutdown_s"] = time.perf_counter() - t0
        res["exit_code"] = run.proc.returncode
        res["left_behind"] = len([p for p in marked_procs(run.mark) if alive(p)])
    finally:
        run.finish()
    return res


def ctx_switches(pid: int) -> int:
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def manager_procs(root: psutil.Process) -> list[psutil.Process]:
    """The manager's own processes: its root and descendants that are not the workload."""
    procs = [root]
    for p in root.children(recursive=True):
        try:
            if p.name() not in ("sleep", "sh"):
                procs.append(p)
        except psutil.NoSuchProcess:
            pass
    return procs


def write_probed_dir(d: Path) -> None:
    """Sleepers that listen, each with a tcp ready probe (issue 10: probes cost nothing once
    an instance is ready)."""
    listener = "import os, socket, time; s = socket.socket(); s.bind(('127.0.0.1', int(os.environ['PORT']))); " \
               "s.listen(); time.sleep(3600)"
    (d / "Procfile").write_text(f"s: echo ready; exec {sys.executable} -c \"{listener}\"\n")
    (d / "hu.toml").write_text('[processes.s]\nready = "tcp"\n')


def idle(tool: Tool, cwd: Path, count: int, window: float, extra: tuple[str, ...] = ()) -> dict:
    run = Run([*tool.start_cmd(f"s={count}"), *extra], cwd)
    res: dict = {"cpu_s": None, "wakeups_per_s": None, "manager_procs": None}
    try:
        if wait_ready(run, count, 60) is None:
            return res
        # Settle, then measure over the window while the pipe stays quiet.
        run.drain(1.0)
        # With listeners (Python, as hu is), count hu's own process only: it has no helpers.
        procs = [psutil.Process(run.proc.pid)] if extra else manager_procs(psutil.Process(run.proc.pid))

        def sample() -> tuple[float, int]:
            cpu = 0.0
            sw = 0
            for p in procs:
                try:
                    t = p.cpu_times()
                    cpu += t.user + t.system
                    sw += ctx_switches(p.pid)
                except psutil.NoSuchProcess:
                    pass
            return cpu, sw

        c0, s0 = sample()
        t0 = time.perf_counter()
        run.drain(window)  # blocks in select: the harness itself stays idle
        c1, s1 = sample()
        dt = time.perf_counter() - t0
        res.update({"cpu_s": c1 - c0, "wakeups": s1 - s0, "wakeups_per_s": (s1 - s0) / dt,
                    "window_s": dt, "manager_procs": len(procs)})
    finally:
        run.finish()
    return res


# --------------------------------------------------------------------------------------
# Machine and report


def machine_info(tools: list[Tool]) -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "logical_cpus": psutil.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "psutil": psutil.__version__,
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
    try:
        import uvloop
        info["uvloop"] = uvloop.__version__
    except ImportError:
        info["uvloop"] = "not installed"
    for t in tools:
        info[t.name] = tool_version(t.argv)
    info["hu_path"] = next((t.argv[0] for t in tools if t.name == "hu"), None)
    return info


def med(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def summarise(results: dict) -> dict:
    s: dict = {}
    for name, runs in results["throughput"].items():
        s.setdefault(name, {})
        s[name]["throughput_s"] = med([r["seconds"] for r in runs])
        s[name]["lines_per_s"] = med([r["lines_per_s"] for r in runs])
        s[name]["stream_s"] = med([r["seconds"] - r["first_line_s"] for r in runs
                                   if r["first_line_s"] is not None])
        for k in ("lost", "duplicated", "broken", "out_of_order", "mislabelled"):
            s[name][k] = sum(r[k] for r in runs)
        s[name]["incomplete_runs"] = sum(not r["complete"] for r in runs)
        s[name]["damaged_runs"] = sum(bool(r["lost"] or r["duplicated"] or r["broken"]
                                           or r["out_of_order"] or r["mislabelled"]) for r in runs)
        s[name]["runs"] = len(runs)
        if any("hu_cpu_s" in r for r in runs):
            s[name]["hu_cpu_s"] = med([r.get("hu_cpu_s") for r in runs])
    for name, runs in results["spawn_shutdown"].items():
        s.setdefault(name, {})
        s[name]["spawn_s"] = med([r["spawn_s"] for r in runs])
        s[name]["exit_s"] = med([r["exit_s"] for r in runs])
        s[name]["shutdown_s"] = med([r["shutdown_s"] for r in runs])
        s[name]["left_behind"] = sum(r["left_behind"] or 0 for r in runs)
    for name, runs in results["idle"].items():
        s.setdefault(name, {})
        s[name]["idle_cpu_s"] = med([r["cpu_s"] for r in runs])
        s[name]["idle_wakeups_per_s"] = med([r["wakeups_per_s"] for r in runs])
    return s


def table(summary: dict, params: dict) -> str:
    cols = [c for c in ("hu", TTY_RUN, LOG_DIR_RUN, PROBED_RUN, GATED_RUN, PAGE_RUN, "honcho", "bare pipe", BARE_PTY_RUN)
            if c in summary]
    rows = [
        (f"throughput: s to last of {NWRITERS}x{params['lines']:,} lines", "throughput_s", ".2f"),
        ("throughput: s from first line to last", "stream_s", ".2f"),
        ("throughput: lines/s (from launch)", "lines_per_s", ",.0f"),
        ("lines lost / dup / broken (all reps)", None, None),
        ("lines out of order / mislabelled", None, None),
        (f"spawn: s to {params['spawn']} lines", "spawn_s", ".3f"),
        ("SIGINT: s until manager exited", "exit_s", ".3f"),
        ("SIGINT: s until all gone", "shutdown_s", ".3f"),
        (f"idle: CPU s over {params['idle_window']:g} s", "idle_cpu_s", ".3f"),
        ("idle: wake-ups/s", "idle_wakeups_per_s", ".2f"),
    ]
    width = max(len(r[0]) for r in rows)
    out = [f"{'':{width}}  " + "  ".join(f"{c:>14}" for c in cols)]
    for label, key, spec in rows:
        cells = []
        for c in cols:
            d = summary[c]
            if key is None and "lost" in label:
                cells.append(f"{d['lost']}/{d['duplicated']}/{d['broken']}" if "lost" in d else "-")
            elif key is None:
                cells.append(f"{d['out_of_order']}/{d['mislabelled']}" if "lost" in d else "-")
            else:
                cells.append(fmt(d.get(key), spec))
        out.append(f"{label:{width}}  " + "  ".join(f"{x:>14}" for x in cells))
    return "\n".join(out)


def targets(summary: dict) -> list[tuple[str, bool | None, str]]:
    hu, ho, bare = summary.get("hu", {}), summary.get("honcho", {}), summary.get("bare pipe", {})
    res = []

    def add(name, ok, detail):
        res.append((name, ok, detail))

    if hu.get("throughput_s") and bare.get("throughput_s"):
        r = hu["throughput_s"] / bare["throughput_s"]
        add("throughput within 1.5x of the bare pipe", r <= 1.5, f"hu/bare time = {r:.2f}x")
    logged = summary.get(LOG_DIR_RUN, {})
    if hu.get("throughput_s") and logged.get("throughput_s"):
        r = logged["throughput_s"] / hu["throughput_s"]
        add("with --log-dir within 1.3x of without", r <= 1.3, f"hu --log-dir/hu time = {r:.2f}x")
    tty = summary.get(TTY_RUN, {})
    if hu.get("throughput_s") and tty.get("throughput_s"):
        r = tty["throughput_s"] / hu["throughput_s"]
        damaged = tty["damaged_runs"] + tty["incomplete_runs"]
        floor = summary.get(BARE_PTY_RUN, {}).get("throughput_s")
        add("through ptys within 2x of pipes, nothing lost", r <= 2.0 and not damaged,
            f"hu --tty/hu time = {r:.2f}x; {damaged} damaged or incomplete runs"
            + (f"; the bare ptys take {floor / hu['throughput_s']:.2f}x, hu --tty {tty['throughput_s'] / floor:.2f}x "
               f"the bare ptys" if floor else ""))
    gated, paged = summary.get(GATED_RUN, {}), summary.get(PAGE_RUN, {})
    if gated.get("throughput_s") and paged.get("throughput_s"):
        r = paged["throughput_s"] / gated["throughput_s"]
        add("with the dashboard page open within 1.2x of without", r <= 1.2,
            f"hu + page/hu time = {r:.2f}x ({paged['lines_per_s']:,.0f} vs {gated['lines_per_s']:,.0f} lines/s; "
            f"hu's own CPU {paged['hu_cpu_s']:.2f} vs {gated['hu_cpu_s']:.2f} s)")
    if hu.get("lines_per_s") and ho.get("lines_per_s"):
        r = hu["lines_per_s"] / ho["lines_per_s"]
        add("throughput >= 10x honcho's", r >= 10.0, f"hu/honcho lines/s = {r:.1f}x")
    if "lost" in hu:
        ok = hu["damaged_runs"] == 0 and hu["incomplete_runs"] == 0
        add("no line lost, duplicated or broken", ok,
            f"{hu['damaged_runs']}/{hu['runs']} runs damaged: {hu['lost']} lost, "
            f"{hu['duplicated']} duplicated, {hu['broken']} broken fragments, "
            f"{hu['out_of_order']} gaps, {hu['mislabelled']} mislabelled; "
            f"{hu['incomplete_runs']} incomplete runs")
    if hu.get("spawn_s") and ho.get("spawn_s"):
        add("50 spawned no slower than honcho", hu["spawn_s"] <= ho["spawn_s"],
            f"hu {hu['spawn_s']:.3f} s vs honcho {ho['spawn_s']:.3f} s")
    if hu.get("shutdown_s") is not None:
        add("shutdown under 0.1 s (cooperative children)", hu["shutdown_s"] < 0.1,
            f"{hu['shutdown_s']:.3f} s, {hu.get('left_behind', 0)} left behind")
    if hu.get("idle_wakeups_per_s") is not None:
        add("idle below 1 wake-up/s", hu["idle_wakeups_per_s"] < 1.0,
            f"{hu['idle_wakeups_per_s']:.2f}/s")
    return res


# --------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one repetition (smoke run)")
    ap.add_argument("--only", choices=["hu"], help="run hu only (no honcho, no side venv)")
    ap.add_argument("--no-log-dir", action="store_true",
                    help="skip hu's --log-dir throughput run (to measure builds that predate it)")
    ap.add_argument("--no-tty", action="store_true",
                    help="skip hu's --tty always throughput run (to measure builds that predate it)")
    ap.add_argument("--reps", type=int, help="repetitions (default 3, --quick 1)")
    ap.add_argument("--lines", type=int, help="lines per writer (default 200000, --quick 20000)")
    ap.add_argument("--spawn", type=int, default=50, help="processes for spawn/shutdown")
    ap.add_argument("--idle-procs", type=int, default=10)
    ap.add_argument("--idle-window", type=float, help="idle window, s (default 10, --quick 3)")
    ap.add_argument("--scenarios", default="throughput,spawn,idle,dashboard",
                    help="comma list of throughput, spawn (spawn + shutdown), idle, dashboard")
    ap.add_argument("--hu", default=None,
                    help="hu executable (default: this checkout installed in bench/.venv-hu)")
    ap.add_argument("--json", metavar="FILE", help="write machine, parameters and all runs here")
    args = ap.parse_args()

    reps = args.reps or (1 if args.quick else 3)
    lines = args.lines or (20_000 if args.quick else 200_000)
    window = args.idle_window or (3.0 if args.quick else 10.0)
    spawn_n = args.spawn if not args.quick else min(args.spawn, 20)
    scenarios = set(args.scenarios.split(","))

    if args.hu is None:
        args.hu = str(ensure_hu())
    tools = [Tool("hu", [args.hu])]
    if args.only != "hu":
        tools.append(Tool("honcho", [str(ensure_honcho())]))
    params = {"reps": reps, "lines": lines, "line_bytes": LINE_LEN, "writers": NWRITERS,
              "spawn": spawn_n, "idle_procs": args.idle_procs, "idle_window": window}
    info = machine_info(tools)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), file=sys.stderr)
    print(f"parameters: {params}", file=sys.stderr)

    results: dict = {"throughput": {}, "spawn_shutdown": {}, "idle": {}}
    with tempfile.TemporaryDirectory(prefix="hu-bench-") as tmp:
        tmpd = Path(tmp)
        tdir, bdir, sdir, pdir = tmpd / "throughput", tmpd / "bare", tmpd / "sleepers", tmpd / "probed"
        gdir = tmpd / "gated"
        for d in (tdir, bdir, sdir, pdir, gdir):
            d.mkdir()
        write_throughput_dir(gdir, lines, linger=True, gate=gdir / "go")
        no_page = page_available() if "dashboard" in scenarios else None
        if no_page:
            print(f"dashboard scenario skipped: {no_page}", file=sys.stderr)
        write_probed_dir(pdir)
        write_throughput_dir(tdir, lines, linger=True)
        write_throughput_dir(bdir, lines, linger=False)
        write_sleepers_dir(sdir)
        py = sys.executable
        bare_cmd = ["sh", "-c", " ".join(f"{py} writer.py w{i} {lines} exit &"
                                         for i in range(1, NWRITERS + 1)) + " wait"]
        pty_copy_cmd = [py, "-c", PTY_COPY, *(f"{py} writer.py w{i} {lines} exit" for i in range(1, NWRITERS + 1))]
        timeout = max(120.0, lines / 1000)
        for rep in range(1, reps + 1):
            if "throughput" in scenarios:
                order = [("bare pipe", bare_cmd, bdir, False)]
                order += [(t.name, t.start_cmd(), tdir, True) for t in tools]
                # The same run writing every line to log files too (a fresh directory each rep).
                if not args.no_log_dir:
                    order.insert(2, (LOG_DIR_RUN, [*tools[0].start_cmd(), "--log-dir", str(tmpd / f"logs{rep}")],
                                     tdir, True))
                if not args.no_tty:  # the same writers, each on a pty of its own, and their floor
                    order.insert(2, (TTY_RUN, [*tools[0].start_cmd(), "--tty", "always"], tdir, True))
                    order.insert(1, (BARE_PTY_RUN, pty_copy_cmd, bdir, False))
                if rep % 2 == 0:  # alternate who goes first
                    order = order[:1] + order[:0:-1]
                for name, argv, cwd, prefixed in order:
                    r = throughput(argv, cwd, lines, prefixed, timeout)
                    results["throughput"].setdefault(name, []).append(r)
                    print(f"[{rep}/{reps}] throughput {name:9}: {r['seconds']:.2f} s, "
                          f"{r['lines_per_s']:,.0f} lines/s, lost {r['lost']} dup {r['duplicated']} "
                          f"broken {r['broken']} ooo {r['out_of_order']}"
                          + ("" if r["complete"] else " INCOMPLETE")
                          + (f" e.g. {r['examples'][:2]}" if r["examples"] else ""),
                          file=sys.stderr)
            if "dashboard" in scenarios and not no_page:
                runs = [(GATED_RUN, False), (PAGE_RUN, True)]
                for name, with_page in (runs if rep % 2 else runs[::-1]):
                    r = dashboard_throughput(tools[0], gdir, lines, timeout, with_page)
                    results["throughput"].setdefault(name, []).append(r)
                    page = r["page"]
                    print(f"[{rep}/{reps}] throughput {name:9}: {r['seconds']:.2f} s, "
                          f"{r['lines_per_s']:,.0f} lines/s, hu's CPU {r['hu_cpu_s']:.2f} s, "
                          f"lost {r['lost']} dup {r['duplicated']}"
                          + ("" if r["complete"] else " INCOMPLETE")
                          + (f"; the page holds {page['lines']} lines ({page['status']}), "
                             f"JS heap {fmt(page['heap'] and page['heap'] / 2**20, '.1f')} MiB" if page else ""),
                          file=sys.stderr)
            if "spawn" in scenarios:
                for t in (tools if rep % 2 else tools[::-1]):
                    r = spawn_shutdown(t, sdir, spawn_n)
                    results["spawn_shutdown"].setdefault(t.name, []).append(r)
                    print(f"[{rep}/{reps}] spawn/shutdown {t.name:6}: spawn {fmt(r['spawn_s'], '.3f')} s, "
                          f"exit {fmt(r['exit_s'], '.3f')} s, all gone {fmt(r['shutdown_s'], '.3f')} s, "
                          f"left {r['left_behind']}", file=sys.stderr)
            if "idle" in scenarios:
                for t in (tools if rep % 2 else tools[::-1]):
                    r = idle(t, sdir, args.idle_procs, window)
                    results["idle"].setdefault(t.name, []).append(r)
                    print(f"[{rep}/{reps}] idle {t.name:6}: cpu {fmt(r['cpu_s'], '.3f')} s, "
                          f"wake-ups {fmt(r['wakeups_per_s'], '.2f')}/s "
                          f"({r['manager_procs']} manager processes)", file=sys.stderr)
                r = idle(tools[0], pdir, args.idle_procs, window, ("-p", "18600"))
                results["idle"].setdefault(PROBED_RUN, []).append(r)
                print(f"[{rep}/{reps}] idle {PROBED_RUN}: cpu {fmt(r['cpu_s'], '.3f')} s, "
                      f"wake-ups {fmt(r['wakeups_per_s'], '.2f')}/s", file=sys.stderr)

    summary = summarise(results)
    print()
    print("machine:")
    for k, v in info.items():
        print(f"  {k}: {v}")
    print(f"parameters: {params}")
    print()
    print(table(summary, params))
    if "bare pipe" in summary:
        print("(bare pipe: 4 writers share one pipe; writes above PIPE_BUF (4 KiB) interleave, so "
              "broken lines there are expected: it is the speed limit, not a correctness baseline)")
    if BARE_PTY_RUN in summary:
        print("(bare ptys: one copy loop writes each pty's 4 KiB reads as they come, cutting lines; the same: "
              "a speed limit, not a correctness baseline)")
    print()
    print("targets:")
    for name, ok, detail in targets(summary):
        print(f"  [{'met' if ok else 'MISSED'}] {name}: {detail}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "parameters": params, "summary": summary,
                       "targets": [{"target": n, "met": ok, "detail": d}
                                   for n, ok, d in targets(summary)],
                       "runs": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
