"""The formats read back by the real parsers that consume them: kubernetes-validate's
schemas, plistlib, PyYAML (+ Compose's $$ rule), and ConfigParser as the daemon reads it."""

from __future__ import annotations

import configparser
import plistlib
from pathlib import Path

import pytest
import yaml

from tests.kit.export_app import EXPECTED_ENV, export_live, live_app

kubernetes_validate = pytest.importorskip("kubernetes_validate")


def _unescape_dollars(value: str) -> str:
    """Compose and Kubernetes both read $$ as a literal $."""
    return value.replace("$$", "$")


def test_kubernetes_documents_validate_against_schemas(tmp_path: Path) -> None:
    root, _ = live_app(tmp_path)
    out = tmp_path / "k8s"
    ctx = export_live(root, "kubernetes", out, image="registry.example/live:1")
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    resources = kustomization["resources"]
    assert sorted(resources) == sorted(p.name for p in out.iterdir() if p.name != "kustomization.yaml")
    docs = {}
    for name in resources:
        for doc in yaml.safe_load_all((out / name).read_text()):
            kubernetes_validate.validate(doc, kubernetes_validate.utils.latest_version(), strict=True)
            docs[(doc["kind"], doc["metadata"]["name"])] = doc
    secret = docs[("Secret", "live-secrets")]["stringData"]
    config = docs[("ConfigMap", "live-env")]["data"]
    assert secret == {"API_TOKEN": "s3cr3t", "DB_PASSWORD": "p@ss w%rd$x"}
    assert {**config, **secret} == EXPECTED_ENV
    assert (out / "live-secret.yaml").stat().st_mode & 0o777 == 0o600
    web = docs[("Deployment", "live-web")]["spec"]
    assert web["replicas"] == 2
    pod = web["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 5
    container = pod["containers"][0]
    assert container["ports"] == [{"containerPort": 5000}]
    assert [_unescape_dollars(a) for a in container["command"]] == ["/bin/sh", "-c", f"exec {ctx.types[0].command}"]
    assert {e["name"]: e["value"] for e in container["env"]} == {"PORT": "5000", "PS": "web", "HU_PROCESS_NAME": "web"}
    assert ("Service", "live-web") in docs and ("Service", "live-worker") not in docs
    worker = docs[("Deployment", "live-worker")]["spec"]["template"]["spec"]["containers"][0]
    assert _unescape_dollars(worker["command"][2]) == ctx.types[1].command
    assert "ports" not in worker


def test_launchd_plists_load(tmp_path: Path) -> None:
    root, _ = live_app(tmp_path)
    out = tmp_path / "agents"
    ctx = export_live(root, "launchd", out, log_dir=tmp_path / "logs")
    plists = {p.name: plistlib.loads(p.read_bytes()) for p in out.glob("*.plist")}
    assert sorted(plists) == ["live-web-1.plist", "live-web-2.plist", "live-worker-1.plist"]
    web2 = plists["live-web-2.plist"]
    assert web2["Label"] == "live-web-2"
    assert web2["ProgramArguments"] == ["/bin/sh", "-c", f"exec {ctx.types[0].command}"]
    assert web2["EnvironmentVariables"] == {**EXPECTED_ENV, "PORT": "5001", "PS": "web.2", "HU_PROCESS_NAME": "web.2"}
    assert web2["WorkingDirectory"] == str(root)
    assert web2["KeepAlive"] is True and web2["ExitTimeOut"] == 5
    assert web2["StandardOutPath"] == str(tmp_path / "logs" / "web-2.log")
    assert "UserName" not in web2


def test_compose_file_structure(tmp_path: Path) -> None:
    root, _ = live_app(tmp_path)
    out = tmp_path / "compose"
    ctx = export_live(root, "docker-compose", out, listen=["web", "worker"])
    doc = yaml.safe_load((out / "compose.yaml").read_text())
    assert doc["name"] == "live"
    assert sorted(doc["services"]) == ["web", "worker"]
    for ptype in ctx.types:
        svc = doc["services"][ptype.name]
        assert svc["build"] == "." and "image" not in svc
        assert svc["init"] is True and svc["stop_grace_period"] == "5s"
        assert svc["deploy"]["replicas"] == ptype.count
        assert [_unescape_dollars(a) for a in svc["command"]] == ["/bin/sh", "-c", ptype.exec_command]
        env = {k: _unescape_dollars(v) for k, v in svc["environment"].items()}
        assert env == {**EXPECTED_ENV, "PORT": str(ptype.first_port), "PS": ptype.name, "HU_PROCESS_NAME": ptype.name}
    assert doc["services"]["web"]["ports"] == ["5000-5001:5000"]
    assert doc["services"]["worker"]["ports"] == ["5100:5100"]


def test_compose_image_and_default_listen(tmp_path: Path) -> None:
    root, _ = live_app(tmp_path)
    out = tmp_path / "compose"
    export_live(root, "compose", out, image="registry.example/live:1")
    doc = yaml.safe_load((out / "compose.yaml").read_text())
    assert doc["services"]["web"]["image"] == "registry.example/live:1"
    assert "build" not in doc["services"]["web"]
    assert "ports" in doc["services"]["web"] and "ports" not in doc["services"]["worker"]


def test_gafferd_ini_reads_back_as_the_daemon_reads_it(tmp_path: Path) -> None:
    root, _ = live_app(tmp_path)
    out = tmp_path / "gafferd"
    ctx = export_live(root, "gafferd", out, user="nobody", timeout=9)
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(out / "live.ini")
    assert parser.sections() == ["process:web", "process:worker"]
    for ptype in ctx.types:
        section = parser[f"process:{ptype.name}"]
        assert section["cmd"] == ptype.exec_command  # exec before a single simple command (issue 15)
        assert section["shell"] == "true"
        assert int(section["numprocesses"]) == ptype.count
        assert int(section["port"]) == 5000 + 100 * ptype.index
        assert section["cwd"] == str(root)
        assert section["uid"] == "nobody"
        assert section["graceful_timeout"] == "9"
        env = {k[len("env:") :]: v for k, v in section.items() if k.startswith("env:")}
        assert env == EXPECTED_ENV
