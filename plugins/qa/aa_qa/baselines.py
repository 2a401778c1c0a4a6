"""Baselines every Q→A model must be compared with (fitted on the training split only).

Each returns test predictions ``[n, D]`` in the teacher space:
random (another test answer), mean_answer (mean training answer), identity (the question
itself), identity_offset (the question plus the mean training offset ``mean(y − x)``),
ridge (closed-form E(q)→E(a), λ chosen on validation), nearest_neighbour (the answer of the
closest training question), mlp_same_params (a one-hidden-layer MLP with the lattice's
parameter count, trained by the same loop and settings) and adapters_only (the spec's own
pipeline with the propagator replaced by :class:`FaceBypass`, same training).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aa_core.plugin import EmbeddingLoss, UserError


def random_pairs(a_test: torch.Tensor, seed: int) -> torch.Tensor:
    """Each test item gets a different test item's answer (a random cyclic derangement)."""
    n = len(a_test)
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    src = torch.empty(n, dtype=torch.long)
    src[perm] = perm.roll(-1) if n > 1 else perm
    return a_test[src]


def mean_answer(a_train: torch.Tensor, n: int) -> torch.Tensor:
    return a_train.mean(0, keepdim=True).expand(n, -1).clone()


def identity_offset(q_train: torch.Tensor, a_train: torch.Tensor, q_test: torch.Tensor) -> torch.Tensor:
    """``x + mean(y − x)`` with the mean offset taken on the training split (nothing learned)."""
    return q_test + (a_train - q_train).mean(0, keepdim=True)


def ridge_fit(x: torch.Tensor, y: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centred ridge regression: returns (W [D, D'], x_mean, y_mean); predict (x − x̄)W + ȳ."""
    xm, ym = x.double().mean(0), y.double().mean(0)
    xc, yc = x.double() - xm, y.double() - ym
    gram = xc.T @ xc + lam * torch.eye(x.shape[1], dtype=torch.float64)
    return torch.linalg.solve(gram, xc.T @ yc), xm, ym


def ridge_predict(params, x: torch.Tensor) -> torch.Tensor:
    W, xm, ym = params
    return ((x.double() - xm) @ W + ym).float()


def ridge(x, y, xv, yv, xt, lambdas: list[float]) -> tuple[torch.Tensor, dict]:
    """Ridge with λ chosen by mean validation cosine."""
    scores = {}
    for lam in lambdas:
        pv = ridge_predict(ridge_fit(x, y, lam), xv)
        scores[lam] = float(F.cosine_similarity(pv, yv, dim=-1).mean())
    best = max(lambdas, key=lambda v: (scores[v] if math.isfinite(scores[v]) else -math.inf, -v))  # a NaN score never wins
    return ridge_predict(ridge_fit(x, y, best), xt), {"lambda": best, "val_cosine_by_lambda": {str(k): v for k, v in scores.items()}}


def nearest_neighbour(q_train: torch.Tensor, a_train: torch.Tensor, q_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(answer embeddings [n, D], training indices [n]) of the most similar training question."""
    sims = F.normalize(q_test, dim=-1) @ F.normalize(q_train, dim=-1).T  # [n, M]
    idx = sims.argmax(1)
    return a_train[idx], idx


class SameParamsMLP(EmbeddingLoss, nn.Module):
    """D → H → D with GELU; H chosen so the parameter count matches a target (trained with the same loss).

    With ``residual`` (``x + net(x)``, as in residual pipelines) the output layer starts at zero, so
    the untrained model is the identity map, like a zero-initialised lattice; a random output layer
    behind a narrow hidden layer would start far from ``x`` and handicap the baseline.
    """

    def __init__(self, dim: int, hidden: int, residual: bool = False):
        super().__init__()
        self.embedding_dim = dim
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.residual = residual
        if residual:
            out = self.net[-1]
            assert isinstance(out, nn.Linear)
            nn.init.zeros_(out.weight)
            nn.init.zeros_(out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return y + x if self.residual else y


def hidden_for_params(dim: int, params: int) -> int:
    """H with H·(2D + 1) + D ≈ params (at least 1)."""
    return max(1, round((params - dim) / (2 * dim + 1)))


class FaceBypass(nn.Module):

    """A propagator without a lattice: copies the input face's states onto the output face.

    With equal face sizes cell i of the input face goes to cell i of the output face; otherwise
    output cell j takes input cell ``j · F_in // F_out``. No parameters, no cell, no steps: a
    pipeline with this propagator is its adapters alone.
    """

    src: torch.Tensor  # buffers (registered in __init__)
    dst: torch.Tensor

    def __init__(self, input_cells: torch.Tensor, output_cells: torch.Tensor):
        super().__init__()
        f_in, f_out = len(input_cells), len(output_cells)
        src = input_cells[torch.arange(f_out) * f_in // f_out]
        self.register_buffer("src", src.clone(), persistent=False)
        self.register_buffer("dst", output_cells.clone(), persistent=False)

    def forward(self, state: torch.Tensor) -> torch.Tensor:  # [B, N, C]
        return state.index_copy(1, self.dst, state.index_select(1, self.src))


def adapters_only(spec, seed: int) -> nn.Module:
    """The spec's pipeline built afresh (seed ``seed``) with its propagator replaced by :class:`FaceBypass`."""
    from aa_core.run import build_model

    torch.manual_seed(seed)
    model, _ = build_model(spec)
    if not all(hasattr(model, a) for a in ("propagator", "input_cells", "output_cells")):
        raise UserError(f"evaluate.baselines: 'adapters_only' needs a pipeline with a propagator and input/output faces "
                        f"(like direct_embedding); {type(model).__name__} has none. Remove 'adapters_only' from evaluate.baselines")
    model.propagator = FaceBypass(model.input_cells, model.output_cells)
    if hasattr(model, "cell"):
        model.cell = None  # the bypass uses no cell: its parameters must not be counted or trained
    return model


def param_breakdown(model: nn.Module) -> dict[str, int]:
    """Parameters per top-level component (``write``, ``cell``, ``propagator`` …), each counted once."""
    seen: set[int] = set()
    out: dict[str, int] = {}
    children = sorted(model.named_children(), key=lambda kv: kv[0] != "cell")  # a shared cell counts as the cell
    for name, child in children:
        fresh = [p for p in child.parameters() if id(p) not in seen]
        seen.update(id(p) for p in fresh)
        out[name] = sum(p.numel() for p in fresh)
    rest = sum(p.numel() for p in model.parameters() if id(p) not in seen)
    if rest:
        out["other"] = rest
    return out
