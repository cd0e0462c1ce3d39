"""The writer: atomic files with exact modes, our-stale-only removal, dry runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from honcho_uv.errors import ExportError, InvalidOption
from honcho_uv.export import build_context, export, get_exporter, plan_export
from honcho_uv.export.base import ExportFile, marker
from honcho_uv.procfile.formation import resolve_formation
from tests.kit.export_app import fixed_app


def ctx_for(fmt: str, out: Path, counts: dict[str, int], **options: object):  # type: ignore[no-untyped-def]
    app = fixed_app(root=str(out.parent))
    return build_context(app, fmt, out, resolve_formation(app.procfile, counts), app_name="t", **options)  # type: ignore[arg-type]


def test_runit_modes_and_stale_env_removal(tmp_path: Path) -> None:
    out = tmp_path / "sv"
    export(ctx_for("runit", out, {"web": 2}))
    assert (out / "t-web-1/run").stat().st_mode & 0o777 == 0o755
    assert (out / "t-web-1/env/API_TOKEN").stat().st_mode & 0o777 == 0o600
    assert (out / "t-web-1/env/API_TOKEN").read_text() == "s3cr3t\n"
    (out / "t-web-1/env/OLD").write_text("gone\n")  # e.g. a variable since removed from .env
    (out / "t-web-2/supervise").mkdir()  # runsv's state dir: never read
    plan = export(ctx_for("runit", out, {"web": 1}))
    assert "t-web-1/env/OLD" in plan.removals
    assert not (out / "t-web-1/env/OLD").exists()
    assert not (out / "t-web-2/run").exists() and not (out / "t-web-2/env").exists()
    assert (out / "t-web-2/supervise").is_dir()  # not ours: kept


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "o"
    plan = export(ctx_for("systemd", out, {}), dry_run=True)
    assert plan.writes and not out.exists()


def test_every_file_ends_with_newline_and_carries_marker(tmp_path: Path) -> None:
    out = tmp_path / "o"
    for fmt in ("systemd", "gafferd", "supervisord", "launchd", "compose"):
        plan = export(ctx_for(fmt, out / fmt, {"web": 2}))
        for f in plan.writes:
            data = (out / fmt / f.path).read_text()
            assert data.endswith("\n")
            assert marker("t") in data


def test_paths_cannot_escape(tmp_path: Path) -> None:
    exporter = get_exporter("systemd")(ctx_for("systemd", tmp_path / "o", {}))
    bad = ExportFile("../evil", f"# {marker('t')}\n")
    with pytest.raises(ExportError, match="outside the export location"):
        plan_export(exporter, [bad])


def test_symlink_in_the_way_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "t.target").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ExportError, match="not a regular file"):
        export(ctx_for("systemd", out, {}))


@pytest.mark.parametrize("name", ["a/b", "..", "a..b", "x y", "-x"])
def test_bad_app_names(tmp_path: Path, name: str) -> None:
    app = fixed_app()
    with pytest.raises(InvalidOption):
        build_context(app, "systemd", tmp_path, {}, app_name=name)


def test_unknown_format_lists_known() -> None:
    from honcho_uv.export import UnknownFormat

    with pytest.raises(UnknownFormat, match="known: compose, docker-compose, gafferd") as info:
        get_exporter("upstart")
    assert info.value.exit_code == 2


def test_alias_and_entry_point_names() -> None:
    assert get_exporter("docker-compose") is get_exporter("compose")


def test_supervisord_refuses_uncarryable_value_without_env_file(tmp_path: Path) -> None:
    from tests.kit.export_app import ENV, MIXED

    app = fixed_app(env=ENV + MIXED)
    ctx = build_context(app, "supervisord", tmp_path, {"web": 1}, app_name="t")
    with pytest.raises(ExportError, match=r"MIXED.*--env-file"):
        export(ctx)
    assert not any(tmp_path.iterdir())
