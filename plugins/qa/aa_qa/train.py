"""The ``train`` task: teacher embeddings → AdamW on cosine (+ in-batch contrastive) loss.

Validation runs each epoch; the best epoch (by ``train.select_on``) is kept and early
stopping ends training after ``train.patience`` epochs without improvement. Seeded and
deterministic: the same spec and seed give the same weights and metrics.
"""
from __future__ import annotations

import copy
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from aa_core.plugin import Problem, RunInterrupted, UserError

from . import device as devices
from . import distributed, train_state
from .data import QAData, load_data
from .metrics import gold_sets, ranking_metrics, ranks
from .train_state import Progress

Embeddings = dict[str, tuple[torch.Tensor, torch.Tensor]]  # split → (questions [n, D], answers [n, D])


def embed_data(data: QAData, tokenizer, progress: bool = True) -> Embeddings:
    """Teacher embeddings of every question and reference answer (cached), in chunks with progress:
    a bar on a terminal, else a line per chunk once embedding takes more than a few seconds."""
    from tqdm.auto import tqdm

    texts: list[str] = []
    for s in ("train", "validation", "test"):
        texts += [p.question for p in data.split(s)] + [p.answer for p in data.split(s)]
    chunk = 512
    parts: list[torch.Tensor] = []
    t0 = time.perf_counter()
    with tqdm(total=len(texts), desc="teacher embeddings", unit="text", disable=not _show_progress(progress), leave=False) as bar:
        for i in range(0, len(texts), chunk):
            parts.append(tokenizer.encode(texts[i : i + chunk]))
            bar.update(len(parts[-1]))
            done = min(i + chunk, len(texts))
            if progress and bar.disable and time.perf_counter() - t0 > 3 and done < len(texts):
                print(f"teacher embeddings: {done:,}/{len(texts):,} texts ({time.perf_counter() - t0:.0f} s)", flush=True)
    vecs = torch.cat(parts) if parts else tokenizer.encode([])
    out, i = {}, 0
    for s in ("train", "validation", "test"):
        n = len(data.split(s))
        out[s] = (vecs[i : i + n], vecs[i + n : i + 2 * n])
        i += 2 * n
    return out


def load_data_once(spec, state: dict) -> QAData:
    """The spec's data, loaded and validated once per run (kept in ``state``), before anything is embedded."""
    if "data" not in state:
        if "data" not in spec.sections:
            raise UserError("this task needs a [data] section (data.path or data.train)")
        data = state["data"] = load_data(spec.sections["data"])
        if data.duplicates_removed:
            how = ("kept as alternative references" if spec.sections["data"].duplicates == "merge" else
                   'dropped; set data.duplicates = "merge" to keep them as alternative references')
            print(f"data: {data.duplicates_removed} duplicate questions removed, {data.conflicting_duplicates} of them with a "
                  f"different answer ({how})", flush=True)
    return state["data"]


def prepare(spec, state: dict) -> tuple[QAData, Embeddings]:
    """Load the data and its embeddings once per run (kept in ``state``)."""
    load_data_once(spec, state)
    if "embeddings" not in state:
        from aa_core.assemble import BuildContext

        ctx = state.get("ctx") or BuildContext(spec)
        t0 = time.perf_counter()
        state["embeddings"] = distributed.from_main(lambda: embed_data(state["data"], ctx.tokenizer, progress=spec.sections["run"].progress))  # embed once, share
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
    if hasattr(model, "validation_metrics"):  # a pipeline that validates itself (text_to_text: loss + generated answers)
        return model.validation_metrics(xv, yv, cfg)
    pred = predict(model, xv, cfg.batch_size)
    cos = F.cosine_similarity(pred, yv, dim=-1)
    out = {"val_cosine": float(cos.mean()), "val_loss": float((1 - cos).mean())}
    out.update({f"val_{k}": v for k, v in ranking_metrics(ranks(pred, yv, gold)).items()})
    return out


def _show_progress(enabled: bool) -> bool:
    return enabled and sys.stderr.isatty()


