"""voxel_growth: the NBT loader on the shipped structures, the dataset and its objective, and a short `aa run`
(train, test, ca_report) with a per-step log and the curves drawn from it."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch

from aa_ca.growth_config import VoxelGrowthConfig
from aa_ca.growth_metrics import voxel_losses
from aa_ca.voxel import VoxelGrowth, load_structure, shared_data
from aa_core.plugin import UserError

ART = shared_data() / "voxel-artefacts"
SPEC = Path(__file__).resolve().parents[3] / "examples" / "ca" / "voxel_growth.toml"
needs_data = pytest.mark.skipif(not ART.is_dir(), reason="../shared/data/voxel-artefacts not present")


def build(*overrides):
    """(model, dataset after setup, objective) of the voxel spec with ``--set``-style overrides."""
    from aa_core.run import build_model, load_spec

    model, ctx = build_model(load_spec(SPEC, list(overrides)))
    ds = ctx.build("dataset")
    ds.setup(model, ctx)
    return model, ds, ctx.build("objective")


def randomise(model):
    with torch.no_grad():
        for p in model.parameters():  # the zero-initialised last layer would make every rollout the seed
            p.normal_(0, 0.1)


@needs_data
def test_caterpillar_loads_as_published():
    classes, names = load_structure(ART / "caterpillar_short.nbt")
    assert classes.shape == (8, 8, 27) and names[0] == "minecraft:air" and len(names) == 7
    counts = torch.bincount(classes.flatten(), minlength=7)
    assert counts[0] == 1591 and counts.sum() == 8 * 8 * 27  # 137 blocks, the rest air
    assert sorted(counts[1:].tolist()) == [1, 2, 12, 12, 55, 55]


@needs_data
def test_jungle_temple_loads_with_merged_block_states():
    classes, names = load_structure(ART / "jungle_temple.nbt")
    assert classes.shape == (12, 14, 15)
    assert len(names) == len(set(names)) and "minecraft:vine" in names  # 7 vine states → one class
    assert (classes != 0).sum() > 0


def test_loader_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(UserError, match="no structure file"):
        load_structure(tmp_path / "missing.nbt")
    bad = tmp_path / "bad.nbt"
    bad.write_bytes(gzip.compress(b"not nbt at all"))
    with pytest.raises(UserError, match="not a readable Minecraft structure"):
        load_structure(bad)


@needs_data
def test_dataset_layout_seed_and_loss():
    ds = VoxelGrowth(VoxelGrowthConfig(pool_size=4))
    assert ds.channels == 20 and ds.alive_channel == 7 and ds.shape == (8, 8, 27)
    assert ds.sizes() == {"train": 4, "validation": 1, "test": 1}
    assert (ds.seed.abs().sum(-1) > 0).sum() == 1 and ds.seed[:, 7].sum() == 1
    # a state that is the target (big logits on the right class, alive on occupied cells) has IoU 1
    labels = ds.target[:, 0].long()
    perfect = torch.zeros(1, len(labels), 20)
    perfect[0, torch.arange(len(labels)), labels] = 20.0
    perfect[0, :, 7] = (labels != 0).float()
    assert ds.iou_error(perfect).item() == 0 and voxel_losses(perfect, labels[None], 7).item() < 1e-6
    assert ds.iou_error(ds.seed[None]).item() == 1.0  # the seed alone occupies nothing


@needs_data
def test_pipeline_must_fit_the_structure():
    with pytest.raises(UserError, match=r"\[cell\] channels = 16 .* set \[cell\] channels = 20"):
        build("cell.channels=16")


@needs_data
def test_objective_metrics_and_the_test_of_growth_persistence_and_regeneration():
    from aa_ca.growth_objectives import VoxelGrowthObjective
    from aa_nca.growth import VALIDATION_SEED
    from aa_nca.objective import TEST_SEED

    torch.manual_seed(0)
    model, ds, obj = build("pipeline.eval_steps=6", "objective.persist_steps=3", "dataset.loss=ce_alive")
    assert isinstance(obj, VoxelGrowthObjective) and obj.kind == "ce_alive" and obj.classes(model) == ds.num_classes == 7
    randomise(model)
    val = obj.validation_metrics(model, ds)
    assert list(val) == list(obj.metrics) == ["val_iou_error", "val_class_accuracy", "val_loss"]
    assert val["val_iou_error"] == float(ds.iou_error(ds.grow_from_seed(model)).mean())
    test = obj.test_metrics(model, ds)
    assert set(test) == {"test_iou_error", "test_class_accuracy", "test_grown_iou_error", "test_persisted_iou_error",
                         "test_damaged_iou_error", "test_regrown_iou_error"}
    grown = ds.grow_from_seed(model, batch=4, seed=TEST_SEED)  # the same rollouts, repeatable
    assert test["test_iou_error"] == test["test_grown_iou_error"] == float(ds.iou_error(grown).mean())
    assert TEST_SEED != VALIDATION_SEED and not torch.equal(ds.grow_from_seed(model, seed=TEST_SEED), ds.grow_from_seed(model))
    states = obj.trial(model, ds)
    assert {k: v.shape[0] for k, v in states.items()} == {"grown": 4, "persisted": 4, "damaged": 4, "regrown": 4}
    assert (states["damaged"].abs().sum(-1) == 0).sum() > (states["grown"].abs().sum(-1) == 0).sum()  # a ball of cells removed
    batch = ds.batch("train", torch.arange(2))
    obj.training_loss(model, batch).backward()
    assert batch["sample_loss"].shape == (2,) and batch["final_state"].shape == (2, 8 * 8 * 27, 20)
    step = obj.step_metrics(model, batch)
    assert step == {"train_iou_error": float(ds.iou_error(batch["final_state"]).mean())}


@needs_data
def test_a_few_steps_through_aa_run(aa, tmp_path):
    """train + test + ca_report with a per-step log: steps.jsonl holds the training batch's 1 − IoU, metrics.json
    the test figures, the report its pictures, and the curves read the run folder."""
    r = aa("run", str(SPEC), "--set", "train.steps=3", "--set", "train.eval_every=3", "--set", "pipeline.steps=[3,3]",
           "--set", "pipeline.eval_steps=3", "--set", "dataset.pool_size=8", "--set", "dataset.damage=1", "--set", "train.log_every=1",
           "--set", "objective.persist_steps=3", "--set", 'run.tasks=["train","test","ca_report"]', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "DeprecationWarning" not in r.stderr
    (metrics,) = tmp_path.glob("runs/*/metrics.json")
    m = json.loads(metrics.read_text())
    assert m["selected"] == "val_iou_error" and m["mode"] == "min"
    assert {"val_iou_error", "val_class_accuracy", "val_loss"} <= set(m["history"][-1])
    assert {"test_iou_error", "test_grown_iou_error", "test_persisted_iou_error", "test_damaged_iou_error",
            "test_regrown_iou_error"} <= set(m["test"])
    rows = [json.loads(line) for line in (metrics.parent / "steps.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3] and all(0.0 <= row["train_iou_error"] <= 1.0 for row in rows)
    report = json.loads((metrics.parent / "report.json").read_text())
    assert report["task"] == "voxel_growth" and report["ours"]["test_iou_error"] == round(m["test"]["test_iou_error"], 5)
    assert report["published"] == {"first_train_iou_error_below_0.01": 1319}
    assert (metrics.parent / "voxel_growth.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (state,) = tmp_path.glob("checkpoints/*/epoch-0001/train_state.safetensors")  # the pool is saved with it
    from safetensors.torch import load_file

    assert any("pool" in k for k in load_file(state))
    from aa_ca import report as ca_report

    ca_report.main(["--curves", str(tmp_path / "curves.png"), "--published", str(ART / "caterpillar_iou_loss_log.csv"), str(metrics.parent)])
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curves = ca_report.run_curves(metrics.parent)
    assert [s for s, _ in curves["train"]] == [1, 2, 3] and curves["validation"] == [(3, m["history"][0]["val_iou_error"])]


@needs_data
def test_mamba_schedule_grows_one_update_at_a_time():
    """aa-mamba's schedule in the growth pipeline: step_grid_at in order, both parts learn, alive channel checked."""
    pytest.importorskip("aa_mamba")
    from aa_core.run import BuildContext, build_model, load_spec

    def model_and_data(alive_channel):
        prop = ('propagator={name="schedule",steps=["nca:2","mamba","nca:1"],mamba={expand=1,d_state=8},'
                f'nca={{fire_rate=0.5,alive_threshold=0.1,alive_channel={alive_channel}}}}}')
        spec = load_spec(SPEC, [prop, "pipeline.steps=[4,4]", "pipeline.eval_steps=4", "dataset.pool_size=4"])
        model, ctx = build_model(spec)
        ds = BuildContext(spec).build("dataset")
        ds.setup(model, ctx)
        return model, ctx, ds, ctx.build("objective")

    with pytest.raises(UserError, match=r"\[propagator.nca\] alive_channel = 3 .* set alive_channel = 7"):
        model_and_data(3)
    torch.manual_seed(0)
    model, ctx, ds, objective = model_and_data(7)
    sched = ctx.propagator
    assert sched.period == 4
    with torch.no_grad():
        for p in model.parameters():  # non-zero last layers, so each update changes the state
            p.normal_(0, 0.1)
    model.eval()
    seed = ds.seed[None]
    grid = ctx.geometry.to_grid(seed)
    for t in range(4):
        grid = sched.step_grid_at(grid, t)
    states = model.rollout(seed, {})
    assert len(states) == 5 and torch.allclose(states[-1], ctx.geometry.to_cells(grid), atol=1e-5)
    model.train()
    objective.training_loss(model, ds.batch("train", torch.arange(2))).backward()
    mamba = sched.stages[1]
    assert mamba.blocks[0][0].in_proj.weight.grad.abs().sum() > 0 and ctx.cell.layers[0].weight.grad.abs().sum() > 0
