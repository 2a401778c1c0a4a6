"""The ``qa`` objective (the maths of Q→A) apart from the ``qa_pairs`` dataset (the data): the contract, the
loss it trains (cosine + InfoNCE; a generative pipeline's own), the metrics per split, and that Q→A trains
without the deprecated task forms."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from aa_core.conformance import build_registered, check_objective
from aa_core.protocols import Objective, ResidentConfig
from aa_core.run import TrainConfig, fit
from aa_qa.config import QALossConfig, QAPairsConfig
from aa_qa.dataset import QAPairs
from aa_qa.loss import TrainTargets, embedding_loss
from aa_qa.metrics import gold_sets, ranking_metrics, ranks
from aa_qa.objective import QAObjective
from aa_qa.train import _InMemory, train_model

METRICS = ("val_cosine", "val_loss", "val_recall_at_1", "val_recall_at_10", "val_mrr")


def test_the_registered_objective_passes_the_conformance_kit():
    objective, ctx = build_registered("objective", "qa")
    check_objective(objective)
    assert isinstance(objective, QAObjective) and isinstance(objective, Objective)
    assert objective.selection == ("val_cosine", "max") and objective.metrics == METRICS
    assert objective.loss == ctx.spec.sections["qa_loss"] and objective.settings is ctx.spec.sections["train"]


def test_the_dataset_config_declares_its_resident_teacher():
    assert isinstance(QAPairsConfig(), ResidentConfig) and QAPairsConfig().resident_bytes() > 100 << 20


def test_the_dataset_holds_no_maths():
    for name in ("training_loss", "validation_metrics", "test_metrics", "default_selection", "settings_sections", "loss", "settings"):
        assert not hasattr(QAPairs, name), name


def pairs(n: int = 12, d: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x, y = F.normalize(torch.randn(n, d, generator=g), dim=-1), F.normalize(torch.randn(n, d, generator=g), dim=-1)
    return x, y


def dataset(n: int = 12, d: int = 6) -> QAPairs:
    (x, y), (xv, yv), (xt, yt) = pairs(n, d, 0), pairs(5, d, 1), pairs(4, d, 2)
    data = _InMemory({"train": n, "validation": 5, "test": 4})
    ds = QAPairs(data, None, tensors={"train": (x, y), "validation": (xv, yv), "test": (xt, yt)},  # type: ignore[arg-type]
                 answers=["a", "b", "a", "c", "d"])
    ds.reference_answers = lambda split: ["a", "b", "a", "c", "d"] if split == "validation" else ["p", "q", "r", "p"]  # type: ignore[method-assign]
    return ds


@pytest.mark.parametrize("negatives", ["batch", "all"])
def test_training_loss_is_cosine_plus_infonce_with_the_configured_negatives(negatives):
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 6)
    ds = dataset()
    loss = QALossConfig(contrastive_weight=0.5, temperature=0.1, negatives=negatives)
    index = torch.tensor([3, 0, 7, 5])
    batch = ds.batch("train", index)
    assert isinstance(batch["train_targets"], TrainTargets) and len(batch["train_targets"]) == 12
    got = QAObjective(loss).training_loss(model, batch)
    y = ds.tensors["train"][1]
    pred = model(batch["inputs"])
    want = embedding_loss(pred, batch["targets"], loss, y, index) if negatives == "all" else embedding_loss(pred, batch["targets"], loss)
    assert float(got.detach()) == pytest.approx(float(want.detach()), abs=1e-7)


def test_data_parallel_shares_take_their_negatives_from_the_whole_global_batch():
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 6)
    ds = dataset()
    loss = QALossConfig(contrastive_weight=1.0, temperature=0.1)
    glob, share = torch.tensor([4, 9, 1, 2, 6]), torch.tensor([3, 4])
    batch = {**ds.batch("train", glob[share]), "global_index": glob, "share": share}
    got = QAObjective(loss).training_loss(model, batch)
    want = embedding_loss(model(batch["inputs"]), batch["targets"], loss, ds.tensors["train"][1][glob], share)
    assert float(got.detach()) == pytest.approx(float(want.detach()), abs=1e-7)
    with pytest.raises(Exception, match="train_targets"):  # another dataset's batch cannot give the global batch's answers
        QAObjective(loss).training_loss(model, {k: v for k, v in batch.items() if k != "train_targets"})


def test_validation_and_test_metrics_are_cosine_and_ranking_of_their_split():
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 6)
    ds, objective = dataset(), QAObjective()
    val, test = objective.validation_metrics(model, ds), objective.test_metrics(model, ds)
    assert tuple(val) == METRICS and tuple(test) == tuple(m.replace("val_", "test_") for m in METRICS)
    for split, got, prefix in (("validation", val, "val_"), ("test", test, "test_")):
        x, y = ds.tensors[split]
        with torch.no_grad():
            pred = model(x)
        cos = F.cosine_similarity(pred, y, dim=-1)
        want = {"cosine": float(cos.mean()), "loss": float((1 - cos).mean()),
                **ranking_metrics(ranks(pred, y, gold_sets(ds.reference_answers(split))))}
        assert got == pytest.approx({prefix + k: v for k, v in want.items()})


class Generative(torch.nn.Module):
    """A stand-in generative pipeline: its own token loss and validation (what the objective defers to)."""

    generative = True

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))
        self.seen: list = []

    def forward(self, ids):
        return ids.float() * self.w

    def training_loss(self, batch, settings):
        self.seen.append(settings)
        return (self(batch["inputs"]) - batch["targets"].float()).pow(2).mean()

    def example_batch(self, size, generator):
        return {"inputs": torch.zeros(size, 3, dtype=torch.long), "targets": torch.zeros(size, 3, dtype=torch.long)}

    def encode_pairs(self, questions, answers):
        raise NotImplementedError

    def generate_texts(self, questions, **kw):
        return ["" for _ in questions]

    def validation_metrics(self, inputs, targets, settings):
        return {"val_loss": float(self.training_loss({"inputs": inputs, "targets": targets}, settings)), "val_cosine": float(len(inputs))}


def test_a_generative_pipeline_trains_and_validates_on_its_own_terms():
    model, settings = Generative(), TrainConfig(batch_size=2)
    ids = torch.arange(12).view(4, 3)
    ds = QAPairs(_InMemory({"train": 4, "validation": 4, "test": 2}), None,  # type: ignore[arg-type]
                 tensors={"train": (ids, ids + 1), "validation": (ids, ids), "test": (ids[:2], ids[:2])}, answers=[""] * 4)
    objective = QAObjective(QALossConfig(contrastive_weight=1.0, negatives="all"), settings)
    batch = ds.batch("train", torch.tensor([0, 1]))
    assert float(objective.training_loss(model, batch).detach()) == pytest.approx(1.0) and model.seen == [settings]
    assert objective.validation_metrics(model, ds) == {"val_loss": 0.0, "val_cosine": 4.0}
    assert objective.test_metrics(model, ds) == {"test_loss": 0.0, "test_cosine": 2.0}


def test_in_memory_training_uses_the_objective_without_deprecation_warnings():
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 6)
    (x, y), (xv, yv) = pairs(24, 6, 0), pairs(6, 6, 1)
    cfg = TrainConfig(epochs=2, batch_size=8, threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        res = train_model(model, x, y, xv, yv, [str(i) for i in range(6)], cfg, loss=QALossConfig(contrastive_weight=0.5), progress=False)
    assert res["selected"] == "val_cosine" and res["mode"] == "max" and len(res["history"]) == 2
    assert set(METRICS) <= set(res["history"][0])
    # the same as fitting the dataset with the objective by hand
    torch.manual_seed(0)
    again = torch.nn.Linear(6, 6)
    ds = QAPairs(_InMemory({"train": 24, "validation": 6, "test": 0}), None,  # type: ignore[arg-type]
                 tensors={"train": (x, y), "validation": (xv, yv)}, answers=[str(i) for i in range(6)])
    by_hand = fit(again, ds, cfg, objective=QAObjective(QALossConfig(contrastive_weight=0.5), cfg), progress=False)
    assert by_hand["history"] == res["history"]
