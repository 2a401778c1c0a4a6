"""The ``emoji_growth`` dataset: Growing NCA (Mordvintsev et al., Distill 2020) on a rendered emoji.

The target is rendered offline from Debian's ``fonts-noto-color-emoji`` with Pillow (its bitmap
strike, 109 px), cropped to its bounding box, fitted into ``size``² (Lanczos, aspect kept) and
centred on a ``grid``² lattice (one z-plane: ``[geometry] size = [grid, grid, 1]``). Colours are
premultiplied by alpha, as in Distill. State channels: RGBA (alpha = channel 3 is the alive
channel), then hidden channels; the seed is the centre cell with alpha and hidden channels at 1.
The loss (MSE of the state's RGBA to the target, Distill's) and the metrics are the
``emoji_growth`` objective (:mod:`aa_ca.growth_objectives`, maths in :mod:`aa_ca.growth_metrics`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aa_core.plugin import UserError
from aa_core.protocols import Picture
from aa_nca.growth import GrowthDataset
from aa_nca.pool import SamplePool

from ._extras import require
from .growth_config import EmojiGrowthConfig
from .growth_metrics import rgba_losses

require("emoji", "the emoji_growth dataset (aa_ca.emoji: renders its target with Pillow)")

FONT_PATHS = ("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf", "/usr/share/fonts/noto/NotoColorEmoji.ttf")
STRIKE = 109  # the only bitmap size Noto Color Emoji carries
NO_GLYPH = "\uffff"  # a noncharacter: no font has a glyph for it, so it draws the "missing glyph" box


def find_font(path: str | None = None) -> Path | None:
    """The font to render with: ``path`` when given (None when it is no file: an explicit font never falls
    back to another), else ``$AA_EMOJI_FONT`` or the first of :data:`FONT_PATHS` that exists."""
    if path:
        return Path(path) if Path(path).is_file() else None
    for p in [os.environ.get("AA_EMOJI_FONT", "")] + list(FONT_PATHS):
        if p and Path(p).is_file():
            return Path(p)
    return None


def render_emoji(emoji: str, size: int, font: str | None = None) -> np.ndarray:
    """``[size, size, 4]`` float32 premultiplied RGBA in [0, 1] (row = y from the top, column = x)."""
    from PIL import Image, ImageDraw, ImageFont

    path = find_font(font)
    key = "[dataset] font" if font else "the font"
    if path is None and font:
        raise UserError(f"emoji_growth: [dataset] font = {font}: no such file (dataset.font); set it to a NotoColorEmoji.ttf "
                        "that exists (a relative path is relative to the spec file's folder), or remove it to use the "
                        f"installed Noto Color Emoji ({', '.join(FONT_PATHS)})")
    if path is None:
        raise UserError("emoji_growth: Noto Color Emoji is not installed (looked in "
                        f"{', '.join(FONT_PATHS)}); install it with `apt-get install fonts-noto-color-emoji` "
                        "or set [dataset] font to a NotoColorEmoji.ttf")
    try:
        ttf = ImageFont.truetype(str(path), STRIKE)
    except OSError as e:
        raise UserError(f"emoji_growth: cannot load {key} {path} as a font ({e}); set [dataset] font (dataset.font) "
                        "to a NotoColorEmoji.ttf") from None

    def draw(text: str) -> Any:
        canvas = Image.new("RGBA", (2 * STRIKE, 2 * STRIKE), (0, 0, 0, 0))
        ImageDraw.Draw(canvas).text((STRIKE // 4, STRIKE // 4), text, font=ttf, embedded_color=True)
        return canvas

    canvas = draw(emoji)
    box = canvas.getbbox()
    if box is None or canvas.tobytes() == draw(NO_GLYPH).tobytes():  # nothing drawn, or the font's "missing glyph" box
        raise UserError(f"emoji_growth: {key} {path} has no glyph for [dataset] emoji = {emoji!r} (dataset.font, dataset.emoji); "
                        "set [dataset] font to NotoColorEmoji.ttf or choose another emoji")
    img = canvas.crop(box)
    scale = size / max(img.size)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)
    out = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    out.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    a = np.asarray(out, dtype=np.float32) / 255.0
    a[..., :3] *= a[..., 3:4]
    return a


class EmojiGrowth(GrowthDataset):
    name = "emoji_growth"
    alive_channel = 3

    def __init__(self, config: EmojiGrowthConfig):
        rgba = render_emoji(config.emoji, config.size, config.font)  # [H (y), W (x), 4]
        self.source = f"emoji {config.emoji!r} rendered at {config.size}² on {config.grid}²"
        G, S = config.grid, config.size
        img = torch.zeros(G, G, 4)
        o = (G - S) // 2
        img[o : o + S, o : o + S] = torch.from_numpy(rgba)
        self.image = img  # [Y (rows), X (cols), 4], for pictures
        grid = img.permute(1, 0, 2).unsqueeze(2)  # lattice [X, Y, 1, 4]: x = column, y = row
        self.shape = (G, G, 1)
        self.channels = config.channels
        self.target = grid.reshape(-1, 4).contiguous()  # [N, 4]
        seed = torch.zeros(G * G, config.channels)
        seed[(G // 2) * G + G // 2, 3:] = 1.0
        self.seed = seed
        occupied = (grid[..., 3] > 0.1).view(G, G, 1)
        centres = occupied.nonzero()
        self.pool = SamplePool(seed, config.pool_size, self.shape, centres, float(S), config.damage,
                               tuple(config.damage_radius), config.seed)  # type: ignore[arg-type]
        self.hash = self._hash(config.emoji, config.size, config.grid, config.channels)

    def channel_layout(self) -> str:
        return f"RGBA (alpha = channel 3, the alive channel), {self.channels - 4} hidden"

    def prediction_scores(self, final: torch.Tensor) -> dict[str, float]:
        mse = float(rgba_losses(final, self.target.unsqueeze(0).to(final)).mean())
        return {"mse": mse, "loss": mse}

    def prediction(self, output: torch.Tensor, example: Any) -> dict[str, Any]:
        """The grown image: ``image`` = premultiplied RGBA in [0, 1] per pixel, nested ``[row][column][4]`` (rows
        top to bottom, as the target was rendered), and the figures against the target."""
        G = self.shape[0]
        rgba = output.detach().float()[0, :, :4].view(G, G, 4).permute(1, 0, 2).clamp(0, 1)  # lattice [X, Y] → rows [Y][X]
        return {"image": (rgba * 10_000).round().div(10_000).tolist(), "shape": [G, G, 4], **super().prediction(output, example)}

    def to_image(self, state: torch.Tensor) -> np.ndarray:
        """A state ``[N, C]`` → ``[Y, X, 3]`` RGB on white (uint8), for pictures."""
        G = self.shape[0]
        rgba = state[:, :4].detach().cpu().view(G, G, 4).permute(1, 0, 2).clamp(0, 1).numpy()
        rgb = 1.0 - rgba[..., 3:4] + rgba[..., :3]
        return (rgb.clip(0, 1) * 255).astype(np.uint8)

    def damage_site(self) -> tuple[torch.Tensor, float]:
        """A disk off the centre (an eighth of the grid right and up: 6 cells on 48²), radius a quarter of the grid
        (the test's damage, and aa inspect's)."""
        G = self.shape[0]
        return torch.tensor([G / 2 + G / 8, G / 2 - G / 8, 0.0]), 0.25 * G

    # -- PicturedDataset (aa inspect: side by side, the growth over time) ---------------------------
    def example_picture(self, index: int, split: str) -> dict[str, Picture]:
        """The start (the seed: one black cell; a pool state for ``train``) and the target, RGB on white."""
        start = self.pool.sample(torch.tensor([index]))[0] if split == "train" else self.seed
        caption = f"pool state #{index}" if split == "train" else "the seed: one alive cell"
        return {"input": Picture("image", self.to_image(start) / 255.0, caption=caption),
                "target": Picture("image", self.to_image(self.target) / 255.0, caption=f"{self.shape[0]}×{self.shape[1]}, RGB on white")}

    def prediction_picture(self, output: torch.Tensor, index: int, split: str) -> Picture:
        """The grown image (RGB on white) and its MSE to the target."""
        final = output.detach().float()
        return Picture("image", self.to_image(final[0]) / 255.0, caption=f"MSE {self.prediction_scores(final)['mse']:.4f}")


def build(config: EmojiGrowthConfig, ctx: Any) -> EmojiGrowth:
    return EmojiGrowth(config)
