"""hu.toml's model (readiness, health, dependencies, oneshots) as the real consumers read
each export: kubernetes-validate's schemas for every manifest, ``systemd-analyze verify``,
a real supervisord, a real runsvdir, and the gafferd ini through
``honcho_uv.daemon.config.load_config`` and a real ``hu daemon``.

The app is runnable: ``model_app.py`` (written into the app root) is a Postgres-like tcp
``db``, a ``web`` answering ``/healthz``, a ``worker`` that sends READY=1 over
``$NOTIFY_SOCKET``, and ``release``/``migrate`` jobs; each one records when it started and
finished in ``events/`` so the start order can be checked.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from honcho_uv.export import build_context, export
from honcho_uv.procfile.app import load_app

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable

MODEL_APP = r'''
import os, signal, socket, sys, time

def record(event):
    name = os.environ.get("PS", sys.argv[2] if len(sys.argv) > 2 else "x")
    os.makedirs("events", exist_ok=True)
    path = os.path.join("events", name + "." + event)
    with open(path + ".tmp", "w") as fh:
        fh.write(repr(time.time()))
    os.replace(path + ".tmp", path)

def forever():
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *a: sys.exit(0))
    while True:
        time.sleep(3600)

role = sys.argv[1]
if role == "probe-tcp":
    socket.create_connection(("127.0.0.1", int(sys.argv[2])), 1).close()
    sys.exit(0)
record("start")
port = int(os.environ.get("PORT", "0"))
if role == "job":
    time.sleep(0.3)
    record("done")
elif role == "tcp":
    time.sleep(0.5)  # a database takes a moment before it accepts connections
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    record("ready")
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *a: sys.exit(0))
    while True:
        conn, _ = srv.accept()
        conn.close()
elif role == "http":
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", port), Handler)
    record("ready")
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *a: sys.exit(0))
    server.serve_forever()
elif role == "notify":
    address = os.environ.get("NOTIFY_SOCKET")
    if address:
        if address.startswith("@"):
            address = "\0" + address[1:]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.sendto(b"READY=1", address)
        record("ready")
    forever()
else:
    forever()
'''

HU_TOML = """\
[processes.db]
ready = "tcp"
ready_timeout = 30
health = '''exec:{py} model_app.py probe-tcp "$PORT"'''
health_interval = 2.5
stop_signal = "INT"

[processes.migrate]
oneshot = true
depends_on = {{ db = "ready" }}

[processes.web]
depends_on = {{ db = "ready", migrate = "succeeded" }}
ready = "http:/healthz"
health = "http:/healthz"
health_interval = 5
health_failures = 4
restart = "on-failure"
stop_signal = "INT"

[processes.worker]
depends_on = {{ db = "started", release = "exited" }}
ready = "notify"
stop_signal = "QUIT"
restart = "always"

