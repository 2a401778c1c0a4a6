"""aa sweep reads any task's numbers: the objective with its direction, a trial's metrics.json and
report, the objective's value (or why a run lacks it), and the table over seeds."""
from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest

from aa_core.plugin import UserError
from aa_core.run import load_spec
from aa_sweep import results as R
from aa_sweep.cli import fixed_overrides, uses_evaluate
from aa_sweep.space import parse_objective

REPO = Path(__file__).resolve().parents[3]


def test_objective_key_and_direction():
    train = load_spec(str(REPO / "examples" / "digits.toml")).sections["train"]
    assert (parse_objective(None, train).key, parse_objective(None, train).direction) == ("val_accuracy", "maximize")
    assert parse_objective("val_loss", train).direction == "minimize"
    assert parse_objective("val_error", train).direction == "minimize"
    assert parse_objective("val_loss:max", train).direction == "maximize"
    assert parse_objective("cosine:min", None).direction == "minimize"
    train.mode = "min"  # the spec's own direction for its own select_on
    assert parse_objective("val_accuracy", train).direction == "minimize"
    assert parse_objective(None, None).key is None
    with pytest.raises(UserError, match="max or min"):
        parse_objective("val_accuracy:up", train)


def _run_folder(root: Path, metrics: dict | None, report: dict | None = None) -> Path:
    run = root / "runs" / "20260101-000000-abcdef12"
    run.mkdir(parents=True)
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps(metrics))
    if report is not None:
        (run / "report.json").write_text(json.dumps(report))
    return root


def test_outcome_reads_metrics_json_and_the_report(tmp_path):
    best = {"epoch": 3, "train_loss": 0.5, "val_loss": 0.4, "val_accuracy": 0.9}
    res = R.outcome(_run_folder(tmp_path / "a", {"selected": "val_accuracy", "mode": "max", "best_epoch": 3, "best": best,
                                                 "history": [best], "checkpoint": str(tmp_path / "none")}))
    assert res["ok"] and res["metrics"] == best and res["selected"] == "val_accuracy" and res["params"] is None
    assert R.objective_value(res, None) == 0.9 and R.objective_value(dict(res), "val_loss") == 0.4
    counted = R.outcome(_run_folder(tmp_path / "p", {"selected": "val_accuracy", "best": best, "params": 321,
                                                      "checkpoint": str(tmp_path / "none")}))
    assert counted["params"] == 321  # metrics.json's trainable count, without opening the checkpoint
    report = {"systems": {"lattice": {"cosine": 0.7, "mrr": 0.5, "n": 10}, "mlp": {"cosine": 0.6, "mrr": 0.4}},
              "paired": {"mlp": {"cosine": {"diff": 0.1, "lo": 0.0, "hi": 0.2}}}, "meta": {"lattice_params": 1234}}
    both = R.outcome(_run_folder(tmp_path / "b", {"selected": "val_mrr", "best": {"val_mrr": 0.3}}, report))
    assert both["metrics"] == {"val_mrr": 0.3, "cosine": 0.7, "mrr": 0.5, "n": 10.0} and both["params"] == 1234
    assert both["paired"] == {"mlp": {"cosine": 0.1}} and R.objective_value(both, "cosine") == 0.7
    missing = dict(both)
    assert R.objective_value(missing, "val_accuracy") is None and not missing["ok"] and "val_mrr" in missing["error"]
    assert not R.outcome(_run_folder(tmp_path / "c", None))["ok"]


def test_the_table_has_the_objective_first_and_paired_columns_when_there_is_a_report():
    study = optuna.create_study(direction="maximize")
    dist = {"seed": optuna.distributions.CategoricalDistribution(["0", "1"])}
    for seed, acc in (("0", 0.8), ("1", 0.9)):
        ua = {"key": seed, "config": "lr=1", "metrics": {"val_accuracy": acc, "val_loss": 1 - acc, "epoch": 2}, "selected": "val_accuracy"}
        study.add_trial(optuna.trial.create_trial(params={"seed": seed}, distributions=dist, value=acc, user_attrs=ua))
    (row,) = R.summarise(study, "mlp_same_params", "val_loss")
    assert row["metrics"] == ["val_loss", "val_accuracy"] and row["seeds"] == 2
    assert row["val_accuracy"][0] == pytest.approx(0.85) and row["val_accuracy"][1] < 0.85 < row["val_accuracy"][2]
    assert "diff:val_accuracy" not in row
    text = R.text_table([row], "mlp_same_params")
    assert "val_loss" in text and "Δ" not in text
    (q,) = R.summarise(_qa_study(), "mlp")
    assert q["metrics"][:2] == ["val_mrr", "cosine"] and q["verdict:cosine"] and "Δcosine vs mlp" in R.text_table([q], "mlp")
    assert not math.isnan(q["diff:cosine"][0])


def _qa_study() -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    dist = {"seed": optuna.distributions.CategoricalDistribution(["0", "1"])}
    for seed, c in (("0", 0.7), ("1", 0.72)):
        ua = {"key": seed, "config": "base", "selected": "val_mrr", "metrics": {"val_mrr": 0.3, "cosine": c},
              "systems": {"lattice": {"cosine": c}, "mlp": {"cosine": c - 0.05}}, "paired": {"mlp": {"cosine": 0.05}}}
        study.add_trial(optuna.trial.create_trial(params={"seed": seed}, distributions=dist, value=0.3, user_attrs=ua))
    return study


def test_trials_recorded_before_metrics_json_still_count():
    study = optuna.create_study(direction="maximize")
    dist = {"seed": optuna.distributions.CategoricalDistribution(["0"])}
    ua = {"key": "0", "config": "old", "systems": {"lattice": {"cosine": 0.6}}, "paired": {}}
    study.add_trial(optuna.trial.create_trial(params={"seed": "0"}, distributions=dist, value=0.6, user_attrs=ua))
    (row,) = R.summarise(study, "mlp", "cosine")
    assert row["cosine"][0] == 0.6


def test_a_spec_without_an_evaluate_task_gets_no_qa_overrides():
    digits = str(REPO / "examples" / "digits.toml")
    assert not uses_evaluate(digits, []) and uses_evaluate(str(REPO / "examples" / "study" / "light.toml"), [])
    fixed = fixed_overrides(["train.epochs=2"], "validation", evaluate=False)
    assert fixed == ["train.threads=1", "train.epochs=2"] and load_spec(digits, fixed).sections["train"].epochs == 2
