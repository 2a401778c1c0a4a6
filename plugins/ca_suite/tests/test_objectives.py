"""The suite's objective components: each builds from a spec, passes the conformance kit, and is the one its
dataset brings to the example specs (which name no [objective])."""
from __future__ import annotations

from pathlib import Path

import pytest

from aa_core.conformance import build_registered, check_objective
from aa_core.protocols import LoggedObjective, TrainablePipeline
from aa_core.run import build_model, load_spec

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "ca"
OBJECTIVES = {"mnist1d.toml": "mnist1d_consensus", "mnist1d_mlp.toml": "mnist1d_consensus", "mnist1d_cnn.toml": "mnist1d_consensus",
              "self_classify.toml": "digits_self_classify", "arc1d.toml": "arc1d_rows", "voxel_growth.toml": "voxel_growth",
              "emoji_growth.toml": "emoji_growth"}
SELECTION = {"mnist1d_consensus": ("val_accuracy", "max"), "digits_self_classify": ("val_accuracy", "max"),
             "arc1d_rows": ("val_cell_accuracy", "max"), "voxel_growth": ("val_iou_error", "min"), "emoji_growth": ("val_loss", "min")}


@pytest.mark.parametrize("name", sorted(SELECTION))
def test_objective_conforms(name):
    objective, _ctx = build_registered("objective", name)
    check_objective(objective)
    assert tuple(objective.selection) == SELECTION[name]
    assert isinstance(objective, LoggedObjective) == (name == "voxel_growth")  # the per-step 1 − IoU of the training batch


@pytest.mark.parametrize("spec", sorted(OBJECTIVES))
def test_example_specs_get_their_datasets_objective(spec):
    s = load_spec(EXAMPLES / spec)
    assert s.components["objective"][0].component.name == OBJECTIVES[spec]
    select_on = s.sections["train"].select_on
    assert select_on is None or select_on in build_registered("objective", OBJECTIVES[spec])[0].metrics


@pytest.mark.parametrize("spec", ["mnist1d.toml", "mnist1d_mlp.toml", "mnist1d_cnn.toml", "self_classify.toml"])
def test_pipelines_train_only_through_the_objective(spec):
    model, _ctx = build_model(load_spec(EXAMPLES / spec))
    assert not isinstance(model, TrainablePipeline)  # no deprecated validation_metrics: the objective owns the metrics