[processes.clock]
depends_on = {{ worker = "ready", web = "started" }}
ready = 'exec:test -n "$PS" && echo "100% ok"'
ready_timeout = 20
restart = "never"
"""

NAMES = ["release.1", "db.1", "migrate.1", "web.1", "web.2", "worker.1", "clock.1"]
ONESHOTS = ["release.1", "migrate.1"]


def make_app(tmp_path: Path, port: int = 5000) -> Path:
    """The runnable app; ``port`` moves every PORT (base + 100 * index)."""
    root = tmp_path / "shop app"
    (root / "events").mkdir(parents=True)
    (root / "model_app.py").write_text(MODEL_APP)
    run = f"'{PY}' model_app.py"
    (root / "Procfile").write_text(
        f"release: {run} job release\n"
        f"db: {run} tcp\n"
        f"migrate: {run} job migrate\n"
        f"web: {run} http\n"
        f"worker: {run} notify\n"
        f"clock: {run} idle && echo 'tick 100%'\n"
    )
    (root / "hu.toml").write_text(HU_TOML.format(py=f"'{PY}'"))
    (root / ".env").write_text(f"PORT={port}\nGREETING=hello\n")
    return root


def do_export(root: Path, fmt: str, out: Path, **options: object) -> None:
    app = load_app(root)
    counts = {"release": 1, "db": 1, "migrate": 1, "web": 2, "worker": 1, "clock": 1}
    options.setdefault("app_name", "shop")
    export(build_context(app, fmt, out, counts, **options))  # type: ignore[arg-type]


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def events(root: Path) -> dict[str, float]:
    """``{"web.1.start": t, "migrate.1.done": t, ...}``."""
    out = {}
    for path in (root / "events").iterdir():
        if not path.name.endswith(".tmp"):
            out[path.name] = float(path.read_text())
    return out


def processes_under(token: str) -> list[int]:
    """Pids of the processes whose command line mentions *token* (the test's app root)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if token.encode() in cmdline:
                found.append(int(entry))
    return found


def free_port_base() -> int:
    """A PORT base whose ports for db (base+100) and web (base+300, +301) are free now."""
    for _ in range(50):
        base = random.randrange(20000, 60000, 1000)
        try:
            for port in (base + 100, base + 300, base + 301):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no free port base found")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Path]:
    """The app root; anything still running from it afterwards is killed (and fails the test)."""
    root = make_app(tmp_path, free_port_base())
    yield root
    left = processes_under(str(tmp_path))
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"processes left behind: {left}"


# -- kubernetes: every manifest against the schemas ----------------------------------------


def test_kubernetes_manifests_validate(app: Path, tmp_path: Path) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    out = tmp_path / "k8s"
    do_export(app, "kubernetes", out, image="registry.example/shop:1")
    kinds = set()
    for name in yaml.safe_load((out / "kustomization.yaml").read_text())["resources"]:
        for doc in yaml.safe_load_all((out / name).read_text()):
            kubernetes_validate.validate(doc, kubernetes_validate.utils.latest_version(), strict=True)
            kinds.add((doc["kind"], doc["metadata"]["name"]))
    assert kinds == {("ConfigMap", "shop-env"), ("Job", "shop-release"), ("Deployment", "shop-db"),
                     ("Job", "shop-migrate"), ("Deployment", "shop-web"), ("Service", "shop-web"),
                     ("Deployment", "shop-worker"), ("Deployment", "shop-clock")}


# -- systemd: systemd-analyze verify, and its view of the dependencies ---------------------


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_verify_and_dependencies(app: Path, tmp_path: Path) -> None:
    out = tmp_path / "units"
    do_export(app, "systemd", out)
    units = sorted(str(p) for p in out.iterdir() if p.suffix in (".service", ".target"))
    env = dict(os.environ, SYSTEMD_LOG_LEVEL="info", SYSTEMD_PAGER="cat")
    quiet = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True,
                           env=env, timeout=60)
    assert quiet.returncode == 0, quiet.stderr
    assert [line for line in quiet.stderr.splitlines() if str(out) in line or ".service" in line] == []
    env["SYSTEMD_LOG_LEVEL"] = "debug"
    dump = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True,
                          env=env, timeout=60).stdout

    def unit(name: str) -> str:
        return dump.split(f"-> Unit {name}:", 1)[1].split("-> Unit ", 1)[0]

    def deps(block: str, kind: str) -> set[str]:
        return set(re.findall(rf"^\s*{kind}: (\S+)", block, re.M))

    web = unit("shop-web-2.service")
    assert {"shop-db-1.service", "shop-migrate-1.service", "shop-release-1.service"} <= deps(web, "After")
    assert {"shop-db-1.service", "shop-migrate-1.service", "shop-release-1.service"} <= deps(web, "Requires")
    worker = unit("shop-worker-1.service")
    assert {"shop-db-1.service", "shop-release-1.service"} <= deps(worker, "Wants")
    assert not deps(worker, "Requires") & {"shop-db-1.service", "shop-release-1.service"}
    assert re.search(r"^\s*Type: notify$", worker, re.M) and re.search(r"^\s*NotifyAccess: all$", worker, re.M)
    assert re.search(r"^\s*KillSignal: QUIT$", worker, re.M) or "KillSignal: SIGQUIT" in worker
    migrate = unit("shop-migrate-1.service")
    assert re.search(r"^\s*Type: oneshot$", migrate, re.M)
    assert re.search(r"^\s*RemainAfterExit: yes$", migrate, re.M)
    clock = unit("shop-clock-1.service")
    post = [line for line in clock.splitlines() if "Command Line:" in line]
    assert len(post) == 2 and "until test -n" in post[1]
    assert {"shop-web-1.service", "shop-web-2.service", "shop-worker-1.service"} <= deps(clock, "After")


# -- supervisord: a real one loads the file and runs it -----------------------------------

SUPERVISORD = shutil.which("supervisord") or str(Path(PY).parent / "supervisord")
SUPERVISORCTL = shutil.which("supervisorctl") or str(Path(PY).parent / "supervisorctl")


