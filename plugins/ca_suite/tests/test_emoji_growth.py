"""emoji_growth: the offline rendering (Noto Color Emoji + Pillow), the dataset, its objective and report
pictures (on a stand-in target where the font is missing) and a short `aa run`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aa_ca.emoji import EmojiGrowth, find_font, render_emoji
from aa_ca.growth_config import EmojiGrowthConfig
from aa_ca.growth_metrics import rgba_losses
from aa_core.plugin import UserError

SPEC = Path(__file__).resolve().parents[3] / "examples" / "ca" / "emoji_growth.toml"
needs_font = pytest.mark.skipif(find_font() is None, reason="fonts-noto-color-emoji not installed")


@needs_font
def test_render_is_premultiplied_rgba_that_fills_the_box():
    a = render_emoji("🦎", 40)
    assert a.shape == (40, 40, 4) and a.dtype.name == "float32"
    alpha = a[..., 3]
    assert 0.2 < (alpha > 0.1).mean() < 0.9 and alpha.max() == 1.0
    assert (a[..., :3] <= alpha[..., None] + 1e-6).all()  # premultiplied
    rows, cols = (alpha > 0.1).any(1).nonzero()[0], (alpha > 0.1).any(0).nonzero()[0]
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) >= 36  # fitted to the 40-cell box


@needs_font
def test_dataset_centres_the_target_and_seeds_alpha():
    ds = EmojiGrowth(EmojiGrowthConfig(pool_size=2))
    assert ds.shape == (48, 48, 1) and ds.target.shape == (48 * 48, 4)
    t = ds.target.view(48, 48, 4)
    assert t[:4].abs().sum() == 0 and t[44:].abs().sum() == 0  # a 4-cell empty border
    assert ds.seed[:, 3].sum() == 1 and ds.seed[:, :3].sum() == 0
    perfect = torch.cat([ds.target, torch.zeros(48 * 48, 12)], 1)[None]
    assert rgba_losses(perfect, ds.target[None]).item() == 0
    assert rgba_losses(ds.seed[None], ds.target[None]).item() > 0.01


def test_missing_font_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("aa_ca.emoji.FONT_PATHS", (str(tmp_path / "none.ttf"),))
    monkeypatch.delenv("AA_EMOJI_FONT", raising=False)
    with pytest.raises(UserError, match="apt-get install fonts-noto-color-emoji"):
        render_emoji("🦎", 40)


def test_objective_and_report_pictures_on_a_stand_in_target(monkeypatch, tmp_path):
    """The emoji_growth objective's figures and the ca_report pictures, on a 6² square for the emoji (no font needed)."""
    import numpy as np

    from aa_ca.growth_objectives import EmojiGrowthObjective
    from aa_ca.report import growth_pictures
    from aa_core.run import build_model, load_spec
    from aa_nca.objective import TEST_SEED

    square = np.zeros((6, 6, 4), dtype=np.float32)
    square[1:5, 1:5] = [0.5, 0.2, 0.1, 1.0]
    monkeypatch.setattr("aa_ca.emoji.render_emoji", lambda emoji, size, font=None: square)
    spec = load_spec(SPEC, ["dataset.size=6", "dataset.grid=10", "dataset.pool_size=4", "geometry.size=[10,10,1]", "cell.hidden=[16]",
                            "pipeline.steps=[8,8]", "pipeline.eval_steps=8", "objective.persist_steps=4"])
    torch.manual_seed(0)
    model, ctx = build_model(spec)
    ds, obj = ctx.build("dataset"), ctx.build("objective")
    ds.setup(model, ctx)
    assert isinstance(obj, EmojiGrowthObjective) and obj.selection == ("val_loss", "min")
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
    val = obj.validation_metrics(model, ds)
    assert list(val) == ["val_mse", "val_loss"] and val["val_mse"] == val["val_loss"]
    test = obj.test_metrics(model, ds)
    assert set(test) == {"test_mse", "test_grown_mse", "test_persisted_mse", "test_damaged_mse", "test_regrown_mse"}
    assert test["test_mse"] == test["test_grown_mse"] == float(rgba_losses(ds.grow_from_seed(model, batch=4, seed=TEST_SEED), ds.target[None]).mean())
    assert growth_pictures(model, ds, obj, tmp_path) == ["emoji_growth.png", "emoji_summary.png"]
    for name in ("emoji_growth.png", "emoji_summary.png", "emoji_growth.gif", "emoji_summary.gif"):
        assert (tmp_path / name).stat().st_size > 100


@needs_font
def test_a_few_steps_through_aa_run(aa, tmp_path):
    r = aa("run", str(SPEC), "--set", "train.steps=2", "--set", "train.eval_every=2", "--set", "pipeline.steps=[3,3]",
           "--set", "pipeline.eval_steps=3", "--set", "dataset.pool_size=8", "--set", "train.batch_size=4", "--set", "train.log_every=1",
           "--set", "objective.persist_steps=3", "--set", 'run.tasks=["train","test","ca_report"]', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "DeprecationWarning" not in r.stderr
    (metrics,) = tmp_path.glob("runs/*/metrics.json")
    m = json.loads(metrics.read_text())
    assert {"val_mse", "val_loss"} <= set(m["history"][-1]) and {"test_mse", "test_regrown_mse"} <= set(m["test"])
    assert len((metrics.parent / "steps.jsonl").read_text().splitlines()) == 2
    assert (metrics.parent / "emoji_summary.gif").stat().st_size > 100
