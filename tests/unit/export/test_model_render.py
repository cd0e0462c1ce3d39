"""Every export format carries hu.toml's model (readiness, health, dependencies, oneshots,
stop signal, restart) in its own terms, and writes down what it cannot say.

The app: a Postgres-like ``db`` (ready when its port accepts), the release phase, a
``migrate`` oneshot, ``web`` waiting for db ready and migrate succeeded (http ready and
health), a ``worker`` (sd_notify) and a ``clock`` with an exec ready probe. Pure rendering
(no file written); the real consumers read the same exports in
tests/export/test_model_consumers.py.
"""

from __future__ import annotations

import configparser
import plistlib
from pathlib import Path

import pytest
import yaml

from honcho_uv.export import build_context, get_exporter
from honcho_uv.export.base import ExportFile
from honcho_uv.procfile.app import load_app

PROCFILE = """\
release: python3 model_app.py job release
db: python3 model_app.py tcp
migrate: python3 model_app.py job migrate
web: python3 model_app.py http
worker: python3 model_app.py notify
clock: python3 model_app.py idle && echo 'tick 100%'
"""

HU_TOML = """\
[processes.db]
ready = "tcp"
ready_timeout = 30
health = 'exec:python3 model_app.py probe-tcp "$PORT"'
health_interval = 2.5
stop_signal = "INT"

[processes.migrate]
oneshot = true
depends_on = { db = "ready" }

[processes.web]
depends_on = { db = "ready", migrate = "succeeded" }
ready = "http:/healthz"
health = "http:/healthz"
health_interval = 5
health_failures = 4
restart = "on-failure"
stop_signal = "INT"

[processes.worker]
depends_on = { db = "started", release = "exited" }
ready = "notify"
stop_signal = "QUIT"
restart = "always"

[processes.clock]
depends_on = { worker = "ready", web = "started" }
ready = 'exec:test -n "$PS" && echo "100% ok"'
ready_timeout = 20
restart = "never"
"""

CLOCK_READY = 'test -n "$PS" && echo "100% ok"'
DB_HEALTH = 'python3 model_app.py probe-tcp "$PORT"'
COUNTS = {"release": 1, "db": 1, "migrate": 1, "web": 2, "worker": 1, "clock": 1}


def make_app(root: Path, procfile: str = PROCFILE, hu_toml: str = HU_TOML) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Procfile").write_text(procfile)
    (root / "hu.toml").write_text(hu_toml)
    (root / ".env").write_text("GREETING=hello\n")
    return root


def render(tmp_path: Path, fmt: str, counts: dict[str, int] | None = None, procfile: str = PROCFILE,
           hu_toml: str = HU_TOML, **options: object) -> dict[str, str]:
    app = load_app(make_app(tmp_path / "shop", procfile, hu_toml))
    ctx = build_context(app, fmt, tmp_path / "out", counts or COUNTS, app_name="shop", **options)  # type: ignore[arg-type]
    files: list[ExportFile] = get_exporter(fmt)(ctx).files()
    return {f.path: f.content for f in files}


def unit_settings(text: str) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit file, by key (repeated keys in order)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def comments(text: str, prefix: str = "#") -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix) and "Not expressible" in line]


# -- systemd -----------------------------------------------------------------------------


def test_systemd_orders_each_instance_service(tmp_path: Path) -> None:
    files = render(tmp_path, "systemd")
    web = unit_settings(files["shop-web-1.service"])
    deps = "shop-db-1.service shop-migrate-1.service shop-release-1.service"
    assert web["After"] == [deps] and web["Requires"] == [deps] and "Wants" not in web
    assert web["Type"] == ["exec"] and web["Restart"] == ["on-failure"] and web["KillSignal"] == ["SIGINT"]
    # ready/health over http need a client in the unit: written down, not dropped.
    notes = comments(files["shop-web-1.service"])
    assert any("ready = http:/healthz" in n for n in notes) and any("health = http:/healthz" in n for n in notes)
    assert any("db:ready" in n and "(tcp)" in n for n in notes)
    # started and exited are weak dependencies: Wants=, ordered all the same.
    worker = unit_settings(files["shop-worker-1.service"])
    assert worker["After"] == ["shop-db-1.service shop-release-1.service"]
    assert worker["Wants"] == ["shop-db-1.service shop-release-1.service"] and "Requires" not in worker
    assert worker["Type"] == ["notify"] and worker["NotifyAccess"] == ["all"]
    assert worker["TimeoutStartSec"] == ["60"] and worker["KillSignal"] == ["SIGQUIT"]
    assert worker["Restart"] == ["always"]
    # every instance of a dependency, not its target
    clock = unit_settings(files["shop-clock-1.service"])
    assert clock["After"] == ["shop-worker-1.service shop-web-1.service shop-web-2.service shop-release-1.service"]
    assert clock["Requires"] == ["shop-worker-1.service shop-release-1.service"]
    assert clock["Wants"] == ["shop-web-1.service shop-web-2.service"]
    assert clock["ExecStartPost"] == ["/bin/sh -c 'until test -n \"$$PS\" && echo \"100%% ok\"\\ndo sleep 1; done'"]
    assert clock["TimeoutStartSec"] == ["20"] and clock["Restart"] == ["no"]


