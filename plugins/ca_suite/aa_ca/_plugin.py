"""Hook implementations (torch-free: factories are "module:attr" strings loaded when built).

The classification / reasoning half of the suite: MNIST-1D, self-classifying digits, 1D-ARC (each
dataset with its objective, brought by default), the lattice classifier pipeline, the MNIST-1D
paper's baselines and the ``ca_report`` task.
"""
from __future__ import annotations

from aa_core.plugin import Component, Section, Task, hookimpl

from .classifier_config import (
    Arc1DConfig,
    CAClassifierConfig,
    ClassifyObjectiveConfig,
    CNNClassifierConfig,
    DigitsConfig,
    MLPClassifierConfig,
    Mnist1DConfig,
    ReportConfig,
)


@hookimpl
def aa_components() -> list[Component]:
    return [
        Component("dataset", "mnist1d", Mnist1DConfig, "aa_ca.mnist1d_task:build", "MNIST-1D (PyPI mnist1d, generated offline)",
                  defaults={"objective": "mnist1d_consensus"}),
        Component("dataset", "digits", DigitsConfig, "aa_ca.digits_task:build",
                  "self-classifying 8×8 digits (scikit-learn), sample pool, per-cell classes",
                  defaults={"objective": "digits_self_classify"}),
        Component("dataset", "arc1d", Arc1DConfig, "aa_ca.arc1d_task:build", "one 1D-ARC task, problems split into folds",
                  defaults={"objective": "arc1d_rows"}),
        Component("objective", "mnist1d_consensus", ClassifyObjectiveConfig, "aa_ca.mnist1d_objective:build",
                  "cross-entropy of the cells' consensus logits; accuracy (selects) and loss"),
        Component("objective", "digits_self_classify", ClassifyObjectiveConfig, "aa_ca.digits_objective:build",
                  "per-cell loss over a pool roll-out ([dataset] loss, steps_min/max); cell accuracy (selects) and agreement"),
        Component("objective", "arc1d_rows", ClassifyObjectiveConfig, "aa_ca.arc1d_objective:build",
                  "per-cell colour cross-entropy; cell accuracy (selects) and exact match of whole rows"),
        Component("pipeline", "ca_classifier", CAClassifierConfig, "aa_ca.classifier:build",
                  "inputs onto lattice cells → T cell updates → class logits per cell (consensus or per cell)"),
        Component("pipeline", "mlp_classifier", MLPClassifierConfig, "aa_ca.baselines:build_mlp", "MNIST-1D paper's MLP baseline"),
        Component("pipeline", "cnn1d_classifier", CNNClassifierConfig, "aa_ca.baselines:build_cnn", "MNIST-1D paper's CNN baseline"),
    ]


@hookimpl
def aa_tasks() -> list[Task]:
    return [Task("ca_report", "aa_ca.report:run_task",
                 "test figures of a trained CA task beside the published ones (JSON, Markdown, PNG)")]


@hookimpl
def aa_spec_sections() -> list[Section]:
    return [Section("ca_report", ReportConfig, "what the ca_report task draws", optional=True)]
