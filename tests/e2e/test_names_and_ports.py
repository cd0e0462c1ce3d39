"""``hu start`` and ``hu check``: the findings of the docs audit (issue 15) about names, ports,
env files and the Procfile's whereabouts. Every error is one line ``hu: ...`` and exit 1,
and nothing is started.
"""

from __future__ import annotations

import pytest

PROCFILE = "web: sleep 30\nworker: sleep 30\n"
THREE = "web: sleep 30\nworker: sleep 30\nclock: sleep 30\n"


def _one_line_error(result) -> bytes:
    assert result.returncode == 1, result
    assert result.stdout == b"", result.stdout  # no "started" line: nothing ran
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and b"Traceback" not in result.stderr, result.stderr
    return lines[0]


# -- unknown names name their own flag and list the known types ------------------------------------


@pytest.mark.parametrize("flag,shown", [("-q", "--quiet"), ("--quiet", "--quiet"), ("--can-die", "--can-die"),
                                        ("--restart", "--restart"), ("--stdin", "--stdin")])
def test_an_unknown_type_names_its_own_flag_and_the_known_types(app, flag, shown):
    app.write("Procfile", PROCFILE)
    line = _one_line_error(app.hu("start", flag, "web,wrker"))
    assert line == f"hu: {shown}: no process type 'wrker' in Procfile (known: web, worker)".encode()
    app.assert_no_survivors()


def test_all_and_known_names_are_still_accepted_by_the_type_flags(app):
    app.write("Procfile", "web: echo hello\n")
    result = app.hu("start", "-q", "web", "--can-die", "all", "--stdin", "all", "--no-timestamps")
    assert result.returncode == 0, result.stderr
    assert b"hello" not in result.stdout and b"web.1 exited with code 0" in result.stdout


def test_quiet_all_is_refused_rather_than_ignored(app):
    # `-q all` was accepted and hid nothing: the console knows no `all` for -q.
    app.write("Procfile", PROCFILE)
    line = _one_line_error(app.hu("start", "-q", "all"))
    assert line == b"hu: --quiet: no process type 'all' in Procfile (known: web, worker)"


# -- nothing to run ------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["-c", "all=0"], ["-m", "web=0,worker=0"], ["-x", "web,worker"],
                                  ["-x", "web", "-x", "worker"], ["web", "-c", "web=0"]])
def test_nothing_to_run_is_an_error_not_a_silent_exit_0(app, args):
    app.write("Procfile", PROCFILE)
    line = _one_line_error(app.hu("start", *args))
    assert line.startswith(b"hu: nothing to run: ")


# -- ports past 65535 ------------------------------------------------------------------------------------


def test_a_port_past_65535_fails_the_start_naming_the_flag_and_the_instance(app):
    app.write("Procfile", THREE)
    line = _one_line_error(app.hu("start", "-p", "65500"))
    assert line == b"hu: --port: worker.1 would get port 65600 (base 65500 + 100 * 1 + 0), past 65535: use a lower base"
    line = _one_line_error(app.hu("start", "-p", "65534", "-c", "web=3", "-x", "worker,clock"))
    assert line == b"hu: --port: web.3 would get port 65536 (base 65534 + 100 * 0 + 2), past 65535: use a lower base"
    line = _one_line_error(app.hu("start", "-D", "-p", "65500"))  # checked before going to the background
    assert line.startswith(b"hu: --port: worker.1 would get port 65600")
    app.assert_no_survivors()


def test_a_port_past_65535_names_the_env_file_or_hu_toml_it_came_from(app):
    app.write("Procfile", THREE)
    app.write(".env", "# ports\nPORT=65500\n")
    assert _one_line_error(app.hu("start")).startswith(b"hu: .env:2: PORT: worker.1 would get port 65600")
    app.write(".env", "")
    app.write("hu.toml", "[start]\nport = 65500\n")
    assert _one_line_error(app.hu("start")).startswith(b"hu: hu.toml: start.port: worker.1 would get port 65600")


