"""The ``train`` task: teacher embeddings → AdamW on cosine (+ in-batch contrastive) loss.

Validation runs each epoch; the best epoch (by ``train.select_on``) is kept and early
stopping ends training after ``train.patience`` epochs without improvement. Seeded and
deterministic: the same spec and seed give the same weights and metrics.
"""
from __future__ import annotations

import copy
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from aa_core.plugin import UserError
from .data import QAData, load_data
from .metrics import gold_sets, ranking_metrics, ranks

Embeddings = dict[str, tuple[torch.Tensor, torch.Tensor]]  # split → (questions [n, D], answers [n, D])


def embed_data(data: QAData, tokenizer) -> Embeddings:
    """Teacher embeddings of every question and reference answer, one batched (cached) call."""
    texts: list[str] = []
    for s in ("train", "validation", "test"):
        texts += [p.question for p in data.split(s)] + [p.answer for p in data.split(s)]
    vecs = tokenizer.encode(texts)
    out, i = {}, 0
    for s in ("train", "validation", "test"):
        n = len(data.split(s))
        out[s] = (vecs[i : i + n], vecs[i + n : i + 2 * n])
        i += 2 * n
    return out


def prepare(spec, state: dict) -> tuple[QAData, Embeddings]:
    """Load the data and its embeddings once per run (kept in ``state``)."""
    if "data" not in state:
        if "data" not in spec.sections:
            raise UserError("this task needs a [data] section (data.path or data.train)")
        state["data"] = load_data(spec.sections["data"])
    if "embeddings" not in state:
        from aa_core.assemble import BuildContext

        ctx = state.get("ctx") or BuildContext(spec)
        t0 = time.perf_counter()
        state["embeddings"] = embed_data(state["data"], ctx.tokenizer)
        sizes = state["data"].sizes()
        print(f"data: {sizes['train']} train / {sizes['validation']} validation / {sizes['test']} test pairs "
              f"(hash {state['data'].hash[:12]}), embedded in {time.perf_counter() - t0:.1f} s", flush=True)
    return state["data"], state["embeddings"]


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    if len(x) == 0:
        return x.clone()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def validate(model, xv: torch.Tensor, yv: torch.Tensor, gold: list[list[int]], cfg) -> dict[str, float]:
    pred = predict(model, xv, cfg.batch_size)
    cos = F.cosine_similarity(pred, yv, dim=-1)
    out = {"val_cosine": float(cos.mean()), "val_loss": float((1 - cos).mean())}
    out.update({f"val_{k}": v for k, v in ranking_metrics(ranks(pred, yv, gold)).items()})
    return out


def _show_progress(enabled: bool) -> bool:
    return enabled and sys.stderr.isatty()


