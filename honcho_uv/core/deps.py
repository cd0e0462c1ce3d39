"""The dependency graph of process types: conditions, checks, start and stop order.

Pure functions of ``{type: {dependency: condition}}`` (DESIGN.md "Dependencies"): ``hu
check``, ``hu.toml`` loading, the Manager and the exporters all use the same ones. A
condition is what the dependent waits for: ``started`` (its instances were spawned),
``ready`` (their ready probes passed; a type without one is ready once spawned), ``exited``
(they all ended, any code) or ``succeeded`` (they all ended with code 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from honcho_uv.errors import ConfigError
from honcho_uv.models.template import CONDITIONS

__all__ = ["CONDITIONS", "Graph", "check_graph", "find_cycle", "start_levels", "stop_waves"]

#: type name -> {dependency name: condition}
Graph = Mapping[str, Mapping[str, str]]


def check_graph(graph: Graph, known: Iterable[str], where: str = "depends_on") -> None:
    """Every dependency is a known type with a known condition, and there is no cycle.

    Raises:
        ConfigError: naming *where*, the type and the unknown name, or the whole cycle
            (``web -> db -> web``).
    """
    names = set(known)
    for name, deps in graph.items():
        for dep, condition in deps.items():
            if dep not in names:
                raise ConfigError(f"{where}: {name} depends on {dep!r}, which is not a process type "
                                  f"(known: {', '.join(sorted(names))})")
            if condition not in CONDITIONS:
                raise ConfigError(f"{where}: {name} -> {dep}: unknown condition {condition!r} "
                                  f"(expected {', '.join(CONDITIONS)})")
    cycle = find_cycle(graph)
    if cycle:
        raise ConfigError(f"{where}: dependency cycle: {' -> '.join(cycle)}")


def find_cycle(graph: Graph) -> list[str]:
    """The first cycle found, as ``[a, b, ..., a]``, or ``[]``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for dep in graph.get(node, {}):
            if state.get(dep) == 1:
                return [*path[path.index(dep):], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def start_levels(graph: Graph, names: Iterable[str]) -> dict[str, int]:
    """Each type's level: 0 with no dependencies, else one more than its deepest dependency.

    Types start no earlier than their dependencies; *graph* must have passed
    :func:`check_graph` (no cycle).
    """
    levels: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in levels:
            deps = graph.get(name, {})
            levels[name] = 1 + max((level(d) for d in deps), default=-1)
        return levels[name]

    for name in names:
        level(name)
    return levels


def stop_waves(graph: Graph, names: Iterable[str]) -> list[list[str]]:
    """Types grouped for stopping: dependents first, each wave stopped and awaited before the
    next is signalled. Without dependencies, one wave (everything in parallel)."""
    names = list(names)
    levels = start_levels(graph, names)
    top = max(levels.values(), default=0)
    waves = [[n for n in names if levels[n] == lvl] for lvl in range(top, -1, -1)]
    return [w for w in waves if w]
