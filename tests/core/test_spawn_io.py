"""Spawning, output as bytes, output labels, stdin writes (issue 2, items 3 and 7)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest

from honcho_uv import Manager, StateError
from tests.kit.events import EventLog, Output
from tests.kit.procs import python, tree
from tests.kit.wait import until


async def test_output_is_bytes_and_binary_passes_through(env) -> None:
    async with Manager() as m:
        out = Output(m)
        m.add_process("bin", sys.executable, args=tree("--binary", "--spew", "3", "--exit-after", "0")[1:],
                      env=env, redirect_output=["out"], restart="never")
        await until(lambda: m.get_process_status("bin")["state"] == "EXITED")
        assert out.get("bin.1") == b"\xff\xfe\x00bin\x00\xc3(\nline 0\nline 1\nline 2\n"


async def test_large_output_arrives_complete_in_chunks(env) -> None:
    async with Manager() as m:
        out = Output(m)
        code = "import sys; sys.stdout.buffer.write(bytes(range(256)) * 8192)"
        m.add_process("big", sys.executable, args=["-c", code], env=env, redirect_output=["out"],
                      restart="never")
        await until(lambda: m.get_process_status("big")["state"] == "EXITED", 10)
        assert out.get("big.1") == bytes(range(256)) * 8192  # 2 MiB, byte for byte
        assert out.chunks >= 2


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["out", "err"], {"out": b"O\n", "err": b"E\n"}),  # two labels: two streams
        (["all", "all"], {"all": b"O\nE\n"}),  # the same label twice: one pipe, like 2>&1
        (["out"], {"out": b"O\n"}),  # one slot: stderr is discarded
        ([], {}),  # no labels: both discarded
    ],
)
async def test_redirect_output_labels(env, labels, expected) -> None:
    code = "import sys; print('O', flush=True); sys.stderr.write('E\\n'); sys.stderr.flush()"

    async with Manager() as m:
        out = Output(m)
        m.add_process("p", sys.executable, args=["-u", "-c", code], env=env, redirect_output=labels,
                      restart="never")
        await until(lambda: m.get_process_status("p")["state"] == "EXITED")
        got = {label: bytes(data) for (_, label), data in out.data.items()}
        assert got == expected


async def test_process_monitor_io_by_label_and_wildcard(env) -> None:
    async with Manager() as m:
        m.add_process("p", sys.executable, args=["-u", "-c", "import time; time.sleep(0.3); print('hi')"],
                      env=env, redirect_output=["out", "err"], restart="never")
        await until(lambda: m.list("p"))
        process = m.get_process("p.1")
        by_label, wild = [], []
        process.monitor_io("out", lambda label, msg: by_label.append(msg))
        process.monitor_io(".", lambda label, msg: wild.append(msg))
        with pytest.raises(StateError, match="not redirected"):
            process.monitor_io("nope", print)
        await until(lambda: b"".join(m["data"] for m in by_label) == b"hi\n")
        await until(lambda: b"".join(m["data"] for m in wild) == b"hi\n")
        msg = by_label[0]
        assert msg["event"] == "out" and msg["name"] == "p"
        assert msg["pid"] == process.id and msg["os_pid"] == process.os_pid


async def test_regression_stdin_written_while_spawning_is_kept_in_order(env) -> None:
    async with Manager() as m:
        out = Output(m)
        m.add_process("cat", sys.executable, args=tree("--read-stdin")[1:], env=env, redirect_output=["out"],
                      redirect_input=True, restart="never")
        job = m.get_process("cat")
        while not job.instances.get(1):  # noqa: ASYNC110 - one loop turn at a time, to land mid-spawn
            await asyncio.sleep(0)
        process = job.instances[1]
        assert process.os_pid is None  # still spawning
        process.write(b"a\n")  # before the spawn finished: kept, not dropped
        process.write("b\n")
        process.writelines([b"c\n", "d\n", b"e\n"])
        await until(lambda: out.get("cat.1") == b"a\nb\nc\nd\ne\n")


async def test_write_from_another_thread(env) -> None:
    async with Manager() as m:
        out = Output(m)
        m.add_process("cat", sys.executable, args=tree("--read-stdin")[1:], env=env, redirect_output=["out"],
                      redirect_input=True, restart="never")
        await until(lambda: m.list("cat"))
        process = m.get_process("cat.1")
        lines = [f"{i}\n".encode() for i in range(500)]
        t = threading.Thread(target=process.writelines, args=(lines,))
        t.start()
        await asyncio.to_thread(t.join)
        await until(lambda: out.get("cat.1") == b"".join(lines), 10)


async def test_write_without_redirect_input_is_a_state_error(env) -> None:
    async with Manager() as m:
        m.add_process("p", sys.executable, args=tree()[1:], env=env)
        await until(lambda: m.list("p"))
        with pytest.raises(StateError, match="has no stdin"):
            m.get_process("p.1").write(b"x")
        with pytest.raises(StateError):
            m.get_process("p.1").writelines([b"x"])


async def test_stdin_is_dev_null_by_default(env) -> None:
    async with Manager() as m:
        out = Output(m)
        code = "import os, sys; print(os.path.realpath('/proc/self/fd/0')); print(repr(sys.stdin.read()))"
        m.add_process("p", sys.executable, args=["-c", code], env=env, redirect_output=["out"],
                      restart="never")
        await until(lambda: m.get_process_status("p")["state"] == "EXITED")
        assert out.text("p.1") == "/dev/null\n''\n"


async def test_env_os_env_template_wins_and_instance_values(env, monkeypatch) -> None:
    monkeypatch.setenv("HU_TEST_SHARED", "from-os")
    monkeypatch.setenv("HU_TEST_OS_ONLY", "os")
    names = ["HU_TEST_SHARED", "HU_TEST_OS_ONLY", "PORT", "PS", "HU_PROCESS_NAME"]
    args = tree(*[a for n in names for a in ("--print-env", n)], "--exit-after", "0")[1:]

    async with Manager() as m:
        out = Output(m)
        m.add_process("web", sys.executable, args=args, env={**env, "HU_TEST_SHARED": "from-template"},
                      os_env=True, port=5000, port_index=1, numprocesses=2, redirect_output=["out"],
                      restart="never")
        m.add_process("bare", sys.executable, args=args, env=env, os_env=False, redirect_output=["out"],
                      restart="never")
        await until(lambda: all(m.get_process_status(n)["state"] == "EXITED" for n in ("web", "bare")))
        assert out.text("web.2").splitlines() == [
            "HU_TEST_SHARED=from-template", "HU_TEST_OS_ONLY=os", "PORT=5101", "PS=web.2",
            "HU_PROCESS_NAME=web.2"]
        assert out.text("web.1").splitlines()[2] == "PORT=5100"
        # no os_env: the OS variables are not passed; no port: no PORT
        assert out.text("bare.1").splitlines() == [
            "HU_TEST_SHARED=<unset>", "HU_TEST_OS_ONLY=<unset>", "PORT=<unset>", "PS=bare.1",
            "HU_PROCESS_NAME=bare.1"]


async def test_shell_runs_the_whole_command_through_sh(env) -> None:
    async with Manager() as m:
        out = Output(m)
        m.add_process("sh", "echo one && echo $PS | tr a-z A-Z; echo \"$0\"", shell=True, env=env,
                      redirect_output=["out"], restart="never")
        await until(lambda: m.get_process_status("sh")["state"] == "EXITED")
        assert out.text("sh.1") == "one\nSH.1\n/bin/sh\n"


async def test_cwd(env, tmp_path) -> None:
    async with Manager() as m:
        out = Output(m)
        m.add_process("p", sys.executable, args=tree("--print-cwd", "--exit-after", "0")[1:], env=env,
                      cwd=str(tmp_path), redirect_output=["out"], restart="never")
        await until(lambda: m.get_process_status("p")["state"] == "EXITED")
        assert out.text("p.1") == f"{os.path.realpath(tmp_path)}\n"  # noqa: ASYNC240 - a test's assertion


@pytest.mark.root_only
@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"uid": "nobody", "gid": "nogroup"}, "65534 65534 65534"),  # both
        ({"uid": "nobody"}, "65534 65534 65534"),  # uid alone: the user's primary group
        ({"gid": 65534}, "0 65534 65534"),  # gid alone: still root, group dropped
    ],
)
async def test_uid_gid_drop_privileges(env, tmp_path, settings, expected) -> None:
    async with Manager() as m:
        out = Output(m)
        os.chmod(tmp_path, 0o755)
        m.add_process("id", 'echo "$(id -u) $(id -g) $(id -G)"', shell=True, env=env, cwd=str(tmp_path),
                      redirect_output=["out", "out"], restart="never", **settings)
        await until(lambda: m.get_process_status("id")["state"] == "EXITED")
        assert out.text("id.1") == expected + "\n"


async def test_spawn_event_and_info(env) -> None:
    async with Manager() as m:
        events = EventLog(m)
        m.add_process("p", python("import time; time.sleep(30)")[0], args=python("import time; time.sleep(30)")[1:],
                      env=env, port=6000)
        await until(lambda: events.named("spawn"))
        process = m.get_process("p.1")
        info = process.info()
        assert info["name"] == "p.1" and info["os_pid"] == process.os_pid and info["alive"]
        assert info["port"] == "6000" and "env" not in info
        assert m.get_process_status("p") == {"active": True, "running": 1, "max_processes": 1,
                                             "numprocesses": 1, "state": "RUNNING"}
        assert m.get_process_info("p")["env"] == ["HU_TEST_MARKER", "LC_ALL", "PATH"]  # names only


@pytest.mark.root_only
async def test_regression_privdrop_cannot_be_replaced_from_the_cwd(env, tmp_path) -> None:
    # The uid drop ran `python -m honcho_uv._privdrop`, which imports from the child's cwd
    # first: a honcho_uv/ in the app directory ran as root instead of the real helper.
    fake = tmp_path / "honcho_uv"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "_privdrop.py").write_text("print('hijacked as', __import__('os').getuid())\n")
    os.chmod(tmp_path, 0o755)

    async with Manager() as m:
        out = Output(m)
        m.add_process("id", "id -u", env={**env, "PYTHONPATH": str(tmp_path)}, cwd=str(tmp_path),
                      uid="nobody", redirect_output=["out", "out"], restart="never")
        await until(lambda: m.get_process_status("id")["state"] == "EXITED")
        assert out.text("id.1") == "65534\n"