class _StopRequest:
    """SIGINT/SIGTERM set a flag; the loop finishes its step, saves and stops (main thread only)."""

    CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}  # the shell's exit codes for them

    def __init__(self, enabled: bool):
        self.signum: int | None = None
        self._old: dict[int, Any] = {}
        if enabled and threading.current_thread() is threading.main_thread():
            for sig in self.CODES:
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signum is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.signum = signum

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _finite_or_handle(loss: torch.Tensor, model: torch.nn.Module, opt, cfg, epoch: int, batch: int, p: Progress) -> bool:
    """True to take the step. A NaN/inf loss or gradient stops the run (``train.nonfinite = "stop"``)
    or skips the batch and halves the learning rate (``"skip"``). Under fp16 the gradient scaler
    handles overflowing gradients itself (it skips the step and lowers the scale)."""
    grads_ok = cfg.precision == "fp16" or all(bool(torch.isfinite(q.grad).all()) for q in model.parameters() if q.grad is not None)
    if bool(torch.isfinite(loss)) and grads_ok:
        return True
    what = "loss" if not bool(torch.isfinite(loss)) else "gradient"
    if cfg.nonfinite == "stop":
        raise UserError(f"non-finite {what} (NaN/inf) at epoch {epoch + 1}, batch {batch + 1}; training stopped and no checkpoint "
                        "with non-finite weights was written. Lower train.lr, keep train.grad_clip > 0, or set "
                        'train.nonfinite = "skip" to skip such batches and back off the learning rate')
    for group in opt.param_groups:
        group["lr"] *= 0.5
    p.skipped_batches += 1
    print(f"warning: non-finite {what} at epoch {epoch + 1}, batch {batch + 1}: batch skipped, learning rate halved", flush=True)
    return False


