"""`aa inspect` on the CA suite: the classifier and growth pipelines are LatticePipelines whose pictured
roll-out is their forward, the datasets describe and picture examples and predictions, old checkpoints'
`readout.*` keys load, and real `aa run` → `aa inspect` on MNIST-1D, 1D-ARC and voxel growth (input, target
and prediction side by side; the prediction per step as a PNG strip and a GIF; voxel growth: grown,
damaged and regrown, and a voxel render)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from aa_ca.arc1d_task import Arc1D
from aa_ca.classifier_config import Arc1DConfig, DigitsConfig, Mnist1DConfig
from aa_ca.digits_task import Digits
from aa_ca.mnist1d_task import Mnist1D
from aa_ca.voxel import shared_data
from aa_core.protocols import DamagedDataset, PicturedDataset
from aa_core.run import BuildContext, build_model, validate
from aa_inspect.lattice_view import not_lattice_pipeline, trace
from aa_nca.growth import centre_cell

REPO = Path(__file__).resolve().parents[3]
ARC = REPO.parent / "shared" / "data" / "1d-arc" / "dataset"
needs_arc = pytest.mark.skipif(not ARC.is_dir(), reason=f"1D-ARC data not found at {ARC}")
needs_voxels = pytest.mark.skipif(not (shared_data() / "voxel-artefacts").is_dir(), reason="voxel-artefacts not present")


def model_of(spec: str, **pipeline):
    raw = tomllib.loads((REPO / "examples/ca" / spec).read_text())
    raw["pipeline"].update(pipeline)
    raw["run"]["tasks"] = ["check"]
    return build_model(validate(raw, spec))[0]


def forward_before_the_rename(model, inputs, mask, steps):
    """The classifier's forward as it was written before ``rollout`` shared its loop (the reference)."""
    x = inputs.to(torch.float32)
    state = model.initial_state(x)
    alive = model._scatter(mask.to(state.dtype).unsqueeze(-1), 1)
    state = state * alive
    Fin = x.shape[-1]
    fixed = model._scatter(F.pad(x, (0, model.channels - Fin)), model.channels)
    sel = torch.zeros(model.geometry.num_cells, model.channels, dtype=torch.bool)
    sel[model.in_cells[: x.shape[1]], :Fin] = True
    frames = []
    for _ in range(steps):
        state = model.propagator.step(state)
        if model.training and model.config.noise > 0:
            state = state + model.config.noise * torch.randn_like(state)
        state = torch.where(sel, fixed, state)
        state = state * alive
        frames.append(model.logits(state))
    return frames, state


def test_classifier_forward_is_unchanged_and_its_trace_is_its_forward():
    model = model_of("self_classify.toml", steps=5)  # dead cells, a clamped pixel, noise in training
    assert not_lattice_pipeline(model) == ""
    ds = Digits(DigitsConfig(pool_size=0))
    b = ds.batch("test", torch.arange(3))
    model.train()
    torch.manual_seed(0)
    frames, state = model(b["inputs"], b["mask"], trajectory=True)
    torch.manual_seed(0)
    ref_frames, ref_state = forward_before_the_rename(model, b["inputs"], b["mask"], 5)
    assert torch.equal(state, ref_state) and all(torch.equal(a, r) for a, r in zip(frames, ref_frames, strict=True))
    one = ds.batch("test", torch.tensor([1]))
    tr = trace(model, one["inputs"], one)  # eval mode, the dataset's whole batch (its mask)
    assert tr["grids"].shape[0] == 6 and tr["stepwise"]
    assert torch.equal(tr["prediction"], model(one["inputs"], one["mask"]))
    dead = ~one["mask"][0].view(8, 8)
    assert float(tr["grids"][-1][dead].abs().max()) == 0.0  # the picture keeps dead cells dead, as forward does


def test_old_readout_keys_load_into_head():
    model = model_of("mnist1d.toml")
    state = model.state_dict()
    assert {"head.weight", "head.bias"} <= set(state) and not any(k.startswith("readout.") for k in state)
    old = {k.replace("head.", "readout.", 1): v.clone() + 1.0 for k, v in state.items()}
    fresh = model_of("mnist1d.toml")
    fresh.load_state_dict(old, strict=True)
    assert torch.equal(fresh.head.weight, state["head.weight"] + 1.0) and torch.equal(fresh.head.bias, state["head.bias"] + 1.0)


