"""T07/T08 (G8): restart-policy decisions use the injected monotonic clock, and a wall-clock
jump changes nothing (``time.time`` is patched to jump by hours; the machine's clock is
never touched). Both event loops, real children."""

from __future__ import annotations

import time

from honcho_uv import Manager
from tests.kit.procs import cmdline, python
from tests.kit.wait import until

CRASH = cmdline(python("import time, sys; time.sleep(0.05); sys.exit(1)"))


def _events(manager: Manager, name: str) -> list[tuple[float, str]]:
    seen: list[tuple[float, str]] = []
    manager.subscribe(f"proc.{name}", lambda event, msg: seen.append((time.monotonic(), event.rsplit(".", 1)[1])))
    return seen


async def test_flapping_uses_the_injected_clock(env):
    # Exits really are ~0.1 s apart, but the injected clock never moves: for the policy they
    # are simultaneous, so two of them are a flap within a 0.01 s window.
    frozen = 1000.0
    async with Manager(clock=lambda: frozen) as m:
        seen = _events(m, "crash")
        m.add_process("crash", CRASH, env=env, os_env=False, restart="always", flapping="2 0.01 0.1 1")
        await until(lambda: m.get_process_status("crash")["state"] == "FATAL", 10)
        kinds = [e for _, e in seen]
    assert kinds.count("backoff") == 1 and kinds[-1] == "fatal", kinds

    async with Manager() as m:  # the same exits on the real monotonic clock: never a flap
        seen = _events(m, "crash")
        m.add_process("crash", CRASH, env=env, os_env=False, restart="always", flapping="2 0.01 0.1 1")
        await until(lambda: sum(1 for _, e in seen if e == "exit") >= 4, 10)
        state = m.get_process_status("crash")["state"]
        kinds = [e for _, e in seen]
    assert state in ("RUNNING", "STARTING") and "backoff" not in kinds, kinds


async def test_wall_clock_jumps_change_nothing(env, monkeypatch):
    real = time.time
    jumps = iter([3600.0, -3600.0, 7200.0, -7200.0] * 1000)

    def jumpy() -> float:  # every read of the wall clock is an hour or two off, either way
        return real() + next(jumps)

    monkeypatch.setattr(time, "time", jumpy)
    async with Manager() as m:
        seen = _events(m, "crash")
        m.add_process("crash", CRASH, env=env, os_env=False, restart="always", flapping="2 1 0.3 2")
        await until(lambda: m.get_process_status("crash")["state"] == "FATAL", 15)
    monkeypatch.setattr(time, "time", real)
    kinds = [e for _, e in seen]
    assert kinds.count("backoff") == 2 and kinds.count("retry") == 2 and kinds[-1] == "fatal", kinds
    backoffs = [t for t, e in seen if e == "backoff"]
    retries = [t for t, e in seen if e == "retry"]
    for b, r in zip(backoffs, retries, strict=False):
        assert 0.25 <= r - b < 1.5, (b, r)  # retry_in, neither skipped nor stretched by the jumps
