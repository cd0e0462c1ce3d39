"""The package's public API: re-exported from honcho_uv with a sorted, complete __all__."""

from __future__ import annotations

import subprocess
import sys
import types

import honcho_uv
from honcho_uv import errors

REQUIRED = {
    "Manager", "ProcessTemplate", "FlappingInfo", "ExitStatus", "ProcessState", "EventEmitter", "Process",
    "errors", "load_app", "parse_procfile", "load_procfile", "check_procfile", "split_instance_name",
    "parse_formation", "resolve_formation", "HuError", "ConfigError", "SpawnError", "StateError",
    "UnknownProcess", "__version__",
}


def test_all_is_sorted_and_unique() -> None:
    assert honcho_uv.__all__ == sorted(honcho_uv.__all__)
    assert len(set(honcho_uv.__all__)) == len(honcho_uv.__all__)


def test_all_names_resolve_and_cover_the_required_api() -> None:
    for name in honcho_uv.__all__:
        assert hasattr(honcho_uv, name), name
    assert REQUIRED <= set(honcho_uv.__all__)


def test_all_is_complete() -> None:
    # every public attribute that is not a submodule is listed (errors is listed on purpose)
    public = {
        name for name, value in vars(honcho_uv).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(honcho_uv.__all__)


def test_every_error_of_the_cli_and_api_is_reachable() -> None:
    # The errors an embedder catches are exported at the top; the rest through honcho_uv.errors.
    for name in ("HuError", "ConfigError", "ProcfileError", "EnvFileError", "InvalidOption", "UnknownProcess",
                 "StateError", "SpawnError", "ExportError", "ControlError", "NotRunning"):
        assert getattr(honcho_uv, name) is getattr(errors, name)


def test_all_is_built_from_the_lazy_table() -> None:
    # PEP 562 exports: vars(honcho_uv) holds only the names touched so far, so the complete
    # list is the table itself (a name in the table but not in __all__ cannot happen).
    assert honcho_uv.__all__ == sorted([*honcho_uv._LAZY, "__version__"])


def test_every_module_all_list_exists() -> None:
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(honcho_uv.__path__, "honcho_uv."):
        if info.name.endswith("_privdrop"):
            continue  # a script exec'd by path, not imported
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_python_m_honcho_uv_version() -> None:
    out = subprocess.run([sys.executable, "-m", "honcho_uv", "--version"], capture_output=True, text=True,
                         timeout=30, check=True)
    assert out.stdout.strip() == f"hu {honcho_uv.__version__}"