@pytest.mark.skipif(not Path(SUPERVISORD).exists(), reason="supervisor is not installed")
def test_supervisord_runs_the_model(app: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    do_export(app, "supervisord", tmp_path / "export", log_dir=logs)
    main = tmp_path / "supervisord.conf"
    main.write_text(f"""[unix_http_server]
file={tmp_path}/supervisor.sock

[supervisord]
logfile={tmp_path}/supervisord.log
pidfile={tmp_path}/supervisord.pid
childlogdir={tmp_path}
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{tmp_path}/supervisor.sock

[include]
files = {tmp_path}/export/shop.conf
""")
    proc = subprocess.Popen([SUPERVISORD, "-n", "-c", str(main)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def ctl(*args: str) -> str:
        return subprocess.run([SUPERVISORCTL, "-c", str(main), *args], capture_output=True, text=True,
                              timeout=30).stdout

    def states() -> dict[str, str] | None:
        found = dict(re.findall(r"^shop:shop-(\S+)\s+(\S+)", ctl("status"), re.M))
        return found if len(found) == len(NAMES) else None

    try:
        want = {n.replace(".", "-"): "EXITED" if n in ONESHOTS else "RUNNING" for n in NAMES}
        wait_for(lambda: states() == want, what=f"supervisord states {want} (last: {states()})")
        # The oneshots ran once, to the end, and were not restarted (autorestart=false).
        time.sleep(1.5)
        assert states() == want
        seen = events(app)
        assert all(f"{n}.done" in seen for n in ONESHOTS)
        # supervisord read the priorities: group:program priority.
        avail = dict(re.findall(r"^shop:shop-(\S+)\s+in use\s+auto\s+\d+:(\d+)", ctl("avail"), re.M))
        assert avail == {"release-1": "100", "db-1": "200", "migrate-1": "300", "web-1": "400", "web-2": "400",
                         "worker-1": "300", "clock-1": "500"}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    wait_for(lambda: not processes_under(str(app)), timeout=15, what="no program left after the stop")


# -- runit: a real runsvdir, check scripts, sv start waits and oneshot finish scripts ---------


@pytest.mark.skipif(not all(shutil.which(t) for t in ("runsvdir", "runsv", "sv", "chpst", "svlogd")),
                    reason="runit is not installed")
def test_runsvdir_runs_the_model(app: Path, tmp_path: Path) -> None:
    services = tmp_path / "service"
    do_export(app, "runit", services, log_dir=tmp_path / "logs")
    proc = subprocess.Popen(["runsvdir", "-P", str(services)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: {f"{n}.start" for n in NAMES} <= set(events(app)), what="every service to start")
        wait_for(lambda: {f"{n}.done" for n in ONESHOTS} <= set(events(app)), what="the oneshots to finish")
        seen = events(app)
        # The oneshots' finish scripts took them down: they ran once and stay down.
        for name in ONESHOTS:
            svc = services / f"shop-{name.replace('.', '-')}"
            wait_for(lambda svc=svc: subprocess.run(["sv", "status", str(svc)], capture_output=True, text=True,
                                                    timeout=10).stdout.startswith("down:"),
                     what=f"{svc.name} to be down")
        first = {n: seen[f"{n}.start"] for n in ONESHOTS}
        time.sleep(2.5)  # runsv would have restarted them after 1 s
        assert {n: events(app)[f"{n}.start"] for n in ONESHOTS} == first
        # clock's ./check (its exec ready probe) passes: sv check says ok.
        check = subprocess.run(["sv", "-w", "10", "check", str(services / "shop-clock-1")], capture_output=True,
                               text=True, timeout=20)
        assert check.stdout.startswith("ok: run:"), check.stdout + check.stderr
    finally:
        proc.send_signal(signal.SIGHUP)  # runsvdir: TERM to every runsv, then exit
        proc.wait(timeout=20)
    wait_for(lambda: not processes_under(str(tmp_path)), timeout=15, what="nothing left after runsvdir stops")


@pytest.mark.skipif(not all(shutil.which(t) for t in ("runsvdir", "runsv", "sv", "chpst", "svlogd")),
                    reason="runit is not installed")
def test_runit_dependent_waits_for_the_check_script(tmp_path: Path) -> None:
    """web's run script holds at ``sv -w 30 start ../gated-db-1`` until db's ./check (its exec
    ready probe) passes."""
    root = tmp_path / "gated"
    (root / "events").mkdir(parents=True)
    (root / "model_app.py").write_text(MODEL_APP)
    (root / "Procfile").write_text(f"db: '{PY}' model_app.py idle\nweb: '{PY}' model_app.py idle\n")
    (root / "hu.toml").write_text('[processes.db]\nready = "exec:test -f gate"\n'
                                  '[processes.web]\ndepends_on = { db = "ready" }\n')
    services = tmp_path / "service"
    app = load_app(root)
    export(build_context(app, "runit", services, {"db": 1, "web": 1}, app_name="gated", log_dir=tmp_path / "logs"))
    proc = subprocess.Popen(["runsvdir", "-P", str(services)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: "db.1.start" in events(root), what="db to start")
        time.sleep(1.0)
        assert "web.1.start" not in events(root), "web started before db's check passed"
        (root / "gate").touch()
        wait_for(lambda: "web.1.start" in events(root), what="web to start once db's check passes")
    finally:
        proc.send_signal(signal.SIGHUP)
        proc.wait(timeout=20)
    wait_for(lambda: not processes_under(str(tmp_path)), timeout=15, what="nothing left after runsvdir stops")


# -- gafferd: the ini as the daemon reads it, then a real hu daemon -------------------------


def test_gafferd_ini_loads_in_the_daemon_config(app: Path, tmp_path: Path) -> None:
    from honcho_uv.daemon.config import load_config
    from honcho_uv.models import parse_probe

    do_export(app, "gafferd", tmp_path / "gafferd")
    config = load_config(tmp_path / "gafferd" / "shop.ini")
    t = {name: spec.template for name, spec in config.processes.items()}
    assert t["web"].depends_on == {"db": "ready", "migrate": "succeeded", "release": "succeeded"}
    assert t["web"].ready == parse_probe("http:/healthz") and t["web"].health == parse_probe("http:/healthz")
    assert (t["web"].health_interval, t["web"].health_failures, t["web"].ready_timeout) == (5.0, 4, 60.0)
    assert (t["web"].restart, t["web"].stop_signal) == ("on-failure", signal.SIGINT)
    assert t["db"].ready == parse_probe("tcp") and t["db"].ready_timeout == 30.0
    assert t["db"].health == parse_probe(f"exec:'{PY}' model_app.py probe-tcp \"$PORT\"")
    assert t["db"].health_interval == 2.5 and t["db"].stop_signal == signal.SIGINT
    assert t["migrate"].oneshot and t["release"].oneshot and not t["web"].oneshot
    assert t["migrate"].depends_on == {"db": "ready", "release": "succeeded"}
    assert t["worker"].depends_on == {"db": "started", "release": "exited"}
    assert t["worker"].ready == parse_probe("notify") and t["worker"].stop_signal == signal.SIGQUIT
    assert t["clock"].ready == parse_probe('exec:test -n "$PS" && echo "100% ok"')
    assert t["clock"].restart == "never" and t["clock"].ready_timeout == 20.0
    assert t["release"].depends_on == {} and t["release"].ready is None


def _hu(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HU_") and k != "PORT"}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return subprocess.run([PY, "-m", "honcho_uv", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_hu_daemon_runs_the_exported_model(app: Path, tmp_path: Path) -> None:
    out = tmp_path / "gafferd"
    do_export(app, "gafferd", out)
    sock = tmp_path / "d.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HU_") and k != "PORT"}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    log = tmp_path / "daemon.log"
    with open(log, "wb") as sink:
        daemon = subprocess.Popen([PY, "-m", "honcho_uv", "daemon", str(out / "shop.ini"), "--bind", f"unix:{sock}",
                                   "--pidfile", str(tmp_path / "d.pid")],
                                  cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: sock.exists() or daemon.poll() is not None, what="the daemon's socket")
        waited = _hu("wait", "--socket", str(sock), "--timeout", "45", cwd=tmp_path)
        assert waited.returncode == 0, waited.stdout + waited.stderr + log.read_text()
        seen = events(app)
        # The start order the ini says: release, then db; migrate once db accepts; web once
        # migrate succeeded; clock once the worker said READY=1.
        assert seen["release.1.done"] <= seen["db.1.start"]
        assert seen["db.1.ready"] <= seen["migrate.1.start"]
        assert seen["migrate.1.done"] <= min(seen["web.1.start"], seen["web.2.start"])
        assert seen["worker.1.ready"] <= seen["clock.1.start"]
        rows = {row["name"]: row for row in json.loads(_hu("ps", "--json", "--socket", str(sock), cwd=tmp_path).stdout)}
        for name in ("db.1", "web.1", "web.2", "worker.1", "clock.1"):
            assert rows[name]["ready"] is True, rows[name]
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(30)
    assert code == 0, log.read_text()
    wait_for(lambda: not processes_under(str(app)), timeout=15, what="no process left after the daemon stops")
