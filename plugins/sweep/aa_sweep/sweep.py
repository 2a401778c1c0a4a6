"""Running a sweep: Optuna keeps the finished trials, a claims table hands out the points.

Grid: every point (cases × params × seeds) is one trial, recorded in the Optuna study when it
finishes (value: the model's ``objective`` metric). Search (``tpe`` / ``random``): Optuna's sampler
proposes a configuration; the trial runs it once per seed and its value is the mean. Finished
trials are never run again; a point whose worker died is taken over by the next worker.
"""
from __future__ import annotations

import functools
import hashlib
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import optuna

from . import results as R
from . import trial as T
from .claims import Claims, engine_for, owner_id, schema_lock
from .space import REFERENCE, Range, Space, config_of, label, point_key


@attrs.define
class Sweep:
    spec: str
    space: Space
    storage: str
    study_name: str
    folder: Path
    fixed: list[str] = attrs.field(factory=list)  # --set applied to every trial
    objective: str | None = None  # a metric key of the runs (None: the metric each run selects on)
    search: str = "grid"
    trials: int = 0  # search mode: number of configurations
    timeout_s: float | None = None
    direction: str = "maximize"  # of the objective
    reference_spec: str | None = None  # the reference row's spec (its points have case = "reference")
    reference_fixed: list[str] = attrs.field(factory=list)  # --set applied to the reference's trials

    def spec_of(self, point: dict[str, str]) -> tuple[str, list[str]]:
        """The spec and the fixed overrides of a point (the reference's own for the reference row)."""
        if point.get("case") == REFERENCE and self.reference_spec is not None:
            return self.reference_spec, self.reference_fixed
        return self.spec, self.fixed


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def open_study(sw: Sweep) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kw: dict = {"connect_args": {"timeout": 120}} if sw.storage.startswith("sqlite") else {}
    with schema_lock(sw.storage):  # two workers starting together must not both create Optuna's tables
        storage = optuna.storages.RDBStorage(sw.storage, engine_kwargs=kw)
    sampler = optuna.samplers.RandomSampler(seed=0) if sw.search == "random" else optuna.samplers.TPESampler(seed=0) if sw.search == "tpe" else None
    for attempt in range(5):
        try:
            with schema_lock(sw.storage):
                return optuna.create_study(study_name=sw.study_name, storage=storage, direction=sw.direction, sampler=sampler,  # type: ignore[arg-type]
                                           load_if_exists=True)
        except optuna.exceptions.DuplicatedStudyError:  # created by another worker at the same moment
            time.sleep(0.5 * (attempt + 1))
    return optuna.load_study(study_name=sw.study_name, storage=storage, sampler=sampler)


def _check_same_space(sw: Sweep, study: optuna.Study) -> None:
    """Refuse, before any trial runs, a sweep whose seeds, cases or values differ from those the study's trials
    were recorded with (``--study`` naming an existing study): Optuna cannot record a trial of another value space."""
    from aa_core.plugin import UserError

    ours = _all_distributions(sw.space)
    for t in study.get_trials(deepcopy=False):
        for k, dist in t.distributions.items():
            if k in ours and dist != ours[k]:
                theirs, now = (list(getattr(x, "choices", ())) for x in (dist, ours[k]))
                raise UserError(f"aa sweep: the study {sw.study_name!r} in {sw.storage} has trials recorded with {k} values "
                                f"{theirs}; this sweep has {now}. A study's seeds, cases and values cannot change once "
                                "it has trials: leave --study out (the default name follows the sweep's definition, so a changed "
                                "sweep gets a study of its own) or give another --study or --out; the old study keeps its trials.")


def _all_distributions(space: Space) -> dict:
    """The Optuna distribution of each grid key of ``space`` (seed, case, listed params)."""
    d: dict = {"seed": optuna.distributions.CategoricalDistribution([str(s) for s in space.seeds])}
    if space.cases or space.reference:
        d["case"] = optuna.distributions.CategoricalDistribution([*([REFERENCE] if space.reference else []), *space.cases])
    for k, v in space.params.items():
        if not isinstance(v, Range):
            d[k] = optuna.distributions.CategoricalDistribution(list(v))
    return d


def _distributions(space: Space, point: dict[str, str]) -> dict:
    d = _all_distributions(space)
    return {k: d[k] for k in point}


def finished_keys(study: optuna.Study) -> set[str]:
    return {t.user_attrs["key"] for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) if "key" in t.user_attrs}


def _heartbeat(claims: Claims, owners: list[str], stop: threading.Event) -> None:
    while not stop.wait(30):
        for o in owners:
            claims.beat(o)