def test_a_port_past_65535_in_run_with(app):
    app.write("Procfile", THREE)
    line = _one_line_error(app.hu("run", "-p", "65500", "--with", "clock", "--", "true"))
    assert line.startswith(b"hu: --port: clock.1 would get port 65700")


# -- hu check and the env files --------------------------------------------------------------------


def test_check_reports_every_env_line_dotenv_cannot_parse(app):
    app.write("Procfile", PROCFILE)
    app.write(".env", 'GOOD=1\nthis is not an assignment\nBAD="unterminated\nX=2\n')
    app.write("second.env", "A=1\nB='open\n")
    result = app.hu("check", "-e", ".env,second.env")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        b"hu: .env:2: cannot parse 'this is not an assignment' (expected KEY=VALUE)",
        b"hu: .env:3: cannot parse 'BAD=\"unterminated' (expected KEY=VALUE)",
        b"hu: second.env:2: cannot parse \"B='open\" (expected KEY=VALUE)",
    ]


def test_check_and_run_refuse_a_nul_byte_in_an_env_file(app):
    # It passed `hu check`, then `hu run` died with a ValueError traceback from execve.
    app.write("Procfile", PROCFILE)
    app.write(".env", "A=1\nB=x\0y\n")
    check = app.hu("check")
    assert check.returncode == 1
    assert check.stderr == b"hu: .env:2: 'B=x\\x00y' contains a NUL byte, which no environment can carry\n"
    run = app.hu("run", "echo", "hi")
    assert run.returncode == 1 and b"Traceback" not in run.stderr and b".env:2:" in run.stderr


# -- no Procfile -------------------------------------------------------------------------------------------


def test_no_procfile_names_the_directory_and_the_way_out(app):
    root = app.root.resolve()
    for args in (["start"], ["check"], ["run", "--with", "web", "--", "true"]):
        line = _one_line_error(app.hu(*args))
        assert line == f"hu: Procfile: does not exist in {root} (use -f FILE or -d DIR)".encode(), args
    (app.root / "sub").mkdir()
    line = _one_line_error(app.hu("-d", "sub", "start"))
    assert line == f"hu: {root / 'sub' / 'Procfile'}: does not exist (use -f FILE or -d DIR)".encode()
    line = _one_line_error(app.hu("start", "-f", "Procfile.dev"))
    assert line == f"hu: Procfile.dev: does not exist in {root}".encode()


def test_procfile_name_from_an_env_file_says_where_it_came_from(app):
    root = app.root.resolve()
    app.write(".env", "A=1\nPROCFILE=Procfile.dev\n")
    line = _one_line_error(app.hu("start"))
    assert line == (f"hu: Procfile.dev: does not exist in {root} (the name is PROCFILE from .env:2; "
                    f"-f FILE overrides it)").encode()
    app.write(".env", "")
    line = _one_line_error(app.hu("check", env={"PROCFILE": "Procfile.os"}))
    assert line == (f"hu: Procfile.os: does not exist in {root} (the name is PROCFILE from the environment; "
                    f"-f FILE overrides it)").encode()


def test_regression_dash_f_names_the_file_and_leaves_the_app_root(app):
    # foreman makes the Procfile's directory the app root; hu does not, and docs/cli.rst's
    # foreman table did not say so. The app root stays -d (default: the current directory).
    (app.root / "sub").mkdir()
    app.write("sub/Procfile", "a: pwd; echo X=$X\n")
    app.write("sub/.env", "X=from-sub\n")
    app.write(".env", "X=from-the-app-root\n")
    out = app.hu("start", "-f", "sub/Procfile", "--no-prefix").stdout.decode().splitlines()
    assert out == [str(app.root.resolve()), "X=from-the-app-root"]
    out = app.hu("start", "-d", "sub", "--no-prefix").stdout.decode().splitlines()
    assert out == [str((app.root / "sub").resolve()), "X=from-sub"]