def test_systemd_oneshots(tmp_path: Path) -> None:
    files = render(tmp_path, "systemd")
    for name in ("release", "migrate"):
        unit = unit_settings(files[f"shop-{name}-1.service"])
        assert unit["Type"] == ["oneshot"] and unit["RemainAfterExit"] == ["yes"] and unit["Restart"] == ["no"]
    migrate = unit_settings(files["shop-migrate-1.service"])
    assert migrate["Requires"] == ["shop-db-1.service shop-release-1.service"]
    assert "After" not in unit_settings(files["shop-release-1.service"])


# -- supervisord -------------------------------------------------------------------------


def _supervisor(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(comment_prefixes=(";", "#"))
    parser.read_string(text)
    return parser


def test_supervisord_priorities_follow_the_start_order(tmp_path: Path) -> None:
    text = render(tmp_path, "supervisord")["shop.conf"]
    conf = _supervisor(text)
    priority = {s.split(":")[1]: int(conf[s]["priority"]) for s in conf.sections() if s.startswith("program:")}
    assert priority == {"shop-release-1": 100, "shop-db-1": 200, "shop-migrate-1": 300, "shop-web-1": 400,
                        "shop-web-2": 400, "shop-worker-1": 300, "shop-clock-1": 500}
    for name in ("release", "migrate"):
        program = conf[f"program:shop-{name}-1"]
        assert (program["autorestart"], program["startsecs"]) == ("false", "0")
    web = conf["program:shop-web-1"]
    assert (web["autorestart"], web["stopsignal"]) == ("unexpected", "INT") and "startsecs" not in web
    assert conf["program:shop-worker-1"]["stopsignal"] == "QUIT"
    assert conf["program:shop-worker-1"]["autorestart"] == "true"
    assert conf["program:shop-clock-1"]["autorestart"] == "false"
    notes = comments(text, ";")
    assert any("ready = notify" in n for n in notes)
    assert any("depends_on = db:ready migrate:succeeded release:succeeded" in n for n in notes)


def test_supervisord_without_dependencies_writes_no_priority(tmp_path: Path) -> None:
    text = render(tmp_path, "supervisord", {"web": 1}, procfile="web: serve\n", hu_toml="")["shop.conf"]
    assert "priority=" not in text and "Not expressible" not in text


# -- gafferd -----------------------------------------------------------------------------


def test_gafferd_writes_every_key(tmp_path: Path) -> None:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(render(tmp_path, "gafferd")["shop.ini"])
    web = parser["process:web"]
    assert web["depends_on"] == "db:ready migrate:succeeded release:succeeded"
    assert (web["ready"], web["ready_timeout"], web["health"]) == ("http:/healthz", "60", "http:/healthz")
    assert (web["health_interval"], web["health_failures"]) == ("5", "4")
    assert (web["restart"], web["stop_signal"]) == ("on-failure", "SIGINT")
    assert "oneshot" not in web
    assert parser["process:migrate"]["oneshot"] == "true" and parser["process:release"]["oneshot"] == "true"
    assert parser["process:db"]["health"] == f"exec:{DB_HEALTH}"
    assert parser["process:db"]["health_interval"] == "2.5"
    assert parser["process:clock"]["ready"] == f"exec:{CLOCK_READY}"
    assert parser["process:worker"]["depends_on"] == "db:started release:exited"
    assert "depends_on" not in parser["process:release"] and "ready" not in parser["process:release"]


# -- compose -----------------------------------------------------------------------------


def test_compose_depends_on_conditions_and_healthchecks(tmp_path: Path) -> None:
    text = render(tmp_path, "compose")["compose.yaml"]
    services = yaml.safe_load(text)["services"]
    condition = {name: {d: c["condition"] for d, c in s.get("depends_on", {}).items()} for name, s in services.items()}
    done = "service_completed_successfully"
    assert condition == {
        "release": {},
        "db": {"release": done},
        "migrate": {"db": "service_healthy", "release": done},
        "web": {"db": "service_healthy", "migrate": done, "release": done},
        "worker": {"db": "service_started", "release": done},
        "clock": {"worker": "service_started", "web": "service_started", "release": done},
    }
    db = services["db"]["healthcheck"]
    assert db == {"test": ["CMD-SHELL", DB_HEALTH.replace("$", "$$")], "interval": "2.5s", "timeout": "5s",
                  "retries": 3, "start_period": "30s", "start_interval": "1s"}
    assert services["clock"]["healthcheck"]["test"] == ["CMD-SHELL", CLOCK_READY.replace("$", "$$")]
    assert services["clock"]["healthcheck"]["start_period"] == "20s"
    assert "healthcheck" not in services["web"]  # http needs curl/wget in the image: a comment says so
    assert services["release"]["restart"] == "no" and services["migrate"]["restart"] == "no"
    assert services["web"]["restart"] == "on-failure" and services["clock"]["restart"] == "no"
    assert "restart" not in services["db"]
    assert services["web"]["stop_signal"] == "SIGINT" and services["worker"]["stop_signal"] == "SIGQUIT"
    notes = comments(text, "  #")
    assert any("ready = http:/healthz" in n for n in notes)
    assert any("depends_on = release:exited" in n for n in notes)
    assert any("worker's ready probe (notify)" in n for n in notes)


# -- kubernetes --------------------------------------------------------------------------


def test_kubernetes_probes_and_jobs(tmp_path: Path) -> None:
    files = render(tmp_path, "kubernetes", image="registry.example/shop:1")
    assert "shop-release-job.yaml" in files and "shop-migrate-job.yaml" in files
    assert "shop-release-deployment.yaml" not in files and "shop-migrate-deployment.yaml" not in files
    resources = yaml.safe_load(files["kustomization.yaml"])["resources"]
    assert sorted(resources) == sorted(p for p in files if p != "kustomization.yaml")
    job = yaml.safe_load(files["shop-migrate-job.yaml"])
    assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    assert (job["spec"]["completions"], job["spec"]["parallelism"], job["spec"]["backoffLimit"]) == (1, 1, 0)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert any("depends_on = db:ready release:succeeded" in n for n in comments(files["shop-migrate-job.yaml"]))

    def container(name: str) -> dict:  # type: ignore[type-arg]
        doc = yaml.safe_load(files[f"shop-{name}-deployment.yaml"])
        return doc["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]

    web = container("web")
    http = {"httpGet": {"path": "/healthz", "port": 5300}, "timeoutSeconds": 1}
    assert web["startupProbe"] == {**http, "periodSeconds": 1, "failureThreshold": 60}
    assert web["readinessProbe"] == {**http, "periodSeconds": 10, "failureThreshold": 3}
    assert web["livenessProbe"] == {**http, "periodSeconds": 5, "failureThreshold": 4}
    db = container("db")
    assert db["startupProbe"]["tcpSocket"] == {"port": 5100} and db["startupProbe"]["failureThreshold"] == 30
    assert db["livenessProbe"]["exec"]["command"] == ["/bin/sh", "-c", DB_HEALTH.replace("$", "$$")]
    assert (db["livenessProbe"]["periodSeconds"], db["livenessProbe"]["timeoutSeconds"]) == (3, 5)
    clock = container("clock")
    assert clock["readinessProbe"]["exec"]["command"] == ["/bin/sh", "-c", CLOCK_READY.replace("$", "$$")]
    assert "livenessProbe" not in clock
    worker = container("worker")
    assert not {"startupProbe", "readinessProbe", "livenessProbe"} & set(worker)
    worker_notes = comments(files["shop-worker-deployment.yaml"])
    assert any("ready = notify" in n for n in worker_notes) and any("stop_signal = SIGQUIT" in n for n in worker_notes)


def test_kubernetes_alive_and_remote_hosts(tmp_path: Path) -> None:
    hu_toml = """\
[processes.web]
ready = 2.5
health = "tcp:cache.internal:6379"
[processes.api]
ready = "http://127.0.0.1:9000/up?x=1"
[processes.logs]
ready = "log:listening on"
"""
    procfile = "web: serve\napi: serve-api\nlogs: tail\n"
    files = render(tmp_path, "kubernetes", {"web": 1, "api": 1, "logs": 1}, procfile, hu_toml, image="r/s:1")
    web = yaml.safe_load(files["shop-web-deployment.yaml"])
    assert web["spec"]["minReadySeconds"] == 3
    probe = web["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    assert probe["tcpSocket"] == {"host": "cache.internal", "port": 6379}
    api = yaml.safe_load(files["shop-api-deployment.yaml"])["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"] == {"path": "/up?x=1", "port": 9000}  # loopback: the pod itself
    assert any("ready = log:listening on" in n for n in comments(files["shop-logs-deployment.yaml"]))


# -- runit and launchd -------------------------------------------------------------------


def test_runit_check_finish_and_dependency_waits(tmp_path: Path) -> None:
    files = render(tmp_path, "runit")
    root = tmp_path / "shop"
    assert f"/bin/sh -c 'cd {root} && {CLOCK_READY}'" in files["shop-clock-1/check"].replace("'\"'\"'", "'")
    assert not any(path.endswith("/check") and not path.startswith("shop-clock") for path in files)
    for name in ("release", "migrate"):
        assert files[f"shop-{name}-1/finish"].rstrip().endswith("exec sv down .")
    assert not any(path.endswith("/finish") and "release" not in path and "migrate" not in path for path in files)
    web_run = files["shop-web-1/run"]
    assert "sv -w 30 start ../shop-db-1 >/dev/null || exit 1\n" in web_run
    assert "shop-migrate-1" not in web_run.replace("# Not expressible", "")
    assert any("migrate:succeeded" in n for n in comments(web_run))
    clock_run = files["shop-clock-1/run"]
    for dep in ("shop-worker-1", "shop-web-1", "shop-web-2"):
        assert f"sv -w 60 start ../{dep} >/dev/null || exit 1\n" in clock_run
    assert clock_run.index("sv -w") < clock_run.index("exec chpst")


def test_launchd_keep_alive(tmp_path: Path) -> None:
    files = render(tmp_path, "launchd")
    keep = {path: plistlib.loads(text.encode())["KeepAlive"] for path, text in files.items()}
    assert keep["shop-release-1.plist"] is False and keep["shop-migrate-1.plist"] is False
    assert keep["shop-web-1.plist"] == {"SuccessfulExit": False}
    assert keep["shop-worker-1.plist"] is True and keep["shop-db-1.plist"] is True
    assert keep["shop-clock-1.plist"] is False
    assert "<!-- Not expressible in launchd (see docs/export.rst): ready, health, depends_on, stop_signal SIGINT -->" \
        in files["shop-web-1.plist"]


# -- the probe kinds each format says its own way ----------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("systemd", "ExecStartPost=/bin/sh -c 'sleep 2.5'\nTimeoutStartSec=60\n"),
        ("supervisord", "startsecs=3\n"),
        ("gafferd", "ready = 2.5\nready_timeout = 60\n"),
    ],
)
def test_alive_probe(tmp_path: Path, fmt: str, expected: str) -> None:
    files = render(tmp_path, fmt, {"web": 1}, "web: serve\n", "[processes.web]\nready = 2.5\n")
    assert any(expected in text for text in files.values()), files


def test_release_phase_with_oneshot_false_is_a_service(tmp_path: Path) -> None:
    procfile = "release: keep-running\nweb: serve\n"
    files = render(tmp_path, "kubernetes", {"release": 1, "web": 1}, procfile, "[processes.release]\noneshot = false\n",
                   image="r/s:1")
    assert "shop-release-deployment.yaml" in files and "shop-release-job.yaml" not in files
    assert "Not expressible" not in files["shop-web-deployment.yaml"]  # no implicit dependency on release


def test_without_hu_toml_nothing_changes_but_the_release_phase(tmp_path: Path) -> None:
    procfile = "release: migrate-all\nweb: serve\n"
    files = render(tmp_path, "systemd", {"release": 1, "web": 1}, procfile, "")
    assert unit_settings(files["shop-release-1.service"])["Type"] == ["oneshot"]
    web = unit_settings(files["shop-web-1.service"])
    assert web["Requires"] == ["shop-release-1.service"] and web["After"] == ["shop-release-1.service"]
