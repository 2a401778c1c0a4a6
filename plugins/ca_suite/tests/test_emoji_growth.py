"""emoji_growth: the offline rendering (Noto Color Emoji + Pillow), the dataset and a short `aa run`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aa_ca.emoji import EmojiGrowth, find_font, render_emoji
from aa_ca.growth_config import EmojiGrowthConfig
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
    assert ds.sample_losses(perfect, ds.target[None]).item() == 0
    assert ds.sample_losses(ds.seed[None], ds.target[None]).item() > 0.01


def test_missing_font_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("aa_ca.emoji.FONT_PATHS", (str(tmp_path / "none.ttf"),))
    monkeypatch.delenv("AA_EMOJI_FONT", raising=False)
    with pytest.raises(UserError, match="apt-get install fonts-noto-color-emoji"):
        render_emoji("🦎", 40)


@needs_font
def test_a_few_steps_through_aa_run(aa, tmp_path):
    r = aa("run", str(SPEC), "--set", "train.steps=2", "--set", "train.eval_every=2", "--set", "pipeline.steps=[3,3]",
           "--set", "pipeline.eval_steps=3", "--set", "dataset.pool_size=8", "--set", "train.batch_size=4", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    (metrics,) = tmp_path.glob("runs/*/metrics.json")
    assert {"val_mse", "val_loss"} <= set(json.loads(metrics.read_text())["history"][-1])
