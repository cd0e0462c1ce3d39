"""tty children through the embedding API, on asyncio and on uvloop: a pty as stdio and
controlling terminal, output byte-exact, input, window size."""

from __future__ import annotations

import sys

from honcho_uv import Manager
from tests.kit.events import Output
from tests.kit.wait import until

SHOW = ("import os, sys\n"
        "fd = os.open('/dev/tty', os.O_RDWR)  # only works with a controlling terminal\n"
        "print(os.isatty(0), os.isatty(1), os.isatty(2), os.get_terminal_size(fd).columns, flush=True)\n")


def _exited(m: Manager, name: str) -> bool:
    return m.get_process_status(name)["state"] == "EXITED"


async def test_a_tty_child_has_a_pty_as_stdio_and_controlling_terminal(env) -> None:
    async with Manager() as m:
        out = Output(m)
        m.add_process("t", sys.executable, args=["-c", SHOW], env=env, tty=True, redirect_output=["out"],
                      restart="never")
        await until(lambda: _exited(m, "t"))
        assert out.get("t.1") == b"True True True 80\n"


async def test_output_written_before_hu_reads_is_not_eaten_by_the_stdin_writer(env) -> None:
    # Regression: uvloop's write pipe transport reads the fd it writes to; on a pty master
    # (one fd both ways) it swallowed whatever the child wrote first, such as a prompt.
    async with Manager() as m:
        out = Output(m)
        for n in range(5):
            m.add_process(f"p{n}", "printf", args=["prompt> "], env=env, tty=True, redirect_output=["out"],
                          restart="never")
        await until(lambda: all(_exited(m, f"p{n}") for n in range(5)))
        assert [out.get(f"p{n}.1") for n in range(5)] == [b"prompt> "] * 5


async def test_tty_output_keeps_newlines_and_both_streams_share_the_first_label(env) -> None:
    code = "import os; os.write(1, b'a\\nb\\r\\n'); os.write(2, b'\\x1b[32merr\\x1b[0m\\n')"
    async with Manager() as m:
        out = Output(m)
        m.add_process("t", sys.executable, args=["-c", code], env=env, tty=True, redirect_output=["out", "err"],
                      restart="never")
        await until(lambda: _exited(m, "t"))
        assert {label for (_, label) in out.data} == {"out"}
        assert out.get("t.1") == b"a\nb\r\n\x1b[32merr\x1b[0m\n"


async def test_write_types_into_a_tty_child(env) -> None:
    async with Manager() as m:
        out = Output(m)
        m.add_process("t", sys.executable, args=["-c", "print('got', input().upper())"], env=env, tty=True,
                      redirect_output=["out"], restart="never")
        await until(lambda: m.get_process_status("t")["state"] == "RUNNING")
        m.get_process("t.1").write("hello\n")
        await until(lambda: _exited(m, "t"))
        assert out.get("t.1") == b"hello\ngot HELLO\n"  # the terminal's echo, then the answer


async def test_resize_terminals_reaches_running_and_later_tty_children(env) -> None:
    code = ("import os, signal, time\n"
            "signal.signal(signal.SIGWINCH, lambda *a: print('winch', *os.get_terminal_size(1), flush=True))\n"
            "print('start', *os.get_terminal_size(1), flush=True)\n"
            "time.sleep(30)\n")
    async with Manager() as m:
        out = Output(m)
        m.add_process("t", sys.executable, args=["-c", code], env=env, tty=True, redirect_output=["out"],
                      restart="never")
        await until(lambda: b"start 80 24\n" in out.get("t.1"))
        m.resize_terminals(132, 43)
        await until(lambda: b"winch 132 43\n" in out.get("t.1"))
        m.add_process("u", sys.executable, args=["-c", code], env=env, tty=True, redirect_output=["out"],
                      restart="never")
        await until(lambda: b"start 132 43\n" in out.get("u.1"))


async def test_a_tty_child_whose_output_nobody_wants_never_blocks(env) -> None:
    code = "import sys; sys.stdout.write('x' * (4 << 20)); sys.stdout.flush()"
    async with Manager() as m:
        m.add_process("t", sys.executable, args=["-c", code], env=env, tty=True, redirect_output=[],
                      restart="never")
        await until(lambda: _exited(m, "t"), 20)
        assert m.supervisor("t").last_exit.returncode == 0
