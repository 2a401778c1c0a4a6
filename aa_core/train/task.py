"""The core's ``train`` task, for any task plugin: dataset + objective + model → checkpoints, ``metrics.json``.

Builds the spec's ``dataset``, ``objective`` and model, creates the run folder (or resumes one,
refusing a changed model, dataset or training setting), lets the dataset prepare (``setup``),
trains with :func:`aa_core.train.fit` and the spec's ``[callbacks]``, writes a complete checkpoint
every round, the final checkpoint (with the dataset's ``final_metadata``),
``runs/<run-id>/metrics.json`` and, with ``[train] log_every``, ``runs/<run-id>/steps.jsonl``.
Later tasks of the run (``test``, reports) find ``model`` (the selected round's weights),
``dataset``, ``objective``, ``ctx``, ``checkpoint_dir``, ``run_id`` and ``train_result`` in the state.
"""
from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from .._errors import Problem, RunInterrupted, UserError
from .._fs import finite_only, write_json, write_text
from ..protocols import FinalizingDataset, FittedDataset, SampledDataset
from . import device as devices
from . import distributed
from .config import RUNTIME_KEYS
from .loop import fit
from .objective import check_selection, objective_of, selection
from .saver import round_saver
from .state import Progress


def new_run_id(spec: Any) -> str:
    """Time plus the hash of the whole resolved spec ([train] and the task's sections included)."""
    from ..spec import content_hash

    return f"{time.strftime('%Y%m%d-%H%M%S')}-{content_hash(spec.resolved())[:8]}"


def build_dataset(spec: Any, ctx: Any) -> Any:
    """The spec's dataset component (``[dataset]``, or the default a section of the spec names)."""
    if "dataset" not in spec.components:
        raise UserError(f"{spec.source}: the train task needs a dataset: add a [dataset] table naming one "
                        "(`aa plugins` lists the installed datasets), or a section that brings one (aa-qa's [data])")
    return ctx.build("dataset")


def build_objective(spec: Any, ctx: Any, model: Any, dataset: Any) -> Any:
    """The spec's objective component (``[objective]``, or the default its dataset names), else the older
    task forms on the dataset or the pipeline (with a DeprecationWarning)."""
    objective = ctx.build("objective") if "objective" in spec.components else None
    return objective_of(model, dataset, spec.sections["train"], objective)


def settings_sections(spec: Any, dataset: Any = None) -> tuple[str, ...]:
    """The spec sections besides [train] whose values change what training computes (a resume compares
    them): those the spec's components declare (``Component(sections=...)``)."""
    declared = [s for reg, _cfg in spec.components.values() for s in reg.component.sections]
    legacy = getattr(dataset, "settings_sections", ()) if "objective" not in spec.components else ()  # the older, undeclared form
    return tuple(dict.fromkeys(("train", *declared, *legacy)))


def resume_problems(meta: dict[str, Any], spec: Any, dataset: Any, allowed: list[str]) -> list[str]:
    """What differs between a resumable checkpoint and this run (model, data, training settings)."""
    from ..host import MODEL_KINDS
    from ..spec import diff_specs

    out = []
    if meta.get("model_hash") != spec.model_hash() and "model" not in allowed:
        lines = diff_specs({k: v for k, v in meta.get("spec", {}).items() if k in MODEL_KINDS},
                           {k: v for k, v in spec.resolved().items() if k in MODEL_KINDS})
        out.append("the model differs: " + ("; ".join(lines[:6]) or "model hash"))
    if meta.get("dataset_hash") != dataset.hash and "data" not in allowed:
        out.append(f"the data differ: dataset hash {str(meta.get('dataset_hash'))[:12]} in the checkpoint, {dataset.hash[:12]} now")
    saved_spec, now_spec = meta.get("spec", {}), spec.resolved()
    if saved_spec.get("objective") != now_spec.get("objective") and "objective" in saved_spec and "objective" not in allowed:
        out.append(f"the objective differs: {saved_spec.get('objective')} in the checkpoint, {now_spec.get('objective')} now")
    saved_train = meta.get("hyper_parameters") or saved_spec.get("train", {})
    for section in settings_sections(spec, dataset):
        saved = saved_train if section == "train" else saved_spec.get(section, {})
        now = now_spec.get(section, {})
        for key in sorted(set(saved) & set(now)):
            if saved[key] != now[key] and f"{section}.{key}" not in allowed and not (section == "train" and key in RUNTIME_KEYS):
                out.append(f"{section}.{key}: {saved[key]!r} in the checkpoint, {now[key]!r} now")
    return out