def test_growth_is_a_lattice_pipeline_and_its_trace_is_its_forward():
    raw = {"geometry": {"name": "lattice", "size": [5, 5, 3]},
           "cell": {"name": "growing_nca", "perception": "learned", "channels": 6, "multiplier": 2, "hidden": [8, 8]},
           "propagator": {"name": "nca", "fire_rate": 0.5, "alive_threshold": 0.1, "alive_channel": 0},
           "pipeline": {"name": "growth", "steps": [3, 5], "eval_steps": 4}}
    model = BuildContext(validate(raw, source="<test>")).build("pipeline")
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    assert not_lattice_pipeline(model) == ""
    assert model.input_cells.tolist() == [centre_cell((5, 5, 3))] == [37]
    seed = torch.zeros(1, 75, 6)
    seed[0, 37] = 1.0
    tr = trace(model, seed)
    model.eval()
    assert tr["grids"].shape[0] == 5 and torch.equal(tr["prediction"], model(seed))


def test_mnist1d_describes_examples_and_predictions():
    ds = Mnist1D(Mnist1DConfig())
    label = int(ds.splits["test"][1][3])
    assert ds.describe(3, "test") == f"MNIST-1D test #3: class {label}"
    assert ds.describe(0, "validation").startswith("MNIST-1D val #0: class ")
    logits = torch.zeros(1, 40, 10)
    logits[..., 7] = 5.0
    assert re.fullmatch(r"predicted class 7 \(p=0\.9\d\)", ds.describe_prediction(logits))


def test_digits_describe_the_digit_and_the_agreement():
    ds = Digits(DigitsConfig(pool_size=0))
    b = ds.batch("test", torch.tensor([0]))
    alive = int(b["mask"].sum())
    assert ds.describe(0, "test") == f"digits test #0: digit {int(b['targets'][0])}, {alive} alive cells of 64"
    logits = torch.zeros(1, 64, 10)
    logits[0, :, 4] = 1.0  # every cell names 4 …
    first = int(b["mask"][0].nonzero()[0])
    logits[0, first] = torch.eye(10)[2]  # … but one alive cell names 2
    assert ds.describe_prediction(logits) == f"consensus class 4: {alive - 1} of {alive} alive cells agree ({100 * (alive - 1) / alive:.0f}%)"


@needs_arc
def test_arc1d_describes_rows_and_scores_the_prediction():
    ds = Arc1D(Arc1DConfig(path=str(ARC), task="1d_move_3p", augment="colours"))
    x, y = ds.data["test"]["colours"][0], ds.data["test"]["targets"][0]
    n = int((x >= 0).sum())
    row_in, row_out = "".join(map(str, x[:n].tolist())), "".join(map(str, y[:n].tolist()))
    assert ds.describe(0, "test") == f"1D-ARC 1d_move_3p test #0 ({ds.problems['test'][0]['name']}): input {row_in} → target {row_out}"
    right = F.one_hot(y.clamp_min(0), 10).float()[None]
    assert ds.describe_prediction(right) == f"predicted row {row_out} (exact match)"
    wrong = right.clone()
    wrong[0, 0] = torch.eye(10)[(int(y[0]) + 1) % 10]
    assert ds.describe_prediction(wrong).endswith(f"(1 of {n} cells wrong)")
    assert "recolour" in ds.describe(0, "train") and ds.describe_prediction(right).startswith("predicted row ")


PNG, GIF = b"\x89PNG\r\n\x1a\n", b"GIF89a"


def test_the_datasets_picture_examples_and_predictions():
    ds = Mnist1D(Mnist1DConfig())
    assert isinstance(ds, PicturedDataset) and not isinstance(ds, DamagedDataset)
    pics = ds.example_picture(3, "test")
    assert pics["input"].kind == "sequence" and pics["input"].data.shape == (40,)
    label = int(ds.splits["test"][1][3])
    assert pics["target"].kind == "scores" and int(pics["target"].data.argmax()) == label and pics["target"].caption == f"class {label}"
    logits = torch.zeros(1, 40, 10)
    logits[..., 7] = 5.0
    pred = ds.prediction_picture(logits, 3, "test")
    assert pred.kind == "scores" and int(pred.data.argmax()) == 7 and abs(float(pred.data.sum()) - 1) < 1e-5
    digits = Digits(DigitsConfig(pool_size=0))
    b = digits.batch("test", torch.tensor([0]))
    alive, y = b["mask"][0].view(8, 8), int(b["targets"][0])
    pics = digits.example_picture(0, "test")
    assert pics["input"].kind == "image" and pics["input"].data.shape == (8, 8)
    target = pics["target"].data
    assert pics["target"].kind == "classes" and bool((target[alive] == y).all()) and bool((target[~alive] == -1).all())
    logits = torch.zeros(1, 64, 10)
    logits[0, :, 4] = 1.0
    pred = digits.prediction_picture(logits, 0, "test")
    assert bool((pred.data[alive] == 4).all()) and bool((pred.data[~alive] == -1).all()) and pred.names[4] == "4"  # dead cells empty


