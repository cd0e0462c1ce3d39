"""S-h / S09: a hypothesis fuzz pass over every parser that reads user input.

Properties: the Procfile, formation, .env and template parsers raise nothing but our own
HuError family; the API answers JSON inputs with 2xx/4xx only; and no input, however
adversarial, takes more than 100 ms (no catastrophic regex backtracking).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honcho_uv.errors import HuError
from honcho_uv.models import ProcessTemplate
from honcho_uv.procfile import check_procfile, parse_procfile, split_instance_name, validate_name
from honcho_uv.procfile.dotenv import parse_env_text
from honcho_uv.procfile.formation import parse_formation, resolve_formation
from tests.kit.api import serve

#: Time allowed per 100 kB of input (and at least once): linear parsing of a list of four
#: 100 kB inputs may take 0.1 s on a slow machine; catastrophic backtracking takes seconds.
FAST_S = 0.1
FAST_PER_BYTES = 100_000
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ADVERSARIAL = [
    "a" * 100000,
    "a" * 100000 + "=",
    "x-" * 50000 + '"',
    "web:" + " " * 100000 + "x",
    "web" + "\t" * 100000 + ":",
    " " * 100000 + "#",
    '"' * 100000,
    "'" * 50000 + '"' * 50000,
    "A=" + '"\\' * 50000,
    "A=" + "${" * 30000 + "}" * 30000,
    "A='" + "\\'" * 50000,
    "export " * 20000 + "A=1",
    "a" * 99999 + ":" + "b" * 99999,
    "\r\n" * 50000,
    "web=" + "9" * 100000,
    ",".join(["w=1"] * 30000),
    "=" * 100000,
    "\x00" * 100000,
    "é" * 100000 + ":x",
]

text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from("ab_-.:=#\"'\\ \t\r\n${}x1,"), max_size=400),
    st.sampled_from(ADVERSARIAL),
)


def _size(value: Any) -> int:
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    return 0


def fast(fn: Any, *args: Any) -> Any:
    """Call *fn*; our own errors are fine, anything else fails; it must finish within FAST_S
    per FAST_PER_BYTES of input (linear time)."""
    limit = FAST_S * max(1.0, _size(args) / FAST_PER_BYTES)
    start = time.perf_counter()
    try:
        return fn(*args)
    except HuError:
        return None
    finally:
        elapsed = time.perf_counter() - start
        assert elapsed < limit, f"{fn.__name__} took {elapsed * 1000:.0f} ms on {str(args)[:80]!r}"


@pytest.mark.parametrize("value", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_adversarial_inputs_are_fast_everywhere(value):
    for fn in (parse_procfile, check_procfile, parse_formation, validate_name, split_instance_name, parse_env_text):
        fast(fn, value)
    fast(parse_procfile, "\n".join([value] * 3))


@FUZZ
@given(text)
def test_procfile_parser(value):
    procfile = fast(parse_procfile, value)
    if procfile is not None:
        for entry in procfile.entries:
            assert validate_name(entry.name) == entry.name and entry.command
    _parsed, problems = fast(check_procfile, value)
    assert all(isinstance(p, HuError) for p in problems)


@FUZZ
@given(st.lists(st.tuples(st.from_regex(r"\A[A-Za-z0-9_-]{1,8}\Z"), st.text(min_size=1, max_size=40)),
                min_size=1, max_size=8))
def test_procfile_round_trip(entries):
    lines = [f"{name}: {command}" for name, command in entries]
    procfile = fast(parse_procfile, "\n".join(lines))
    if procfile is not None:  # duplicates, commands that strip to nothing are errors
        assert len(procfile.entries) <= len(entries)


@FUZZ
@given(st.one_of(text, st.lists(text, max_size=4)))
def test_formation_parser(value):
    formation = fast(parse_formation, value)
    if formation:
        procfile = parse_procfile("web: a\nworker: b\n")
        counts = fast(resolve_formation, procfile, formation)
        assert counts is None or set(counts) == {"web", "worker"}


@FUZZ
@given(text)
def test_env_text_parser(value):
    env = fast(parse_env_text, value)
    assert env is None or all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())


def test_env_files_load_path_on_generated_files(tmp_path):
    from honcho_uv.procfile.dotenv import load_env_files

    @FUZZ
    @given(st.binary(max_size=400) | st.sampled_from([v.encode() for v in ADVERSARIAL]))
    def check(data):
        path = tmp_path / ".env"
        path.write_bytes(data)
        fast(load_env_files, [path])

    check()


json_scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=8)
FIELDS = ["name", "cmd", "args", "env", "uid", "gid", "cwd", "detach", "shell", "os_env", "numprocesses", "flapping",
          "redirect_output", "redirect_input", "graceful_timeout", "stop_signal", "restart", "port", "port_index",
          "priority"]
template_dict = st.dictionaries(st.sampled_from([*FIELDS, "bogus", "__class__"]), json_value, max_size=8)


@FUZZ
@given(template_dict, st.booleans())
def test_template_from_dict(data, with_required):
    if with_required:
        data = {"name": "web", "cmd": "sleep 1", **data}
    template = fast(ProcessTemplate.from_dict, data)
    if template is not None:
        assert ProcessTemplate.from_dict(template.to_dict()) == template


@pytest.mark.parametrize("data", [
    {"flapping": "nan 1 1 1"}, {"flapping": [float("inf"), 1]}, {"flapping": {"window": float("nan")}},
    {"graceful_timeout": float("nan")}, {"graceful_timeout": float("inf")}, {"redirect_output": 5},
    {"args": 5}, {"uid": 2**70}, {"gid": 2**70}, {"cmd": "a\x00b"}, {"env": {"A=B": "1"}}, {"env": {"": "1"}},
    {"env": {"A": "x\x00"}}, {"cwd": "/tmp\x00"}, {"args": ["a\x00"]}, {"numprocesses": 10**9},
])
def test_template_regressions_are_config_errors(data):
    """Each of these raised something other than a ConfigError, or was accepted and failed at exec."""
    with pytest.raises(HuError):
        ProcessTemplate.from_dict({"name": "web", "cmd": "sleep 1", **data})


API_BODIES = {
    ("POST", "/processes"): template_dict,
    ("POST", "/processes/web/_scale"): st.dictionaries(st.sampled_from(["n", "scale", "x"]), json_value, max_size=2),
    ("POST", "/processes/web/_signal"): st.dictionaries(st.sampled_from(["signal", "pid"]), json_value, max_size=2),
    ("POST", "/pids/1/_signal"): st.dictionaries(st.sampled_from(["signal"]), json_value, max_size=1),
    ("POST", "/streams/1/stdin"): st.dictionaries(st.sampled_from(["data"]), json_value, max_size=1),
    ("PUT", "/processes/web"): template_dict,
    ("POST", "/processes/web/_stop"): json_value,
}


@pytest.mark.async_timeout(60)
async def test_api_json_inputs_give_2xx_or_4xx(sock_dir):
    """Every generated body on every JSON route of a real server on a unix socket; raw bytes
    (not always JSON) too. Only 2xx/4xx, never a traceback, each answered in under 100 ms."""
    cases: list[tuple[str, str, bytes]] = []

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(sorted(API_BODIES)), st.data())
    def collect(route, data):
        body = data.draw(API_BODIES[route])
        if data.draw(st.booleans()):
            raw = json.dumps(body, allow_nan=True).encode()
        else:
            raw = data.draw(st.binary(max_size=60) | st.sampled_from([b"[" * 5000, b"{\"a\":" * 50, b"NaN"]))
        cases.append((*route, raw))

    collect()
    statuses: dict[int, int] = {}

    async with serve(sock_dir, tcp=False) as api:
        api.manager.add_process("web", "cat", redirect_input=True, start=False, graceful_timeout=0.1)
        for method, path, raw in cases:
            if path == "/processes/web/_scale":  # keep the fork count small whatever was drawn
                api.manager.scale("web", 0)
            start = time.perf_counter()
            async with api.unix.request(method, api.u(path), data=raw,
                                        headers={"Content-Type": "application/json"}) as r:
                body = await r.text()
                elapsed = time.perf_counter() - start
                assert r.status < 500, (method, path, raw[:200], r.status, body)
                statuses[r.status] = statuses.get(r.status, 0) + 1
                assert "Traceback" not in body
            if path == "/processes" and r.status == 201:
                name = json.loads(body)["name"]
                await api.manager.remove_process(name)
            assert elapsed < FAST_S or path.endswith(("_scale", "_stop", "/web", "/processes")), (path, elapsed)
            if api.manager.stopping:
                break
        for job in list(api.manager.processes):
            if job != "web":
                await api.manager.remove_process(job)

    assert len(statuses) >= 3 and any(200 <= s < 300 for s in statuses), statuses  # the fuzz reached the handlers
