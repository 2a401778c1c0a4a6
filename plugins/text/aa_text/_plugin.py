"""Hook implementations of aa-text (torch-free)."""
from __future__ import annotations

from pathlib import Path

from aa_core.plugin import Component, hookimpl

from .config import HybridEmbeddingConfig, TextToTextConfig


@hookimpl
def aa_components() -> list[Component]:
    return [
        Component("pipeline", "text_to_text", TextToTextConfig, "aa_text.text_to_text:build",
                  "text → subword ids → CCT encoder → lattice → generative decoder → new text"),
        Component("pipeline", "hybrid_embedding", HybridEmbeddingConfig, "aa_text.hybrid_embedding:build",
                  "embedding → adapter → lattice → adapter inverse → embedding (decoded to new text)",
                  defaults={"tokenizer": "teacher"}),  # its input is a teacher embedding unless the spec names another tokenizer
    ]


@hookimpl
def aa_architectures() -> list[Path]:
    return [Path(__file__).parent / "architectures"]