@needs_arc
def test_arc1d_pictures_rows_cut_to_the_example():
    ds = Arc1D(Arc1DConfig(path=str(ARC), task="1d_move_3p"))
    x, y = ds.data["test"]["colours"][0], ds.data["test"]["targets"][0]
    n = int((x >= 0).sum())
    pics = ds.example_picture(0, "test")
    assert [pics[k].kind for k in ("input", "target")] == ["classes", "classes"] and len(pics["input"].palette) == 10
    assert pics["input"].data.tolist() == x[:n].tolist() and pics["target"].data.tolist() == y[:n].tolist()
    pred = ds.prediction_picture(F.one_hot(y.clamp_min(0), 10).float()[None], 0, "test")
    assert pred.data.tolist() == y[:n].tolist() and pred.caption.endswith(": exact")


@needs_voxels
def test_voxel_growth_pictures_voxels_with_y_up_and_damages_where_its_test_does():
    from aa_ca.growth_config import VoxelGrowthConfig
    from aa_ca.voxel import VoxelGrowth

    ds = VoxelGrowth(VoxelGrowthConfig(pool_size=2))
    assert isinstance(ds, PicturedDataset) and isinstance(ds, DamagedDataset)
    pics = ds.example_picture(0, "test")
    target = pics["target"].data
    assert target.shape == (8, 27, 8) and torch.equal(target, (ds.classes - 1).permute(0, 2, 1))  # (x, z, y): Minecraft's y up
    assert pics["target"].names[0] == "slime" and int((target >= 0).sum()) == 137  # air is empty
    seed = pics["input"].data
    assert int((seed >= 0).sum()) == 1 and pics["input"].names[int(seed.max())].startswith("seed")
    grown = torch.zeros(1, *ds.seed.shape)
    grown[0, :, : ds.num_classes] = F.one_hot(ds.classes.flatten(), ds.num_classes).float()
    pred = ds.prediction_picture(grown, 0, "test")
    assert torch.equal(pred.data, target) and pred.caption == "137 blocks, 1 − IoU 0.000"
    centre, radius = ds.damage_site()
    damaged = ds.damage(grown)
    assert radius == 0.3 * 8 and 0 < int((ds.predicted(damaged)[0] != 0).sum()) < 137  # a ball through the middle


def test_emoji_growth_pictures_rgb_images(monkeypatch):
    import numpy as np

    from aa_ca.emoji import EmojiGrowth
    from aa_ca.growth_config import EmojiGrowthConfig

    square = np.zeros((6, 6, 4), dtype=np.float32)
    square[1:5, 1:5] = [0.5, 0.2, 0.1, 1.0]
    monkeypatch.setattr("aa_ca.emoji.render_emoji", lambda *a, **k: square)
    ds = EmojiGrowth(EmojiGrowthConfig(size=6, grid=10, channels=8, pool_size=2))
    pics = ds.example_picture(0, "test")
    assert pics["input"].kind == pics["target"].kind == "image" and pics["target"].data.shape == (10, 10, 3)
    assert pics["input"].data[5, 5].tolist() == [0.0, 0.0, 0.0] and float(pics["input"].data.min()) == 0.0  # the seed: one black cell
    pred = ds.prediction_picture(torch.cat([ds.target, torch.zeros(100, 4)], 1)[None], 0, "test")
    assert np.allclose(pred.data, pics["target"].data) and pred.caption == "MSE 0.0000"
    assert float(ds.damage(ds.target[None])[0, :, 3].sum()) < float(ds.target[:, 3].sum())  # the disk cuts the square


