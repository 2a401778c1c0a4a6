"""A spec resolves the same whatever else is installed: a plugin's section is resolved only when the spec
has it or uses a component or task that declares it, so run ids and stored specs do not depend on the
installed plugins (with and without aa-qa here)."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from aa_core import validate
from aa_core.host import PluginHost, scan
from aa_core.run import new_run_id

REPO = Path(__file__).resolve().parents[1]
SPECS = ["examples/digits.toml", "examples/ca/mnist1d.toml", "examples/ca/self_classify.toml", "examples/cell_gmlp.toml"]


def resolved(path: str, without: tuple[str, ...] = ()) -> tuple[dict, str]:
    plugins = PluginHost([p for p in scan() if p.distribution not in without])
    spec = validate(tomllib.loads((REPO / path).read_text(encoding="utf-8")), path, plugins)
    return spec.resolved(), new_run_id(spec).split("-", 2)[2]


@pytest.mark.parametrize("path", SPECS)
def test_the_resolved_spec_and_run_id_do_not_depend_on_aa_qa_being_installed(path):
    with_qa, id_with = resolved(path)
    without_qa, id_without = resolved(path, ("aa-qa", "aa-text"))
    assert with_qa == without_qa and id_with == id_without
    assert not {"qa_loss", "evaluate", "data", "ask"} & set(with_qa), sorted(with_qa)


def test_a_section_is_resolved_when_a_component_or_task_the_spec_uses_declares_it():
    spec, _ = resolved("examples/quickstart.toml")
    assert {"data", "qa_loss", "evaluate"} <= set(spec)  # [data] is in the spec; the objective reads qa_loss; evaluate runs
