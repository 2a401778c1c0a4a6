"""No import cycle between aa_core's subpackages (the deprecated 0.1 shims excluded).

The import-linter layers contract (``lint-imports``, config in pyproject) fixes the order of the
main layers; this test checks the whole runtime graph, including the subpackages outside that
order (``lattice``, ``builtins``) and the top-level modules (``plugin``, ``protocols``, ...).
"""
from __future__ import annotations

from pathlib import Path

import grimp
import pytest

SUBPACKAGES = ("host", "spec", "architectures", "assemble", "checkpoint", "conformance", "tasks", "cli", "lattice", "builtins")
# Deprecated 0.1 paths that only re-export (they import across layers by design).
SHIMS = frozenset({
    "aa_core._validators", "aa_core._convert", "aa_core._spec", "aa_core._build", "aa_core._registry",
    "aa_core._plugin_manager", "aa_core._discovery", "aa_core._component", "aa_core._hookspecs", "aa_core._cli",
    "aa_core.configs", "aa_core.cells",
})


def _unit(module: str) -> str | None:
    """The node a module belongs to: ``aa_core.<sub>`` for a subpackage or top-level module, None for a shim."""
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the package's own __init__ (lazy re-exports only)
    unit = ".".join(parts[:2])
    return None if unit in SHIMS else unit


def unit_graph(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Imports between units (subpackages and top-level modules), runtime imports only."""
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        src = _unit(module)
        if src is None:
            continue
        edges.setdefault(src, set())
        for imported in graph.find_modules_directly_imported_by(module):
            dst = _unit(imported)
            if dst is not None and dst != src:
                edges[src].add(dst)
    return edges


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("aa_core", include_external_packages=False, exclude_type_checking_imports=True)


def test_all_subpackages_are_in_the_graph(graph):
    units = unit_graph(graph)
    assert {f"aa_core.{s}" for s in SUBPACKAGES} <= set(units)


def test_no_import_cycle_between_subpackages(graph, find_cycle):
    cycle = find_cycle(unit_graph(graph))
    assert cycle is None, "import cycle in aa_core: " + " → ".join(cycle or [])


def test_the_cycle_check_can_fail(find_cycle):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_benchmark_imports_the_qa_application():
    """bench/ goes through the plugin host and the core (issue 19); import-linter covers the packages."""
    import ast

    root = Path(__file__).resolve().parents[1] / "bench"
    offenders = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {n}" for n in names if n == "aa_qa" or n.startswith("aa_qa.")]
    assert not offenders, offenders
