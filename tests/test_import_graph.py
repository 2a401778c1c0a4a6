"""No import cycle between aa_core's subpackages (the deprecated 0.1 shims excluded).

The import-linter layers contract (``lint-imports``, config in pyproject) fixes the order of the
main layers; this test checks the whole runtime graph, including the subpackages outside that
order (``lattice``, ``builtins``) and the top-level modules (``plugin``, ``protocols``, ...).
"""
from __future__ import annotations

from pathlib import Path

import grimp
import pytest

SUBPACKAGES = ("host", "spec", "architectures", "assemble", "checkpoint", "conformance", "tasks", "cli", "lattice", "builtins", "native")
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


PUBLIC = {"aa_core", "aa_core.plugin", "aa_core.protocols", "aa_core.conformance", "aa_core.run"}


def _internal_modules() -> set[str]:
    """aa_core's subpackages and top-level modules other than the public ones."""
    root = Path(__file__).resolve().parents[1] / "aa_core"
    names = {f"aa_core.{p.stem}" for p in root.glob("*.py") if p.stem != "__init__"}
    names |= {f"aa_core.{p.name}" for p in root.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    return names - PUBLIC


def test_the_plugins_contract_forbids_every_internal_module():
    import tomllib

    config = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith("Plugins import only")]
    assert set(contract["forbidden_modules"]) == _internal_modules() - {"aa_core.conformance"}


def test_plugins_examples_and_their_tests_import_only_the_public_modules():
    """Code and tests alike (the import-linter contract sees the packages only): `from aa_core.X import` with X public."""
    import ast

    repo = Path(__file__).resolve().parents[1]
    bad = []
    for path in [*repo.glob("plugins/**/*.py"), *repo.glob("examples/**/*.py")]:
        if any(part in (".venv", "build") for part in path.parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("aa_core") and name not in PUBLIC and not name.startswith("aa_core.conformance."):
                    bad.append(f"{path.relative_to(repo)}: {name}")
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():  # code in strings (subprocess one-liners)
            if "from aa_core." in line and not line.lstrip().startswith(("from aa_core", "import ")):
                mod = line.split("from aa_core.", 1)[1].split()[0]
                if f"aa_core.{mod}" not in PUBLIC:
                    bad.append(f"{path.relative_to(repo)}: aa_core.{mod} (in a string)")
    assert not bad, "plugins import core internals:\n" + "\n".join(bad)
