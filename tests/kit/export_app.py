"""A tricky app shared by the export tests: quotes, %, $, spaces, a compound command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from honcho_uv.export import ExportContext, build_context, export, get_exporter
from honcho_uv.export.base import ExportFile
from honcho_uv.procfile import parse_procfile
from honcho_uv.procfile.app import App, load_app
from honcho_uv.procfile.dotenv import parse_env_text
from honcho_uv.procfile.formation import resolve_formation

__all__ = ["DUMP_SCRIPT", "ENV", "EXPECTED_ENV", "MIXED", "MIXED_VALUE", "PROCFILE", "export_live", "fixed_app",
           "golden_context", "live_app", "read_dumps", "render"]

PROCFILE = """\
web: python3 -m http.server $PORT
worker: cd /tmp && echo "it's 100% $HOME" && sleep 5
clock: echo 'tick %s' "$GREETING"
"""

# Every value some format's naive quoting gets wrong. dotenv does not expand $HOME
# (only ${VAR}), so these values reach the exporters as written.
ENV = """\
GREETING="hello world"
PERCENT=100%
DOLLAR='cost $5 and $HOME'
SQUOTE="it's"
DQUOTE='say "hi" now'
API_TOKEN=s3cr3t
DB_PASSWORD='p@ss w%rd$x'
"""

# A value with both kinds of quote, which supervisor's environment= cannot carry.
MIXED = """MIXED="it's \\"both\\" 100% $x"\n"""

EXPECTED_ENV = {
    "GREETING": "hello world",
    "PERCENT": "100%",
    "DOLLAR": "cost $5 and $HOME",
    "SQUOTE": "it's",
    "DQUOTE": 'say "hi" now',
    "API_TOKEN": "s3cr3t",
    "DB_PASSWORD": "p@ss w%rd$x",
}
MIXED_VALUE = "it's \"both\" 100% $x"


def fixed_app(root: str = "/srv/tricky app", env: str = ENV) -> App:
    """The tricky app at a fixed (not necessarily existing) root: for golden files."""
    return App(Path(root), parse_procfile(PROCFILE), parse_env_text(env), 5000, ())


def golden_context(fmt: str, **options: object) -> ExportContext:
    app = fixed_app()
    counts = resolve_formation(app.procfile, {"web": 2})
    options.setdefault("app_name", "tricky")
    return build_context(app, fmt, "/srv/export", counts, **options)  # type: ignore[arg-type]


def render(ctx: ExportContext) -> list[ExportFile]:
    return get_exporter(ctx.format)(ctx).files()


DUMP_SCRIPT = """\
import json, os, sys, time
out = sys.argv[1]
name = os.environ.get("PS", "unknown")
tmp = os.path.join(out, "." + name + ".tmp")
with open(tmp, "w") as fh:
    json.dump(dict(os.environ), fh)
os.replace(tmp, os.path.join(out, name + ".json"))
if len(sys.argv) > 2:
    time.sleep(float(sys.argv[2]))
"""


def live_app(tmp_path: Path, env: str = ENV, sleep_token: str = "3599.25") -> tuple[Path, Path]:
    """An app whose processes write their env to OUT/<PS>.json and then keep running.

    ``web`` is a simple command (exec'd); ``worker`` is compound, so its ``sleep``
    child is what a stop must not leave behind. Returns (root, out).
    """
    root = tmp_path / "app dir"
    out = tmp_path / "out"
    root.mkdir()
    out.mkdir()
    (root / "dump.py").write_text(DUMP_SCRIPT)
    py = sys.executable
    (root / "Procfile").write_text(
        f"web: {py} dump.py '{out}' {sleep_token}\n"
        f"worker: {py} dump.py '{out}' && sleep {sleep_token}\n"
    )
    (root / ".env").write_text(env)
    return root, out


def export_live(root: Path, fmt: str, location: Path, **options: object) -> ExportContext:
    app = load_app(root)
    counts = resolve_formation(app.procfile, {"web": 2})
    options.setdefault("app_name", "live")  # the root's base name has a space on purpose
    ctx = build_context(app, fmt, location, counts, **options)  # type: ignore[arg-type]
    export(ctx)
    return ctx


def read_dumps(out: Path, names: list[str]) -> dict[str, dict[str, str]] | None:
    """The env each process dumped (OUT/<PS>.json), once every one of *names* has."""
    paths = [out / f"{name}.json" for name in names]
    if not all(p.exists() for p in paths):
        return None
    return {name: json.loads(p.read_text()) for name, p in zip(names, paths, strict=True)}
