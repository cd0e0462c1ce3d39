"""The gafferd round trip (issue 5): ``hu export gafferd`` then ``hu daemon`` on the file as
is. Each instance gets the PORT and PS that ``hu start`` gives it and the .env values
intact (space, %, $, quotes, ``:``, ``=``, ``#``)."""

from __future__ import annotations

import json
import signal

from honcho_uv.procfile.dotenv import parse_env_text
from tests.kit.procs import PY
from tests.kit.wait import wait_for

DOTENV = """\
SPACE="a b  c"
PCT=100%
PCT_NAME=%(home)s %PATH%
DOLLAR='$HOME and ${USER:-x} $$'
SINGLE="it's"
DOUBLE='say "hi"'
COLON=postgres://u:p@h:5432/db?x=1
HASH="a # not a comment"
"""

DUMP = f"""{PY} -c 'import json, os; json.dump(dict(os.environ), open("env." + os.environ["PS"] + ".json", "w"))'"""


def test_export_gafferd_then_hu_daemon_runs_it_as_is(app, daemon):
    myapp = app.root / "myapp"
    myapp.mkdir()
    (myapp / "Procfile").write_text(f"web: {DUMP}; exec sleep 100\nworker: {DUMP}; exec sleep 100\n")
    (myapp / ".env").write_text(DOTENV)
    expected_env = parse_env_text(DOTENV)
    assert expected_env["SPACE"] == "a b  c" and expected_env["DOUBLE"] == 'say "hi"'

    out = app.root / "out"
    result = app.hu("export", "gafferd", str(out), "-d", str(myapp), "-c", "web=2", text=True)
    assert result.returncode == 0, result.stderr
    ini = out / "myapp.ini"
    assert ini.exists()

    running = daemon(str(ini))
    names = {"web.1": "5000", "web.2": "5001", "worker.1": "5100"}  # as `hu start -c web=2` numbers them
    files = {name: myapp / f"env.{name}.json" for name in names}

    def dumped():
        try:
            return {n: json.loads(f.read_text()) for n, f in files.items()}
        except (OSError, ValueError):
            return None

    envs = wait_for(dumped, 15, "every instance's env dump")
    for name, port in names.items():
        env = envs[name]
        assert env["PORT"] == port, (name, env["PORT"])
        assert env["PS"] == name
        for key, value in expected_env.items():
            assert env.get(key) == value, (name, key, env.get(key), value)

    ps = app.hu("ps", "--json", "--socket", str(running.sock), text=True)
    assert ps.returncode == 0, ps.stderr
    rows = {row["name"]: row for row in json.loads(ps.stdout)}
    assert set(names) <= set(rows) and all(rows[n]["os_pid"] for n in names)
    text = app.hu("ps", "--socket", str(running.sock), text=True).stdout
    assert "web.1" in text and "web.2" in text and "worker.1" in text

    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(15) == 0