def _resume_source(spec: Any, dataset: Any) -> tuple[Path | None, Path | None]:
    """(the run folder to continue, None for a new one; the checkpoint to resume from, None to start afresh)."""
    from ..checkpoint import is_run_dir, read_metadata, resolve_checkpoint

    run = spec.sections["run"]
    if not run.resume:
        return None, None
    if Path(run.resume).is_dir() and not is_run_dir(run.resume) and not (Path(run.resume) / "metadata.json").is_file():
        print(f"{run.resume} holds no checkpoint yet: training from the start", flush=True)
        return Path(run.resume), None  # a run killed before its first checkpoint: start it again, in its own folder
    resume_from = resolve_checkpoint(run.resume, "last")
    problems = resume_problems(read_metadata(resume_from), spec, dataset, run.allow_change)
    if problems:
        raise UserError(f"cannot resume from {resume_from}: it was made with other settings (allow a change with "
                        "--allow-change KEY, e.g. --allow-change train.epochs; 'model' and 'data' allow those)",
                        [Problem("resume", m) for m in problems])
    return (resume_from.parent if is_run_dir(resume_from.parent) else None), resume_from


def _claim_folder(spec: Any, existing: Path | None, need: int) -> tuple[Path, Any]:
    """Rank 0 checks the room for a checkpoint, makes the run folder (unless ``existing``) and takes its lock
    (one writer per run folder); every rank gets the folder, or the same UserError (exit 2 on every rank)."""
    from ..checkpoint import create_run_dir, lock_run, require_free_space

    run = spec.sections["run"]
    held: list[Any] = []

    def claim() -> Path:
        require_free_space(existing or run.checkpoint_dir, need)
        folder = existing or create_run_dir(run.checkpoint_dir, new_run_id(spec))
        try:
            held.append(lock_run(folder))
        except BaseException:
            if existing is None:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return folder

    return distributed.from_main(claim), (held[0] if held else None)


def _remove_if_empty(folder: Path | None) -> None:
    """Remove a run folder this run made when it holds no checkpoint (the run failed before its first save):
    only its lock and hidden leftovers, no pointer, no checkpoint folder."""
    if folder is not None and folder.is_dir() and all(p.name.startswith(".") for p in folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)