def train_model(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor,
                val_answers: list[str], cfg, *, progress: bool = True, desc: str = "train") -> dict:
    """Train a pipeline in place (its ``training_loss`` gives each batch's loss); the best validation
    epoch's weights are restored at the end.

    Returns ``{"history": [...per epoch...], "best_epoch", "best", "time_s", "stopped_early"}``.
    """
    from tqdm.auto import tqdm

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    was_det = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, math.ceil(len(x) / cfg.batch_size))
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, (lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))) if cfg.schedule == "cosine" else (lambda s: 1.0)
    )
    gold = gold_sets(val_answers)
    bank = y if cfg.negatives == "all" else None
    sign = -1.0 if cfg.select_on == "val_loss" else 1.0
    best_score, best_state, best_epoch, best_metrics = -math.inf, None, -1, {}
    history: list[dict] = []
    t0 = time.perf_counter()
    bar = tqdm(total=total, desc=desc, disable=not _show_progress(progress), leave=False, dynamic_ncols=True)
    stale = 0
    try:
        for epoch in range(cfg.epochs):
            model.train()
            order = torch.randperm(len(x), generator=gen)
            run_loss, seen = 0.0, 0
            for i in range(0, len(x), cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                batch = {"inputs": x[idx], "targets": y[idx]}
                if bank is not None:
                    batch.update(candidates=bank, positions=idx)
                loss = model.training_loss(batch, cfg)  # the pipeline says how a batch becomes a loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                sched.step()
                run_loss += float(loss.detach()) * len(idx)
                seen += len(idx)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{run_loss / seen:.4f}", refresh=False)
            metrics = {"epoch": epoch + 1, "train_loss": run_loss / max(seen, 1), **validate(model, xv, yv, gold, cfg)}
            history.append(metrics)
            bar.set_postfix(epoch=epoch + 1, loss=f"{metrics['train_loss']:.4f}", val_cos=f"{metrics['val_cosine']:.4f}", refresh=True)
            if progress and bar.disable:  # no terminal: one plain line per epoch instead of the bar
                print(f"{desc} epoch {epoch + 1}/{cfg.epochs}: loss {metrics['train_loss']:.4f}, val cosine {metrics['val_cosine']:.4f}, "
                      f"val MRR {metrics['val_mrr']:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
            score = sign * metrics[cfg.select_on]
            if score > best_score + 1e-7:
                best_score, best_epoch, best_metrics = score, epoch + 1, metrics
                best_state = copy.deepcopy(model.state_dict())
                stale = 0
            else:
                stale += 1
                if stale >= cfg.patience:
                    break
    finally:
        bar.close()
        torch.use_deterministic_algorithms(was_det)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"history": history, "best_epoch": best_epoch, "best": best_metrics, "time_s": time.perf_counter() - t0,
            "stopped_early": len(history) < cfg.epochs}


DEFAULT_DECODER = "phrase_bank"


def make_decoder(spec, ctx, data: QAData, emb: Embeddings):
    """The spec's [decoder] (default: phrase_bank), fitted on the training answers only."""
    decoder = ctx.build("decoder", default=DEFAULT_DECODER)
    if getattr(getattr(decoder, "config", None), "phrases", None):
        decoder.fit_from_file(ctx.tokenizer)
    elif hasattr(decoder, "fit"):
        decoder.fit([p.answer for p in data.train], emb["train"][1])
    return decoder


def new_run_id(spec) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{spec.model_hash()[:8]}"


def run_task(spec, state: dict) -> None:
    from aa_core.assemble import build_model, count_params
    from aa_core.checkpoint import component_state, save_checkpoint
    from aa_core.spec import unstructure

    tcfg, run = spec.sections["train"], spec.sections["run"]
    torch.manual_seed(tcfg.seed)
    model, ctx = build_model(spec)
    state["ctx"] = ctx
    data, emb = prepare(spec, state)
    if run.resume:
        from aa_core.checkpoint import load_checkpoint, load_weights

        ckpt = load_checkpoint(run.resume)
        load_weights(model, ckpt.state_dict, where=str(run.resume))
        print(f"resumed weights from {run.resume}", flush=True)
    (x, y), (xv, yv) = emb["train"], emb["validation"]
    print(f"training {count_params(model):,} parameters for up to {tcfg.epochs} epochs "
          f"(batch {tcfg.batch_size}, lr {tcfg.lr}, contrastive {tcfg.contrastive_weight})", flush=True)
    result = train_model(model, x, y, xv, yv, [p.answer for p in data.validation], tcfg, progress=run.progress, desc="lattice")
    b = result["best"]
    print(f"best epoch {result['best_epoch']}/{len(result['history'])}: val cosine {b.get('val_cosine', float('nan')):.4f}, "
          f"val recall@1 {b.get('val_recall_at_1', float('nan')):.4f} ({result['time_s']:.1f} s)", flush=True)
    decoder = make_decoder(spec, ctx, data, emb)
    run_id = state.setdefault("run_id", new_run_id(spec))
    ckpt_dir = Path(run.checkpoint_dir) / run_id
    extra_json, extra_tensors = component_state(ctx)
    save_checkpoint(
        ckpt_dir,
        model=model,
        spec=spec,
        metadata={
            "dataset_hash": data.hash,
            "data_sizes": data.sizes(),
            "training_time_s": result["time_s"],
            "hyper_parameters": unstructure(tcfg),
            "metrics": result["best"],
            "best_epoch": result["best_epoch"],
            "history": result["history"],
        },
        extra_tensors=extra_tensors,
        extra_json=extra_json,
    )
    print(f"checkpoint: {ckpt_dir}", flush=True)
    state.update({"model": model, "decoder": decoder, "checkpoint_dir": ckpt_dir, "train_result": result})
