"""aa_qa has no import circle between its modules, function-local imports included (issue 19).

The import-linter layers contract in pyproject.toml fixes the order of the modules it lists; this
test checks every module of the package, including ones added later and not yet listed there.
"""
from __future__ import annotations

import grimp
import pytest


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    """Module → the aa_qa modules it imports anywhere in its body (grimp reads function-local imports too)."""
    graph = grimp.build_graph("aa_qa", include_external_packages=False, exclude_type_checking_imports=True)
    return {m: {i for i in graph.find_modules_directly_imported_by(m) if i != "aa_qa"} for m in graph.modules if m != "aa_qa"}


def test_no_import_cycle_in_aa_qa(edges, find_cycle):
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle in aa_qa: " + " → ".join(cycle or [])


def test_the_graph_sees_function_local_imports(edges):
    # cli_evaluate imports aa_qa.evaluate inside main() only (torch at command time): the graph must still hold it
    assert "aa_qa.evaluate" in edges["aa_qa.cli_evaluate"]


def test_answering_imports_nothing_that_trains_or_evaluates(edges):
    assert edges["aa_qa.answering"] <= {"aa_qa.data"}, edges["aa_qa.answering"]