def train_model(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor,
                val_answers: list[str], cfg, *, progress: bool = True, desc: str = "train",
                save: Callable[..., None] | None = None, resume: Path | None = None) -> dict:
    """Train a pipeline in place (its ``training_loss`` gives each batch's loss); the best validation
    epoch's weights are restored at the end.

    ``save(progress, kind, improved, opt, sched, gen)`` is called after every epoch (``kind = "epoch"``)
    and, on SIGINT/SIGTERM, after the current step (``"step"``) before :class:`RunInterrupted` is
    raised. ``resume`` is a checkpoint folder with training state: optimizer, schedule, RNG states,
    position, early stopping and best-so-far continue exactly where they stopped.
    Under torchrun the ranks share each global batch (:mod:`aa_qa.distributed`); ``train.device``,
    ``precision`` and ``compile`` say where and how the step runs (:mod:`aa_qa.device`).
    Returns ``{"history": [...per epoch...], "best_epoch", "best", "time_s", "stopped_early"}``.
    """
    from tqdm.auto import tqdm

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dev = devices.resolve(cfg.device)
    distributed.init(dev)
    split = distributed.data_parallel(model)  # ranks split each batch (DDP) unless the lattice itself is split
    distributed.check_batch(cfg.batch_size, split)
    model.to(dev)
    x, y, xv, yv = (t.to(dev) for t in (x, y, xv, yv))
    progress = progress and distributed.is_main()
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
    p = train_state.load(resume, opt, sched, gen) if resume is not None else Progress()
    step = devices.compiled(distributed.wrap(model, dev), cfg.compile)  # DDP over ranks when launched by torchrun
    scaler = devices.scaler(dev, cfg.precision)
    writer = save if distributed.is_main() else None  # only rank 0 writes checkpoints
    if distributed.world() > 1 and resume is None:
        torch.manual_seed(cfg.seed + 7919 * distributed.rank())  # per-rank draws (e.g. fire masks); same init and order above
    gold = gold_sets(val_answers)
    bank = y if cfg.negatives == "all" else None
    sign = -1.0 if cfg.select_on == "val_loss" else 1.0
    t0 = time.perf_counter() - p.time_s
    bar = tqdm(total=total, initial=p.epoch * steps_per_epoch + p.batch, desc=desc, disable=not _show_progress(progress),
               leave=False, dynamic_ncols=True)
    stop = _StopRequest(save is not None)
    stopped_early = p.stale >= cfg.patience
    try:
        for epoch in range(p.epoch, cfg.epochs if not stopped_early else p.epoch):
            model.train()
            if p.batch == 0 or p.order is None:
                p.order, p.run_loss, p.seen, p.batch = torch.randperm(len(x), generator=gen), 0.0, 0, 0
            starts = range(0, len(x), cfg.batch_size)
            for b in range(p.batch, len(starts)):
                idx = p.order[starts[b] : starts[b] + cfg.batch_size].to(dev)
                mine, scale = distributed.share(idx, split)  # this rank's part of the global batch (all of it in one process)
                batch = {"inputs": x[idx[mine]], "targets": y[idx[mine]]}
                if bank is not None:
                    batch.update(candidates=bank, positions=idx[mine])
                elif split:  # in-batch negatives: the whole global batch's answers, as in one process
                    batch.update(candidates=y[idx], positions=mine)
                with devices.autocast(dev, cfg.precision):
                    loss = step(batch, cfg) * scale  # the pipeline says how a batch becomes a loss
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                loss = distributed.mean_over_ranks(loss)  # the global batch's loss, the same on every rank
                if _finite_or_handle(loss, model, opt, cfg, epoch, b, p):
                    if cfg.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    try:
                        scaler.step(opt)  # opt.step(), or skipped by the fp16 scaler after an overflow
                        scaler.update()
                    except RuntimeError as exc:  # e.g. Adam's step overflowing float32 with a huge learning rate
                        if "overflow" not in str(exc):
                            raise
                        raise UserError(f"non-finite update at epoch {epoch + 1}, batch {b + 1} ({exc}); training stopped and no "
                                        "checkpoint with non-finite weights was written. Lower train.lr") from None
                    p.run_loss += float(loss.detach()) * len(idx)
                    p.seen += len(idx)
                sched.step()
                p.batch = b + 1
                p.time_s = time.perf_counter() - t0
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{p.run_loss / max(p.seen, 1):.4f}", refresh=False)
                if distributed.any_rank(stop.signum is not None) and p.batch < len(starts):  # every rank stops at the same step
                    if writer is not None:
                        writer(p, "step", False, opt, sched, gen)
                    raise RunInterrupted(f"interrupted at epoch {epoch + 1}, batch {p.batch}", 143 if stop.signum is None else _StopRequest.CODES[stop.signum])
            metrics = {"epoch": epoch + 1, "train_loss": p.run_loss / max(p.seen, 1), **validate(model, xv, yv, gold, cfg)}
            p.history.append(metrics)
            bar.set_postfix(epoch=epoch + 1, loss=f"{metrics['train_loss']:.4f}", val_cos=f"{metrics['val_cosine']:.4f}", refresh=True)
            if progress and bar.disable:  # no terminal: one plain line per epoch instead of the bar
                print(f"{desc} epoch {epoch + 1}/{cfg.epochs}: loss {metrics['train_loss']:.4f}, val cosine {metrics['val_cosine']:.4f}, "
                      f"val MRR {metrics['val_mrr']:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
            score = sign * metrics[cfg.select_on]
            improved = score > p.best_score + 1e-7
            if improved:
                p.best_score, p.best_epoch, p.best_metrics = score, epoch + 1, metrics
                p.best_state = copy.deepcopy(model.state_dict())
                p.stale = 0
            else:
                p.stale += 1
            p.epoch, p.batch, p.order, p.time_s = epoch + 1, 0, None, time.perf_counter() - t0
            if writer is not None:
                writer(p, "epoch", improved, opt, sched, gen)
            if distributed.any_rank(stop.signum is not None) and p.epoch < cfg.epochs:
                raise RunInterrupted(f"interrupted after epoch {p.epoch}", 143 if stop.signum is None else _StopRequest.CODES[stop.signum])
            if p.stale >= cfg.patience:
                stopped_early = True
                break
    finally:
        stop.restore()
        bar.close()
        torch.use_deterministic_algorithms(was_det)
    if p.best_state is not None:
        model.load_state_dict(p.best_state)
    model.cpu().eval()  # what follows (checkpoints, decoders, reports) works on the CPU
    return {"history": p.history, "best_epoch": p.best_epoch, "best": p.best_metrics, "time_s": time.perf_counter() - t0,
            "stopped_early": stopped_early or len(p.history) < cfg.epochs, "skipped_batches": p.skipped_batches}


DEFAULT_DECODER = "phrase_bank"


def make_decoder(spec, ctx, data: QAData, emb: Embeddings):
    """The spec's [decoder] (default: phrase_bank), fitted on the training answers only."""
    decoder = ctx.build("decoder", default=DEFAULT_DECODER)
    if getattr(getattr(decoder, "config", None), "phrases", None):
        decoder.fit_from_file(ctx.tokenizer)
    elif getattr(decoder, "owned", False):
        pass  # a decoder inside the pipeline (text_to_text) is trained with it
    elif hasattr(decoder, "generate"):  # embedding → text: pre-trained to reconstruct training questions and answers
        from .generative import decoder_fit_data

        if spec.sections["train"].threads:
            torch.set_num_threads(spec.sections["train"].threads)
        decoder.fit(*decoder_fit_data(data, emb))
    elif hasattr(decoder, "fit"):
        decoder.fit([p.answer for p in data.train], emb["train"][1])
    return decoder


def new_run_id(spec) -> str:
    """Time plus the hash of the whole resolved spec ([train] and [data] included)."""
    from aa_core.spec import content_hash

    return f"{time.strftime('%Y%m%d-%H%M%S')}-{content_hash(spec.resolved())[:8]}"


def resume_problems(meta: dict, spec, data: QAData, allowed: list[str]) -> list[str]:
    """What differs between a resumable checkpoint and this run (model, data, training settings)."""
    from aa_core.spec import diff_specs, unstructure

    out = []
    if meta.get("model_hash") != spec.model_hash() and "model" not in allowed:
        from aa_core.host import KINDS

        lines = diff_specs({k: v for k, v in meta.get("spec", {}).items() if k in KINDS},
                           {k: v for k, v in spec.resolved().items() if k in KINDS})
        out.append("the model differs: " + ("; ".join(lines[:6]) or "model hash"))
    if meta.get("dataset_hash") != data.hash and "data" not in allowed:
        out.append(f"the data differ: dataset hash {str(meta.get('dataset_hash'))[:12]} in the checkpoint, {data.hash[:12]} now")
    saved = meta.get("hyper_parameters") or {}
    now = unstructure(spec.sections["train"])
    for key in sorted(set(saved) | set(now)):
        if saved.get(key) != now.get(key) and f"train.{key}" not in allowed and key not in ("threads", "device", "compile"):
            out.append(f"train.{key}: {saved.get(key)!r} in the checkpoint, {now.get(key)!r} now")
    return out


def run_task(spec, state: dict) -> None:
    from aa_core.assemble import build_model, count_params
    from aa_core.checkpoint import (
        component_state,
        create_run_dir,
        is_run_dir,
        load_weights,
        prune,
        read_metadata,
        resolve_checkpoint,
        save_checkpoint,
        set_pointer,
    )
    from aa_core.spec import unstructure

    tcfg, run = spec.sections["train"], spec.sections["run"]
    distributed.init(devices.resolve(tcfg.device))  # under torchrun: join the other processes (rank 0 makes the run folder)
    data = load_data_once(spec, state)  # data files present and parseable before anything is built or embedded
    torch.manual_seed(tcfg.seed)
    model, ctx = build_model(spec)
    state["ctx"] = ctx
    resume_from: Path | None = None
    if run.resume and Path(run.resume).is_dir() and not is_run_dir(run.resume) and not (Path(run.resume) / "metadata.json").is_file():
        run_dir = Path(run.resume)  # a run killed before its first checkpoint: start it again, in its own folder
        print(f"{run_dir} holds no checkpoint yet: training from the start", flush=True)
    elif run.resume:
        resume_from = resolve_checkpoint(run.resume, "last")
        meta = read_metadata(resume_from)
        problems = resume_problems(meta, spec, data, run.allow_change)
        if problems:
            raise UserError(f"cannot resume from {resume_from}: it was made with other settings (allow a change with "
                            "--allow-change KEY, e.g. --allow-change train.epochs; 'model' and 'data' allow those)",
                            [Problem("resume", m) for m in problems])
        run_dir = resume_from.parent if is_run_dir(resume_from.parent) else distributed.from_main(lambda: create_run_dir(run.checkpoint_dir, new_run_id(spec)))
    else:
        run_dir = distributed.from_main(lambda: create_run_dir(run.checkpoint_dir, new_run_id(spec)))
    state["run_id"] = run_dir.name
    data, emb = prepare(spec, state)
    decoder = make_decoder(spec, ctx, data, emb)  # fitted on training answers before training, saved with every checkpoint
    if resume_from is not None:
        from aa_core.checkpoint import load_checkpoint

        load_weights(model, load_checkpoint(resume_from).state_dict, where=str(resume_from))
        print(f"resuming from {resume_from}", flush=True)
    (x, y), (xv, yv) = emb["train"], emb["validation"]
    if getattr(model, "generative", False):  # text_to_text trains on token ids
        from .generative import prepare_ids

        (x, y), (xv, yv) = prepare_ids(spec, model, data)
    extra_json, extra_tensors = component_state(ctx)
    base_meta = {"dataset_hash": data.hash, "data_sizes": data.sizes(), "hyper_parameters": unstructure(tcfg)}

    def save(p: Progress, kind: str, improved: bool, opt, sched, gen) -> None:
        name = f"epoch-{p.epoch:04d}" if kind == "epoch" else f"step-{p.epoch + 1:04d}-{p.batch:04d}"
        folder = run_dir / name
        save_checkpoint(folder, model=model, spec=spec, extra_tensors=extra_tensors, extra_json=extra_json,
                        metadata={**base_meta, "training_time_s": p.time_s, "metrics": p.history[-1] if p.history else {},
                                  "epoch": p.epoch, "history": p.history})
        train_state.save(folder, p, opt, sched, gen)
        set_pointer(run_dir, "last", name)
        if improved:
            set_pointer(run_dir, "best", name)
        prune(run_dir)
        if kind == "step":
            print(f"saved {folder}; resume with: aa run {spec.source} --resume {run_dir}", flush=True)

    print(f"training {count_params(model):,} parameters for up to {tcfg.epochs} epochs "
          f"(batch {tcfg.batch_size}, lr {tcfg.lr}, contrastive {tcfg.contrastive_weight}); checkpoints: {run_dir}", flush=True)
    try:
        result = train_model(model, x, y, xv, yv, [p.answer for p in data.validation], tcfg, progress=run.progress,
                             desc="lattice", save=save, resume=resume_from)
    except RunInterrupted as exc:
        main = distributed.is_main()
        distributed.finish()
        if not main:
            raise SystemExit(exc.exit_code) from None
        raise RunInterrupted(f"{exc}; state saved in {run_dir}. Resume with: aa run {spec.source} --resume {run_dir}", exc.exit_code) from None
    rank = distributed.rank()
    distributed.finish()
    if rank != 0:  # rank 0 writes the final checkpoint and runs the tasks that follow (reports, answers)
        print(f"rank {rank}: training done", flush=True)
        raise SystemExit(0)
    b = result["best"]
    print(f"best epoch {result['best_epoch']}/{len(result['history'])}: val cosine {b.get('val_cosine', float('nan')):.4f}, "
          f"val recall@1 {b.get('val_recall_at_1', float('nan')):.4f} ({result['time_s']:.1f} s)", flush=True)
    from . import abstain

    generated = getattr(model, "generative", False) or hasattr(decoder, "generate")  # new text: no bank answer to abstain from
    abstention = None if generated else abstain.calibrate_model(model, ctx, decoder, xv, yv)  # the threshold aa ask / aa serve use
    save_checkpoint(run_dir / "final", model=model, spec=spec, extra_tensors=extra_tensors, extra_json=extra_json,
                    metadata={**base_meta, "training_time_s": result["time_s"], "metrics": result["best"],
                              "best_epoch": result["best_epoch"], "history": result["history"], abstain.KEY: abstention})
    set_pointer(run_dir, "best", "final")
    prune(run_dir)
    print(f"checkpoint: {run_dir}", flush=True)
    state.update({"model": model, "decoder": decoder, "checkpoint_dir": run_dir, "train_result": result})
