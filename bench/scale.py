#!/usr/bin/env python3
"""Benchmark hu at scale from the outside: N sleepers, the control commands, ``hu run``.

Standard library + psutil only, run as a user would: the hu of this checkout installed in
``bench/.venv-hu`` (regular install, byte-compiled), honcho 2.0.0 in ``bench/.venv-honcho``
(both made by ``bench/bench.py``'s helpers). Every figure is the median of ``--reps`` runs,
interleaved with its floor in the same session, so a busy machine slows both alike.

Scenarios (docs/benchmarks.rst, "Scale", says what each figure means):

spawn      ``hu start -c p=N`` on ``p: sleep 1000``: from launch until N ``sleep`` processes
           carrying this run's marker exist. Floor: a bare Python loop that ``Popen``\\ s
           N ``sh -c 'exec sleep 1000'``, each in its own session with a stdout pipe.
memory     RSS of the manager and its own helper processes (not the sleepers) once all N run.
idle       CPU of the manager over the 2 s after that (percent of one core) and its wake-ups
           (context switches of every thread) per second.
stop       SIGINT to the manager (floor: SIGTERM to each group, then reap each) until every
           sleeper is gone (a zombie counts as gone); *exit* until the manager has exited too.
ps         warm ``hu ps`` against a running hu of two processes, after a first call; floor:
           ``python -c pass`` with hu's interpreter.
run        ``hu run true`` beside ``honcho run true``.

Usage::

    python bench/scale.py                   # N = 100, 1000, 5000; 3 repetitions
    python bench/scale.py --counts 100 1000 --reps 1 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import MARK_VAR, ensure_honcho, ensure_hu, tool_version

POLL_S = 0.01
HONCHO_MAX_N = 300  # honcho runs a Python process per child: 1,000 would need gigabytes


class Sleepers:
    """The ``sleep`` processes that carry *mark* in their environment, found incrementally
    (a pid is read once it is a sleep; a pid still in ``sh`` is read again later)."""

    def __init__(self, mark: str):
        self.needle = f"{MARK_VAR}={mark}".encode()
        self.found: set[int] = set()
        self.other: set[int] = set()  # pids that are not ours (never read again)

    def count(self) -> int:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if pid in self.found or pid in self.other:
                continue
            try:
                with open(f"/proc/{pid}/comm", "rb") as f:
                    comm = f.read().strip()
                with open(f"/proc/{pid}/environ", "rb") as f:
                    environ = f.read()
            except OSError:
                continue
            if not environ:  # in the middle of an exec (or a kernel thread): look again later
                continue
            if self.needle not in environ:
                self.other.add(pid)
            elif comm == b"sleep":
                self.found.add(pid)
        return len(self.found)

    def wait_for(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(self.found)} of {n} sleepers after {timeout:g} s")
            time.sleep(POLL_S)

    def wait_gone(self, timeout: float) -> None:
        left = sorted(self.found)
        deadline = time.monotonic() + timeout
        while left:
            while left and not _alive(left[-1]):
                left.pop()
            if not left:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(left)} sleepers still alive after {timeout:g} s")
            time.sleep(POLL_S)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"


def _env(mark: str) -> dict[str, str]:
    return {**os.environ, MARK_VAR: mark, "NO_COLOR": "1"}


def _manager_rss(proc: psutil.Process, sleepers: set[int]) -> int:
    """RSS of the manager and of its descendants that are not sleepers (helper processes)."""
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        if child.pid not in sleepers:
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
    return total


def _cpu_and_wakeups(proc: psutil.Process, window: float) -> tuple[float, float]:
    def sample() -> tuple[float, int]:
        cpu = proc.cpu_times()
        switches = sum(_thread_switches(proc.pid, t.id) for t in proc.threads())
        return cpu.user + cpu.system, switches

    cpu0, sw0 = sample()
    time.sleep(window)
    cpu1, sw1 = sample()
    return 100 * (cpu1 - cpu0) / window, (sw1 - sw0) / window


def _thread_switches(pid: int, tid: int) -> int:
    try:
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if "ctxt_switches" in line)
    except OSError:
        return 0
    return sum(int(v) for v in fields.values())


def run_manager(argv: list[str], n: int, cwd: Path) -> dict[str, float]:
    """Launch *argv* (a manager running N sleepers), measure, SIGINT it, measure the stop."""
    mark = uuid.uuid4().hex
    sleepers = Sleepers(mark)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=_env(mark), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        sleepers.wait_for(n, timeout=120)
        spawn = time.perf_counter() - t0
        manager = psutil.Process(proc.pid)
        time.sleep(0.5)  # let start-up output drain before the idle window
        rss = _manager_rss(manager, sleepers.found)
        cpu, wakeups = _cpu_and_wakeups(manager, 2.0)
        t1 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        sleepers.wait_gone(timeout=60)
        stop = time.perf_counter() - t1
        proc.wait(timeout=120)
        exited = time.perf_counter() - t1
    finally:
        if proc.poll() is None:  # a failed run: the sleepers are in sessions of their own
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in sleepers.found:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    return {"spawn_s": spawn, "rss_mb": rss / 2**20, "idle_cpu_pct": cpu, "idle_wakeups_per_s": wakeups,
            "stop_s": stop, "exit_s": exited}


def run_floor(n: int) -> dict[str, float]:
    """The bare loop: N ``sh -c 'exec sleep 1000'`` with a pipe each; SIGTERM each group; reap."""
    mark = uuid.uuid4().hex
    sleepers = Sleepers(mark)
    env = _env(mark)
    children: list[subprocess.Popen[bytes]] = []
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            children.append(subprocess.Popen(["sh", "-c", "exec sleep 1000"], env=env, stdout=subprocess.PIPE,
                                             start_new_session=True))
        sleepers.wait_for(n, timeout=120)
        spawn = time.perf_counter() - t0
        t1 = time.perf_counter()
        for child in children:
            os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            child.wait()
        sleepers.wait_gone(timeout=60)
        stop = time.perf_counter() - t1
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()
    return {"spawn_s": spawn, "stop_s": stop}


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def control_latency(hu: Path, reps: int, work: Path) -> dict[str, float]:
    """Warm ``hu ps`` against a running hu of two processes; ``python -c pass`` as the floor."""
    app = work / "ps"
    app.mkdir()
    (app / "Procfile").write_text("web: sleep 1000\nworker: sleep 1000\n")
    mark = uuid.uuid4().hex
    env = _env(mark)
    running = subprocess.Popen([str(hu), "start"], cwd=app, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        Sleepers(mark).wait_for(2, timeout=30)
        deadline = time.monotonic() + 15
        while subprocess.run([str(hu), "ps"], cwd=app, env=env, capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("hu ps never answered")
            time.sleep(0.05)
        ps = [timed([str(hu), "ps"], app, env) for _ in range(max(5, reps))]
        # The floor is hu's own interpreter: the bench's may carry a dev environment's
        # site hooks (an editable install's finder took 45 ms of every start).
        python = hu.parent / "python"
        floor = [timed([str(python if python.exists() else sys.executable), "-c", "pass"], app)
                 for _ in range(max(5, reps))]
    finally:
        running.send_signal(signal.SIGINT)
        running.wait(timeout=30)
    return {"hu_ps_s": statistics.median(ps), "python_pass_s": statistics.median(floor)}


def run_latency(hu: Path, honcho: Path | None, reps: int, work: Path) -> dict[str, float]:
    app = work / "run"
    app.mkdir()
    (app / "Procfile").write_text("web: sleep 1000\n")
    out: dict[str, list[float]] = {"hu_run_true_s": [], "honcho_run_true_s": []}
    for _ in range(max(5, reps)):
        out["hu_run_true_s"].append(timed([str(hu), "run", "true"], app))
        if honcho is not None:
            out["honcho_run_true_s"].append(timed([str(honcho), "run", "true"], app))
    return {k: statistics.median(v) for k, v in out.items() if v}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def measure(counts: list[int], reps: int, hu: Path, honcho: Path | None, work: Path,
            say: Callable[[str], None]) -> dict[str, object]:
    results: dict[str, object] = {"counts": {}}
    for n in counts:
        app = work / f"n{n}"
        app.mkdir()
        (app / "Procfile").write_text("p: sleep 1000\n")
        rows: dict[str, list[dict[str, float]]] = {"hu": [], "floor": [], "honcho": []}
        for rep in range(reps):
            rows["floor"].append(run_floor(n))
            rows["hu"].append(run_manager([str(hu), "start", "-c", f"p={n}"], n, app))
            if honcho is not None and n <= HONCHO_MAX_N:
                rows["honcho"].append(run_manager([str(honcho), "start", "-c", f"p={n}"], n, app))
            say(f"N={n} rep {rep + 1}: " + ", ".join(f"{k} {v[-1]}" for k, v in rows.items() if v))
        results["counts"][str(n)] = {k: median_of(v) for k, v in rows.items() if v}  # type: ignore[index]
    results["control"] = control_latency(hu, reps, work)
    results["run"] = run_latency(hu, honcho, reps, work)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", choices=["hu"], help="no honcho")
    parser.add_argument("--hu", type=Path, help="hu executable (default: this checkout in bench/.venv-hu)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the floor holds a pipe per child
    hu = args.hu or ensure_hu()
    honcho = None if args.only else ensure_honcho()
    with tempfile.TemporaryDirectory(prefix="hu-scale-") as tmp:
        results = measure(args.counts, args.reps, hu, honcho, Path(tmp), lambda s: print(s, file=sys.stderr))
    results["versions"] = {"hu": tool_version([str(hu)]),
                           "honcho": tool_version([str(honcho)]) if honcho else None,
                           "python": sys.version.split()[0], "cpus": os.cpu_count(),
                           "nofile": [soft, hard]}
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