def run_grid_worker(sw: Sweep, study: optuna.Study, claims: Claims, worker: int, report: Callable[[str], None],
                    failed: set[str]) -> int:
    """Claim and run grid points until none is left to claim; returns how many this worker ran.
    A point that failed in this process (``failed``) is not retried until the sweep is run again."""
    owner = owner_id(worker)
    points = sw.space.grid()
    ran = 0
    while True:
        done = finished_keys(study) | failed
        pending = [p for p in points if point_key(p) not in done]
        mine = next((p for p in pending if claims.try_claim(_key_hash(point_key(p)), owner)), None)
        if mine is None:
            return ran
        key = point_key(mine)
        if key in finished_keys(study):  # finished between listing and claiming
            claims.release(_key_hash(key), owner)
            continue
        folder = sw.folder / "trials" / _key_hash(key)[:16]
        spec, fixed = sw.spec_of(mine)
        try:
            res = T.run(spec, [*fixed, *sw.space.overrides(mine)], folder, sw.timeout_s,
                        started=functools.partial(claims.set_trial, _key_hash(key), owner))
        except T.Busy as exc:
            _busy(exc, key, owner, claims, failed, report)
            continue
        except T.Stopped:
            return ran
        value = R.objective_value(res, sw.objective) if res["ok"] else None
        attrs_ = {"key": key, "config": label(config_of(mine)), "seed": mine["seed"], "folder": str(folder), **{k: res[k] for k in res if k != "ok"}}
        state = optuna.trial.TrialState.COMPLETE if res["ok"] else optuna.trial.TrialState.FAIL
        study.add_trial(optuna.trial.create_trial(params=mine, distributions=_distributions(sw.space, mine), value=value,
                                                  user_attrs=attrs_, state=state))
        if not res["ok"]:
            failed.add(key)
        claims.release(_key_hash(key), owner)
        ran += 1
        n_done = len(finished_keys(study))
        status = f"{sw.objective or res.get('selected')} {value:.4f}" if res["ok"] else f"FAILED ({res.get('error') or 'exit ' + str(res['returncode'])}; log {res['log']})"
        report(f"[{n_done}/{len(points)}] {label(config_of(mine))}, seed {mine['seed']}: {status} ({res['seconds']:.0f} s)")


def _suggest(trial: optuna.Trial, space: Space) -> dict[str, str]:
    out: dict[str, str] = {}
    if space.cases:
        out["case"] = trial.suggest_categorical("case", list(space.cases))
    for k, v in space.params.items():
        if isinstance(v, Range):
            x = trial.suggest_int(k, int(v.lo), int(v.hi), log=v.log) if v.integer else trial.suggest_float(k, v.lo, v.hi, log=v.log)
            out[k] = str(x)
        else:
            out[k] = trial.suggest_categorical(k, list(v))
    return out


def run_search_worker(sw: Sweep, study: optuna.Study, claims: Claims, worker: int, report: Callable[[str], None],
                      failed: set[str]) -> int:
    """Claim search slots 0…trials−1; each slot asks the sampler for a configuration and runs every seed."""
    owner = owner_id(worker)
    ran = 0
    while True:
        done = {t.user_attrs.get("slot") for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))}
        done |= {int(f) for f in failed}
        slot = next((s for s in range(sw.trials) if s not in done and claims.try_claim(_key_hash(f"slot-{s}"), owner)), None)
        if slot is None:
            return ran
        tr = study.ask()
        config = _suggest(tr, sw.space)
        vals, runs = [], []
        for seed in sw.space.seeds:
            point = {**config, "seed": str(seed)}
            folder = sw.folder / "trials" / f"slot{slot:04d}-seed{seed}"
            try:
                res = T.run(sw.spec, [*sw.fixed, *sw.space.overrides(point)], folder, sw.timeout_s,
                            started=functools.partial(claims.set_trial, _key_hash(f"slot-{slot}"), owner))
            except T.Busy as exc:
                study.tell(tr, state=optuna.trial.TrialState.FAIL)
                _busy(exc, f"slot-{slot}", owner, claims, failed, report, str(slot))
                break
            except T.Stopped:
                return ran
            runs.append({"seed": str(seed), "folder": str(folder), **{k: res[k] for k in res if k != "ok"}})
            value = R.objective_value(res, sw.objective) if res["ok"] else None
            vals.append(math.nan if value is None else value)
        if len(runs) < len(sw.space.seeds):  # a seed's folder was busy: this slot is left for a later run
            continue
        for k, v in {"slot": slot, "config": label(config), "runs": runs}.items():
            tr.set_user_attr(k, v)
        ok = all(not math.isnan(v) for v in vals)
        study.tell(tr, sum(vals) / len(vals) if ok else None, state=None if ok else optuna.trial.TrialState.FAIL)
        if not ok:
            failed.add(str(slot))
        claims.release(_key_hash(f"slot-{slot}"), owner)
        ran += 1
        report(f"[slot {slot + 1}/{sw.trials}] {label(config)}: mean {sw.objective} over {len(vals)} seeds "
               + (f"{sum(vals) / len(vals):.4f}" if ok else "FAILED"))


def _busy(exc: Exception, key: str, owner: str, claims: Claims, failed: set[str], report: Callable[[str], None],
          mark: str | None = None) -> None:
    """A point whose folder a live trial process still writes: leave it (not run, not deleted) this time."""
    failed.add(mark if mark is not None else key)
    claims.release(_key_hash(key), owner)
    report(f"skipped: {exc}; rerun the sweep once it has ended (or stop it)")


def run(sw: Sweep, workers: int = 1, report: Callable[[str], None] = print) -> optuna.Study:
    """Run this process's share of the sweep with ``workers`` threads (each trial its own ``aa run`` process).

    However this ends (done, an exception, Ctrl-C, a SIGTERM turned into an exception by the CLI),
    the trials still running are killed with it (:func:`trial.stop_all`)."""
    T.STOP.clear()
    sw.folder.mkdir(parents=True, exist_ok=True)
    study = open_study(sw)
    _check_same_space(sw, study)
    claims = Claims(engine_for(sw.storage), sw.study_name)
    work = run_grid_worker if sw.search == "grid" else run_search_worker
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(claims, [owner_id(w) for w in range(workers)], stop), daemon=True)
    beat.start()
    lock = threading.Lock()
    failed: set[str] = set()

    def say(line: str) -> None:
        with lock:
            report(line)

    threads = [threading.Thread(target=work, args=(sw, study, claims, w, say, failed), daemon=True) for w in range(workers)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    finally:
        stop.set()
        if T.stop_all():
            for t in threads:
                t.join(5)
    return study
