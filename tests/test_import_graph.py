"""Imports point one way: the graph of ``featurestore`` modules has no cycle but the known ones below.

Every import counts: at module level, under ``TYPE_CHECKING`` and inside functions (a lazy import
still ties two modules together). ``from package import name`` counts as an import of the submodule
when ``name`` is one, else of the package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "featurestore"

# Cycles that predate this test, each to be removed by the work that owns those modules. A cycle not
# listed here (or one of these grown larger) fails the test.
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset(
    {
        # A view builds its aggregations; an aggregation validates against its view.
        frozenset({"featurestore.dsl.aggregation", "featurestore.dsl.view"}),
        # Plan nodes and builders of windowed aggregations refer to each other.
        frozenset(
            {
                "featurestore.plan.build",
                "featurestore.plan.nodes",
                "featurestore.plan.passes",
                "featurestore.plan.window",
            }
        ),
        frozenset({"featurestore.online.base", "featurestore.online.readplan"}),
        frozenset({"featurestore.online.redis", "featurestore.online.redis_async"}),
        frozenset({"featurestore.server.app", "featurestore.server.openapi"}),
        frozenset({"featurestore.cli.app", "featurestore.cli.output"}),
    }
)


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The module of the package a dotted name lives in (``a.b.c`` -> ``a.b`` if ``c`` is no module)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules ``path`` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
        found.update(m for m in (_owner(n, modules) for n in names) if m)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> Iterator[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative).

    >>> sorted(sorted(c) for c in cycles({"a": {"b"}, "b": {"a", "c"}, "c": set()}))
    [['a', 'b']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    yield frozenset(component)


def test_no_import_cycle_but_the_known_ones() -> None:
    new = [sorted(c) for c in cycles(import_graph()) if c not in KNOWN_CYCLES]
    assert not new, "import cycles (break them, e.g. hand the job its collaborators):\n" + "\n".join(
        " <-> ".join(c) for c in new
    )


def test_verify_and_feature_logging_never_import_the_facade() -> None:
    graph = import_graph()
    for name in ("featurestore.verify", *[m for m in graph if m.startswith("featurestore.feature_logging")]):
        assert "featurestore.store" not in graph[name], f"{name} imports featurestore.store"
    assert not any("featurestore.store" in c for c in cycles(graph))


def test_only_renderers_pick_a_dialect() -> None:
    """Outside ``sql/`` and the DuckDB engine, no module imports the DuckDB renderer's modules."""
    graph = import_graph()
    duckdb_sql = {
        m for m in graph if m.startswith("featurestore.sql.duckdb") or m.startswith("featurestore.sql.window")
    }
    for name, deps in graph.items():
        if name.startswith("featurestore.sql") or name == "featurestore.engines.duckdb":
            continue
        assert not deps & duckdb_sql, f"{name} imports {sorted(deps & duckdb_sql)}: ask renderer_for(...)"
