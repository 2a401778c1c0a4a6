"""The ``text_to_text`` pipeline: question text → answer text, generated token by token.

question → [subword] ids ``[B, L]`` → [encoder] (CCT text encoder) → input face ``[B, F_in, C]``
written on a zero lattice → [propagator] (NCA steps, or a schedule with Mamba passes) →
output face ``[B, F_out, C]`` → [decoder] (generative: cross-attends to the output-face cell
states) → answer ids → text. ``forward`` returns the output-face states; ``training_loss`` is
the decoder's teacher-forcing cross-entropy of the answer; ``generate_texts`` answers.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aa_core.plugin import UserError

from .config import TextToTextConfig


class TextToText(nn.Module):
    generative = True  # the application trains and evaluates it on token ids and generated text
    input_cells: torch.Tensor
    output_cells: torch.Tensor

    def __init__(self, config: TextToTextConfig, ctx: Any):
        super().__init__()
        self.config = config
        self.geometry = ctx.geometry
        self.channels = ctx.cell.channels
        self.register_buffer("input_cells", self.geometry.input_cells.clone(), persistent=False)
        self.register_buffer("output_cells", self.geometry.output_cells.clone(), persistent=False)
        self.subword = ctx.build("subword", default="bpe")
        self.encoder = ctx.build("encoder", default="cct_text")
        if (self.encoder.cells, self.encoder.channels) != (len(self.input_cells), self.channels):
            raise UserError(f"[encoder] writes {self.encoder.cells} cells × {self.encoder.channels} channels but the input face "
                            f"has {len(self.input_cells)} cells × {self.channels} channels")
        self.propagator = ctx.propagator
        if "decoder" in ctx.spec.components and ctx.spec.components["decoder"][0].component.name != "generative":
            raise UserError("pipeline text_to_text needs a generative decoder: [decoder] name = \"generative\" (aa-ret)")
        self.decoder = ctx.build("decoder", default="generative", memory_dim=self.channels, memory_len=len(self.output_cells),
                                 prefix_tokens=config.memory_tokens)
        self.decoder.owned = True  # its weights are this model's; the checkpoint keeps them once
        self.teacher = ctx.tokenizer if ctx.has("tokenizer") else None
        self.train_answers: list[str] = []  # keys of the training answers (set by the application; saved)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Question ids ``[B, L]`` → output-face cell states ``[B, F_out, C]``."""
        face = self.encoder(ids)  # [B, F_in, C]
        B, C = ids.shape[0], self.channels
        state = face.new_zeros(B, self.geometry.num_cells, C).index_copy(1, self.input_cells, face)
        return self.propagator(state).index_select(1, self.output_cells)

    def training_loss(self, batch: dict[str, torch.Tensor], settings: Any) -> torch.Tensor:
        return self.decoder.loss(self(batch["inputs"]), batch["targets"])

    def example_batch(self, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        V, lo = self.subword.vocab_size, max(self.subword.pad_id, self.subword.bos_id, self.subword.eos_id) + 1
        q = torch.randint(lo, V, (size, 7), generator=generator)
        a = torch.randint(lo, V, (size, 6), generator=generator)
        a[:, 0], a[:, -1] = self.subword.bos_id, self.subword.eos_id
        return {"inputs": q, "targets": a}

    def to_extra(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return {"train_answers": self.train_answers}, {}

    def load_extra(self, extra_json: dict[str, Any], tensors: dict[str, torch.Tensor]) -> TextToText:
        self.train_answers = list(extra_json.get("train_answers", []))
        return self

    # -- text in, text out ---------------------------------------------------------------------

    def encode_pairs(self, questions: list[str], answers: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(question ids, answer ids with bos/eos) for training."""
        return (self.subword.encode(questions, max_length=self.config.question_length),
                self.subword.encode(answers, max_length=self.config.answer_length + 2, bos=True, eos=True))

    @torch.no_grad()
    def generate_ids(self, ids: torch.Tensor, batch_size: int = 64, **kw: Any) -> list[str]:
        self.eval()
        out: list[str] = []
        for i in range(0, len(ids), batch_size):
            out += self.decoder.to_texts(self.decoder.generate(self(ids[i : i + batch_size]), **kw))
        return out

    def generate_texts(self, questions: list[str], **kw: Any) -> list[str]:
        """Answers to ``questions`` with the decoder's strategy (override with ``strategy=`` …)."""
        if not questions:
            return []
        return self.generate_ids(self.subword.encode(list(questions), max_length=self.config.question_length), **kw)

    @torch.no_grad()
    def validation_metrics(self, xv: torch.Tensor, yv: torch.Tensor, cfg: Any) -> dict[str, float]:
        """Validation loss (teacher forcing); with a teacher also the cosine and ranking of generated vs
        reference answers (greedy decoding)."""
        self.eval()
        bs = getattr(cfg, "batch_size", 64)
        losses = [float(self.training_loss({"inputs": xv[i : i + bs], "targets": yv[i : i + bs]}, cfg)) * len(xv[i : i + bs])
                  for i in range(0, len(xv), bs)]
        out = {"val_loss": sum(losses) / max(len(xv), 1)}
        if self.teacher is not None and self.config.validate_generation and len(xv):
            from .ranking import gold_sets, ranking_metrics, ranks

            refs = self.subword.decode(yv)
            gen, ref = self.teacher.encode(self.generate_ids(xv, strategy="greedy")), self.teacher.encode(refs)
            out["val_cosine"] = float(F.cosine_similarity(gen, ref, dim=-1).mean())
            out.update({f"val_{k}": v for k, v in ranking_metrics(ranks(gen, ref, gold_sets(refs))).items()})
        else:
            out.update({"val_cosine": float("nan"), "val_mrr": float("nan"), "val_recall_at_1": float("nan"),
                        "val_recall_at_10": float("nan")})  # select on val_loss
        return out


def build(config: TextToTextConfig, ctx: Any) -> TextToText:
    return TextToText(config, ctx)
