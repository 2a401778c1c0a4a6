"""The Q→A objective (``objective = "qa"``, the ``qa_pairs`` dataset's default): the maths of the task.

- ``training_loss``: ``[qa_loss]``'s cosine + InfoNCE on the predicted answer embedding (negatives:
  the batch's answers, the whole global batch's under data-parallel training, or every training
  answer), plus the components' auxiliary losses. A generative pipeline (aa-text's ``text_to_text``)
  is trained on its own token loss (the Pipeline contract's ``training_loss``).
- ``validation_metrics`` / ``test_metrics``: cosine to the reference answer, ``1 − cosine`` as the
  loss, and the rank of the reference among the split's answers (recall@1, recall@10, MRR); a
  generative pipeline validates itself (teacher-forcing loss, and the generated answers' teacher
  cosine and ranking). ``selection``: ``val_cosine``, higher is better.

It reads the ``qa_pairs`` dataset's tensors and reference answers (:class:`aa_qa.dataset.QAPairs`,
or any dataset with ``tensors[split]`` and ``reference_answers(split)``).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from aa_core.plugin import UserError
from aa_core.protocols import GenerativePipeline
from aa_core.run import Objective, aux_losses

from .config import QALossConfig
from .loss import TrainTargets, embedding_loss
from .metrics import gold_sets, ranking_metrics, ranks
from .prep import predict

METRICS = ("cosine", "loss", "recall_at_1", "recall_at_10", "mrr")


class QAObjective(Objective):
    """Cosine + InfoNCE (``loss``: a ``[qa_loss]`` config) and the Q→A metrics; ``settings`` (a ``[train]``
    config) gives the batch size of the metrics' forward passes and is what a generative pipeline's own
    loss and validation are given."""

    selection = ("val_cosine", "max")
    metrics = tuple(f"val_{m}" for m in METRICS)

    def __init__(self, loss: Any = None, settings: Any = None):
        self.loss = loss if loss is not None else QALossConfig()
        self.settings = settings

    def training_loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        if isinstance(model, GenerativePipeline):
            return model.training_loss(batch, self.settings)  # type: ignore[operator]  # its own token loss
        targets = batch["targets"]
        candidates = positions = None
        if self.loss.negatives == "all":
            candidates, positions = self._train_targets(batch).all(targets.device), batch["index"]
        elif "global_index" in batch:  # in-batch negatives: the whole global batch's answers, as in one process
            candidates, positions = self._train_targets(batch).take(batch["global_index"], targets.device), batch["share"]
        pred = model(batch["inputs"])
        return embedding_loss(pred, targets, self.loss, candidates, positions) + aux_losses(model)

    @staticmethod
    def _train_targets(batch: dict[str, Any]) -> TrainTargets:
        found = batch.get("train_targets")
        if not isinstance(found, TrainTargets):
            raise UserError("the qa objective's InfoNCE negatives beyond the batch (qa_loss.negatives = \"all\", or data-parallel "
                            "training) need every training answer: a training batch of the qa_pairs dataset carries them "
                            "(batch[\"train_targets\"]); this dataset's batches do not")
        return found

    @torch.no_grad()
    def split_metrics(self, model: torch.nn.Module, data: Any, split: str) -> dict[str, float]:
        x, y = data.tensors[split]
        device = next((q.device for q in model.parameters()), torch.device("cpu"))
        x, y = x.to(device), y.to(device)
        if isinstance(model, GenerativePipeline):  # it validates itself (text_to_text: loss + generated answers)
            return {k.removeprefix("val_"): v for k, v in model.validation_metrics(x, y, self.settings).items()}
        pred = predict(model, x, getattr(self.settings, "batch_size", 256))
        cos = F.cosine_similarity(pred, y, dim=-1)
        out = {"cosine": float(cos.mean()), "loss": float((1 - cos).mean())}
        out.update(ranking_metrics(ranks(pred, y, gold_sets(data.reference_answers(split)))))
        return out


def build(config: Any, ctx: Any) -> QAObjective:
    """The spec's objective: ``[qa_loss]`` weights, ``[train]`` batch size."""
    return QAObjective(ctx.spec.sections["qa_loss"], ctx.spec.sections["train"])