def pictures_written(stdout: str, out: Path, *extra: str) -> dict[str, Path]:
    """The side-by-side PNG, the per-step PNG and GIF (and ``extra``) beside ``out``: printed, PNG / GIF, not empty; the GIF animated."""
    from PIL import Image

    files = {"examples": out.with_name(f"{out.stem}_examples.png"), "steps": out.with_name(f"{out.stem}_steps.png"),
             "steps animation": out.with_name(f"{out.stem}_steps.gif"), **{e: out.with_name(f"{out.stem}_{e}.png") for e in extra}}
    for label, path in files.items():
        assert f"{label}: {path}" in stdout, stdout
        assert path.read_bytes()[:8 if path.suffix == ".png" else 6] == (PNG if path.suffix == ".png" else GIF) and path.stat().st_size > 5_000
    with Image.open(files["steps animation"]) as im:
        assert im.n_frames > 1
    return files


def train_then_inspect(aa, tmp_path, spec, *sets, inspect=("--index", "0")):
    r = aa("run", str(REPO / "examples/ca" / spec), "--set", "train.steps=20", "--set", "train.eval_every=10", *sets,
           "--set", 'run.tasks=["train"]', "--set", f"run.output_dir={tmp_path}/runs", "--set", f"run.checkpoint_dir={tmp_path}/ck",
           cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    (run,) = (tmp_path / "ck").iterdir()
    out = tmp_path / "inspect.png"
    return aa("inspect", "--checkpoint", str(run), *inspect, "--out", str(out), cwd=REPO, timeout=300), out


def test_aa_inspect_pictures_an_mnist1d_run(aa, tmp_path):
    r, out = train_then_inspect(aa, tmp_path, "mnist1d.toml", "--set", "train.batch_size=8", "--set", "propagator.steps=3")
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"MNIST-1D test #0: class \d", lines[0]) and re.fullmatch(r"predicted class \d \(p=[01]\.\d\d\)", lines[1])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    from PIL import Image

    files = pictures_written(r.stdout, out)
    with Image.open(files["steps animation"]) as im:
        assert im.n_frames == 4  # steps 0 to 3


@needs_arc
def test_aa_inspect_pictures_an_arc1d_run(aa, tmp_path):
    r, out = train_then_inspect(aa, tmp_path, "arc1d.toml", "--set", f"dataset.path={ARC}", "--set", "dataset.task=1d_move_3p",
                                "--set", "train.batch_size=4", "--set", "propagator.steps=3")
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"1D-ARC 1d_move_3p test #0 \(1d_move_3p_\d+\): input (\d+) → target \d+", lines[0])
    n = len(lines[0].split("input ")[1].split(" ")[0])
    assert re.fullmatch(rf"predicted row \d{{{n}}} \((exact match|\d+ of {n} cells wrong)\)", lines[1])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pictures_written(r.stdout, out)


@needs_voxels
def test_aa_inspect_on_a_growth_run_pictures_the_seed_growing(aa, tmp_path):
    sets = ("--set", "pipeline.steps=[3,3]", "--set", "pipeline.eval_steps=3", "--set", "dataset.pool_size=8", "--set", "train.steps=2",
            "--set", "train.eval_every=2")
    r, out = train_then_inspect(aa, tmp_path, "voxel_growth.toml", *sets)
    assert r.returncode == 0, r.stderr[-3000:]  # the test split's one example is the seed, as validation's
    (run,) = (tmp_path / "ck").iterdir()
    test_lines = r.stdout.splitlines()
    r = aa("inspect", "--checkpoint", str(run), "--index", "0", "--split", "val", "--out", str(out), cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines[0].startswith("voxel_growth: the seed (one alive cell at the lattice centre) → the pattern grown toward ")
    assert re.fullmatch(r"grown pattern: iou_error [\d.e-]+, class_accuracy [\d.e-]+, loss [\d.e+-]+", lines[1])
    assert test_lines[:2] == lines[:2]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    files = pictures_written(r.stdout, out, "voxels")  # a GIF (grow, damage, regrow) and a voxel render
    with Image.open(files["steps animation"]) as im:
        assert im.n_frames == 4 + 1 + 3  # steps 0–3, the damaged state, regrowing +1…+3
    with Image.open(files["voxels"]) as im:
        assert im.size[0] > 3 * im.size[1]  # target, grown, damaged, regrown side by side
