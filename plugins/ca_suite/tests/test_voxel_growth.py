"""voxel_growth: the NBT loader on the shipped structures, the dataset's maths, and a short `aa run`."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch

from aa_ca.growth_config import VoxelGrowthConfig
from aa_ca.voxel import VoxelGrowth, load_structure, shared_data
from aa_core.plugin import UserError

ART = shared_data() / "voxel-artefacts"
SPEC = Path(__file__).resolve().parents[3] / "examples" / "ca" / "voxel_growth.toml"
needs_data = pytest.mark.skipif(not ART.is_dir(), reason="../shared/data/voxel-artefacts not present")


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
    assert ds.sizes() == {"train": 4, "validation": 1, "test": 0}
    assert (ds.seed.abs().sum(-1) > 0).sum() == 1 and ds.seed[:, 7].sum() == 1
    # a state that is the target (big logits on the right class, alive on occupied cells) has IoU 1
    labels = ds.target[:, 0].long()
    perfect = torch.zeros(1, len(labels), 20)
    perfect[0, torch.arange(len(labels)), labels] = 20.0
    perfect[0, :, 7] = (labels != 0).float()
    assert ds.iou_error(perfect).item() == 0 and ds.sample_losses(perfect, ds.target[None]).item() < 1e-6
    assert ds.iou_error(ds.seed[None]).item() == 1.0  # the seed alone occupies nothing


@needs_data
def test_pipeline_must_fit_the_structure():
    from aa_ca.growth_study import build

    with pytest.raises(UserError, match=r"\[cell\] channels = 16 .* set \[cell\] channels = 20"):
        build(SPEC, {"cell.channels": 16})


@needs_data
def test_test_metrics_are_validations_figures_on_fresh_fire_masks():
    from aa_ca.growth import TEST_ROLLOUTS, TEST_SEED, VALIDATION_SEED
    from aa_ca.growth_study import build

    torch.manual_seed(0)
    model, ds, _ = build(SPEC, {"pipeline.eval_steps": 6})
    with torch.no_grad():
        for p in model.parameters():  # the zero-initialised last layer would make every rollout the seed
            p.normal_(0, 0.1)
    test = ds.test_metrics(model)
    assert set(test) == {"test_iou_error", "test_class_accuracy"}
    again = ds.metrics(ds.grow_from_seed(model, batch=TEST_ROLLOUTS, seed=TEST_SEED))
    assert test["test_iou_error"] == again["val_iou_error"]  # the same rollouts, repeatable
    assert TEST_SEED != VALIDATION_SEED
    assert not torch.equal(ds.grow_from_seed(model, seed=TEST_SEED), ds.grow_from_seed(model))


@needs_data
def test_a_few_steps_through_aa_run(aa, tmp_path):
    r = aa("run", str(SPEC), "--set", "train.steps=3", "--set", "train.eval_every=3", "--set", "pipeline.steps=[3,3]",
           "--set", "pipeline.eval_steps=3", "--set", "dataset.pool_size=8", "--set", "dataset.damage=1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    (metrics,) = tmp_path.glob("runs/*/metrics.json")
    m = json.loads(metrics.read_text())
    assert m["selected"] == "val_iou_error" and m["mode"] == "min"
    assert {"val_iou_error", "val_class_accuracy", "val_loss"} <= set(m["history"][-1])
    (state,) = tmp_path.glob("checkpoints/*/epoch-0001/train_state.safetensors")  # the pool is saved with it
    from safetensors.torch import load_file

    assert any("pool" in k for k in load_file(state))


@needs_data
def test_growth_study_trains_evaluates_and_summarises_with_overrides(tmp_path, capsys):
    """A short study run with --set values that change shapes (the evaluation must build the same model),
    and the summary table of it."""
    from aa_ca import growth_study

    out = tmp_path / "run"
    growth_study.main([str(SPEC), str(out), "--steps", "2", "--eval-every", "2", "--set", "dataset.hidden_channels=4",
                       "--set", "cell.channels=12", "--set", "pipeline.steps=[2,2]", "--set", "pipeline.eval_steps=2",
                       "--set", "dataset.pool_size=4"])
    train = json.loads((out / "train.json").read_text())
    assert train["steps_done"] == 2 and len(train["log"]) == 2
    evaluation = json.loads((out / "eval.json").read_text())
    assert len(evaluation["grown_iou_error"]) == 4 and (out / "voxel_growth.png").stat().st_size > 0
    capsys.readouterr()
    growth_study.main(["--summary", str(out)])
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| run | seed | steps |") and table[2].startswith("| run | 0 | 2 |")
    assert json.loads((out / "train.json").read_text())["train_iou_measured"] == "before the pool write-back"
    growth_study.main(["--curves", str(tmp_path / "curves.png"), "--published", str(ART / "caterpillar_iou_loss_log.csv"), str(out)])
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_data
def test_mamba_schedule_grows_one_update_at_a_time():
    """aa-mamba's schedule in the growth pipeline: step_grid_at in order, both parts learn, alive channel checked."""
    pytest.importorskip("aa_mamba")
    from aa_core.assemble import BuildContext, build_model
    from aa_core.spec import load_spec

    def model_and_data(alive_channel):
        prop = ('propagator={name="schedule",steps=["nca:2","mamba","nca:1"],mamba={expand=1,d_state=8},'
                f'nca={{fire_rate=0.5,alive_threshold=0.1,alive_channel={alive_channel}}}}}')
        spec = load_spec(SPEC, [prop, "pipeline.steps=[4,4]", "pipeline.eval_steps=4", "dataset.pool_size=4"])
        model, ctx = build_model(spec)
        ds = BuildContext(spec).build("dataset")
        ds.setup(model, ctx)
        return model, ctx, ds

    with pytest.raises(UserError, match=r"\[propagator.nca\] alive_channel = 3 .* set alive_channel = 7"):
        model_and_data(3)
    torch.manual_seed(0)
    model, ctx, ds = model_and_data(7)
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
    ds.training_loss(model, ds.batch("train", torch.arange(2))).backward()
    mamba = sched.stages[1]
    assert mamba.blocks[0][0].in_proj.weight.grad.abs().sum() > 0 and ctx.cell.layers[0].weight.grad.abs().sum() > 0