def metrics_record(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as strict JSON: every NaN/inf becomes null, and ``nonfinite`` lists where they were."""
    import math

    found: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            found.append(path)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    walk(record, "")
    out = finite_only(record)
    if found:
        out["nonfinite"] = found[:50]
    return out


def write_metrics(spec: Any, run_id: str, result: dict[str, Any], checkpoint: Path, cfg: Any, params: int) -> Path:
    """``runs/<run-id>/metrics.json``: the selected metric, the best round and the whole history (sweeps read
    it), strict JSON; with a step log also ``steps.jsonl`` (one JSON object per logged step).

    ``checkpoint`` (the final checkpoint) and ``checkpoint_dir`` (the run's checkpoint folder, what
    ``--resume`` takes) are absolute paths, valid whatever folder the file is read from; ``params``
    is the model's trainable parameter count."""
    from ..checkpoint import write_files_or_elsewhere

    metric = result["selected"]
    checkpoint = Path(checkpoint).resolve()
    record = metrics_record({
        "run_id": run_id, "spec": spec.source, "checkpoint": str(checkpoint), "checkpoint_dir": str(checkpoint.parent),
        "params": params, "selected": metric, "mode": result.get("mode") or ("max" if cfg.direction(metric) > 0 else "min"),
        "best_epoch": result["best_epoch"], "best": result["best"], "history": result["history"], "stopped_early": result["stopped_early"],
        "stop_reason": result.get("stop_reason"), "skipped_batches": result["skipped_batches"], "time_s": result["time_s"],
        "cpu_s": result.get("cpu_s"),
    })
    steps = result.get("steps") or []

    def write(stage: Path) -> dict[str, Path]:
        out = {"metrics": write_json(stage / "metrics.json", record)}
        if steps:
            out["steps"] = write_text(stage / "steps.jsonl", "".join(json.dumps(finite_only(r)) + "\n" for r in steps))
        return out

    # a full output disk: metrics.json goes beside the checkpoint instead, and exit 2 says where
    return write_files_or_elsewhere(Path(spec.sections["run"].output_dir) / run_id, write,
                                    key="run.output_dir", what="the metrics file", elsewhere=[checkpoint.parent / "metrics"])["metrics"]


def checkpoint_estimate(model: Any, dataset: Any, extra_tensors: dict[str, Any] | None = None) -> int:
    """Bytes of one checkpoint folder of this run, from its actual state: the model's weights, AdamW's moments,
    the best weights, the shuffle order of the training split, a sample pool's tensors, components' ``extra_tensors``."""
    from ..checkpoint import checkpoint_bytes

    pool = dataset.state_tensors() if isinstance(dataset, SampledDataset) else None
    return checkpoint_bytes(model, extra_tensors, examples=int(dataset.sizes().get("train", 0)), state_tensors=pool)


def trainable_params(model: Any) -> int:
    """Parameters the optimizer updates (frozen ones, ``requires_grad=False``, left out)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def run_task(spec: Any, state: dict[str, Any]) -> None:
    """Train (:func:`_train`); the run folder's lock, taken once the folder is known, is released however it ends."""
    try:
        _train(spec, state)
    except BaseException:
        _remove_if_empty(state.get("new_run_dir"))  # refused or failed before its first checkpoint: nothing half-made stays
        raise
    finally:
        state.pop("new_run_dir", None)
        lock = state.pop("run_lock", None)
        if lock is not None:
            lock.release()


def _train(spec: Any, state: dict[str, Any]) -> None:
    from ..assemble import BuildContext, build_model, count_params
    from ..checkpoint import (
        checkpoint_bytes,
        component_state,
        load_checkpoint,
        load_weights,
        prune,
        require_free_space,
        save_checkpoint,
        set_pointer,
    )
    from ..spec import unstructure

    tcfg = spec.sections["train"]
    distributed.init(devices.resolve(tcfg.device))  # under torchrun: join the other processes (rank 0 makes the run folder)
    dataset = state["dataset"] = build_dataset(spec, state.get("ctx") or BuildContext(spec))  # files read and checked first
    torch.manual_seed(tcfg.seed)
    model, ctx = build_model(spec)
    state["ctx"] = ctx
    pool = dataset if isinstance(dataset, SampledDataset) else None
    examples = int(dataset.sizes().get("train", 0))
    where = spec.sections["run"].resume or spec.sections["run"].checkpoint_dir
    distributed.from_main(lambda: require_free_space(where, checkpoint_bytes(model, examples=examples)))  # before any slow work
    existing, resume_from = _resume_source(spec, dataset)
    if existing is not None:  # the resumed folder's lock before a dataset's setup (slow): a run holding it refuses this one
        run_dir, state["run_lock"] = _claim_folder(spec, existing, checkpoint_bytes(model, examples=examples))
    with warnings.catch_warnings():
        warnings.simplefilter("always", DeprecationWarning)  # an older task form is named once per run, whatever the filters
        objective = state["objective"] = build_objective(spec, ctx, model, dataset)
    check_selection(tcfg, objective)
    callbacks = [reg.component.factory()(cfg, ctx) for reg, cfg in spec.callbacks.values()]
    if isinstance(dataset, FittedDataset):
        dataset.setup(model, ctx)  # fit tokenizers / decoders, embed texts: saved with every checkpoint
    if resume_from is not None:
        load_weights(model, load_checkpoint(resume_from).state_dict, where=str(resume_from))
    extra_json, extra_tensors = component_state(ctx)
    need = checkpoint_estimate(model, dataset, extra_tensors)
    if existing is None:  # a new run folder, made only now that the checks before training have passed
        run_dir, state["run_lock"] = _claim_folder(spec, None, need)
        if distributed.is_main():
            state["new_run_dir"] = run_dir  # removed again if the run fails before its first checkpoint
    else:  # room for one more checkpoint with all its state, or exit 2 before training
        distributed.from_main(lambda: require_free_space(run_dir, need))
    if resume_from is not None:
        print(f"resuming from {resume_from}", flush=True)
    state["run_id"] = run_dir.name
    base_meta = {"dataset_hash": dataset.hash, "data_sizes": dataset.sizes(), "hyper_parameters": unstructure(tcfg)}
    hint = spec.command(*(["--nproc", str(distributed.world())] if distributed.world() > 1 else []), "--resume", str(run_dir))

    write_round = round_saver(run_dir, model, spec, pool=pool, extra_tensors=extra_tensors, extra_json=extra_json,
                              metadata=lambda p: {**base_meta, "training_time_s": p.time_s, "metrics": p.history[-1] if p.history else {},
                                                  "epoch": p.epoch, "history": p.history})

    def save(p: Progress, kind: str, improved: bool, opt: Any, sched: Any, gen: torch.Generator) -> None:
        folder = write_round(p, kind, improved, opt, sched, gen)
        if kind == "step":
            print(f"saved {folder}; resume with: {hint}", flush=True)

    metric, _ = selection(tcfg, objective)
    length = f"{tcfg.steps} steps" if tcfg.steps else f"up to {tcfg.epochs} epochs"
    print(f"training {count_params(model):,} parameters for {length} (batch {tcfg.batch_size}, lr {tcfg.lr}, "
          f"selecting on {metric}); checkpoints: {run_dir}", flush=True)
    try:
        result = fit(model, dataset, tcfg, objective=objective, callbacks=callbacks, progress=spec.sections["run"].progress,
                     desc="lattice", save=save, resume=resume_from)
    except RunInterrupted as exc:
        main = distributed.is_main()
        distributed.finish()
        if not main:
            raise SystemExit(exc.exit_code) from None
        raise RunInterrupted(f"{exc}; state saved in {run_dir}. Resume with: {hint}", exc.exit_code) from None
    rank = distributed.rank()
    distributed.finish()
    if rank != 0:  # rank 0 writes the final checkpoint and runs the tasks that follow (reports, answers)
        print(f"rank {rank}: training done", flush=True)
        raise SystemExit(0)
    b = result["best"]
    shown = ", ".join(f"{k} {v:.4f}" for k, v in b.items() if k.startswith("val_") and isinstance(v, float))
    if result.get("stop_reason"):
        print(f"training stopped: {result['stop_reason']}", flush=True)
    print(f"best epoch {result['best_epoch']}/{len(result['history'])}: {shown} ({result['time_s']:.1f} s)", flush=True)
    final_meta = dataset.final_metadata(model, ctx) if isinstance(dataset, FinalizingDataset) else {}
    save_checkpoint(run_dir / "final", model=model, spec=spec, extra_tensors=extra_tensors, extra_json=extra_json,
                    metadata={**base_meta, "training_time_s": result["time_s"], "metrics": result["best"],
                              "best_epoch": result["best_epoch"], "history": result["history"], **final_meta})
    set_pointer(run_dir, "best", "final")
    prune(run_dir)
    write_metrics(spec, run_dir.name, result, run_dir / "final", tcfg, trainable_params(model))
    print(f"checkpoint: {run_dir}", flush=True)
    state.update({"model": model, "checkpoint_dir": run_dir, "train_result": result})


def train_bytes(spec: Any, model: Any, ctx: Any) -> int:
    """Peak memory of training: one step at ``train.batch_size`` (activations of every step kept for
    backward) plus what the dataset keeps resident (a :class:`~aa_core.protocols.ResidentConfig`'s
    ``resident_bytes()``, e.g. a teacher model)."""
    from ..assemble import training_bytes
    from ..protocols import ResidentConfig

    cfg = spec.components["dataset"][1] if "dataset" in spec.components else None
    extra = int(cfg.resident_bytes()) if isinstance(cfg, ResidentConfig) else 0
    return int(training_bytes(model, ctx, spec.sections["train"].batch_size)) + extra
