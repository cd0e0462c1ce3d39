"""Regression: CPU percent over a few milliseconds is tick noise (272 % on 2 cores was seen)."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from honcho_uv.core import stats


def test_cpu_percent_is_clamped_and_not_recomputed_within_the_minimum_interval():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        create_time = psutil.Process(busy.pid).create_time()
        sampler = stats.StatsSampler()
        values = [sampler.sample(busy.pid, create_time)["cpu"] for _ in range(200)]
        assert all(0.0 <= v <= 100.0 * (psutil.cpu_count() or 1) for v in values)
        # Back-to-back samples reuse the last value instead of dividing a tick by microseconds.
        time.sleep(stats.MIN_CPU_INTERVAL_S)
        first = sampler.sample(busy.pid, create_time)["cpu"]
        second = sampler.sample(busy.pid, create_time)["cpu"]
        assert second == first
    finally:
        busy.kill()
        busy.wait()
