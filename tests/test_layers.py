"""The import rules of DESIGN.md "Layers", checked on the source (an AST scan, no imports run).

* a module imports only from its own layer or below (L0 vocabulary .. L5 command line);
* third-party libraries stay where they do a job: aiohttp in ``http/`` and the daemon,
  jinja2 in ``export/``, psutil in ``core/procfs|kill|stats|reaper`` and the daemon, click in
  ``cli/``, uvloop in ``cli/loop``, python-dotenv in ``procfile/dotenv``;
* the size cap: no module over 400 lines, at most 10 modules at the top of the package.

Imports under ``if TYPE_CHECKING:`` are annotations, not dependencies, and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "honcho_uv"

# The layer of each module, by its dotted name without the "honcho_uv." prefix; a package
# name covers everything in it unless a longer entry says otherwise.
LAYERS = {
    "__init__": 0, "_version": 0, "_lazy": 0, "errors": 0, "models": 0,
    "rundir": 1, "atomicfile": 1, "policy": 1, "procfile": 1,
    "core.events": 1, "core.feed": 1, "core.policy": 1, "core.framing": 1, "core.clock": 1, "core.deps": 1,
    "core.spawn": 2, "core._privdrop": 2, "core.terminal": 2, "core.stdio": 2, "core.procfs": 2, "core.kill": 2, "core.reaper": 2,
    "core.subreaper": 2,
    "core.stats": 2, "core.procstat": 2, "core.process": 2, "core.bus": 2, "core.snapshot": 2, "core.detach": 2,
    "core": 3,
    "console": 4, "daemon": 4, "http": 4, "export": 4,
    "cli": 5, "__main__": 5,
}
# Third-party top-level names -> the module prefixes allowed to import them.
CONFINED = {
    "aiohttp": ("http", "daemon"),
    "jinja2": ("export",),
    "psutil": ("core.procfs", "core.kill", "core.stats", "core.reaper", "daemon"),
    "click": ("cli",),
    "uvloop": ("cli.loop",),
    "dotenv": ("procfile.dotenv",),
}
MAX_LINES = 400
MAX_TOP_MODULES = 10


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        found[".".join(parts)] = path
    return found


def layer_of(name: str) -> int:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in LAYERS:
            return LAYERS[key]
    raise AssertionError(f"honcho_uv.{name} has no layer in tests/test_layers.py: give it one")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every runtime import in the file (relative ones resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - node.level + 1]
                target = ".".join(["honcho_uv", *base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:  # from honcho_uv.core import kill: the module core.kill
                sub = f"{target}.{alias.name}"
                out.append((node.lineno, sub if sub.removeprefix("honcho_uv.") in MODULES else target))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module: str) -> None:
    own = layer_of(module)
    for line, target in imports_of(MODULES[module], module):
        if not target.startswith("honcho_uv."):
            continue
        name = target[len("honcho_uv."):]
        if name not in MODULES and name.rpartition(".")[0] in MODULES:
            name = name.rpartition(".")[0]  # from honcho_uv.core import kill -> core.kill
        assert layer_of(name) <= own, (
            f"honcho_uv/{MODULES[module].relative_to(PACKAGE)}:{line}: L{own} module imports "
            f"honcho_uv.{name} (L{layer_of(name)})")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_third_party_libraries_stay_where_they_do_a_job(module: str) -> None:
    for line, target in imports_of(MODULES[module], module):
        top = target.split(".")[0]
        allowed = CONFINED.get(top)
        if allowed is not None:
            assert any(module == a or module.startswith(a + ".") for a in allowed), (
                f"honcho_uv/{MODULES[module].relative_to(PACKAGE)}:{line}: imports {top}, "
                f"allowed only in {', '.join(allowed)}")


def test_no_module_is_over_the_size_cap() -> None:
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_the_top_level_holds_at_most_ten_modules() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


def test_the_checker_sees_a_violation() -> None:
    # The scan must not pass vacuously: an upward import and a stray aiohttp are found.
    source = "import aiohttp\nfrom honcho_uv.cli import main\nif TYPE_CHECKING:\n    import jinja2\n"
    path = PACKAGE.parent / "tests" / "_layer_probe.py"
    path.write_text(source)
    try:
        found = [t for _, t in imports_of(path, "core.probe")]
    finally:
        path.unlink()
    assert found == ["aiohttp", "honcho_uv.cli"]
    assert layer_of("cli") > layer_of("core.probe")
