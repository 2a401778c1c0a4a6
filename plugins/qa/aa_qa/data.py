"""Question→answer data: loaders (JSON Lines, JSON arrays, CSV), dedup, deterministic split, k-fold splits, hash.

A record is ``{"question": str, "answer": str | [str, ...]}``; with a list the first
answer is the reference text. Duplicates are removed by normalised question text (the
first occurrence wins). The split assigns each question by a seeded hash of its
normalised text, so it depends neither on the file order nor on the other questions.
With ``data.folds = k`` and ``data.fold = i`` every pair is pooled and fold i is the test split
(:func:`fold_splits`, the same folds as ``evaluate.folds = k``).
"""
from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from aa_core.plugin import Problem, UserError

from .ranking import normalise

SPLITS = ("train", "validation", "test")


@attrs.frozen
class Pair:
    question: str
    answer: str  # the reference answer (the first of ``answers``)
    answers: tuple[str, ...] = ()


@attrs.define
class QAData:
    """The three splits plus where they came from and a content hash."""

    train: list[Pair]
    validation: list[Pair]
    test: list[Pair]
    sources: dict[str, str]
    duplicates_removed: int = 0
    conflicting_duplicates: int = 0  # removed duplicates whose answer differed from the kept one
    overlap_removed: int = 0

    def split(self, name: str) -> list[Pair]:
        return getattr(self, name)

    @property
    def hash(self) -> str:
        blob = json.dumps({s: [[p.question, p.answer] for p in self.split(s)] for s in SPLITS}, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def sizes(self) -> dict[str, int]:
        return {s: len(self.split(s)) for s in SPLITS}


def answer_key(text: str) -> str:
    """A training answer's identity (normalised text, hashed): how generated answers are told new or reproduced."""
    return hashlib.sha1(normalise(text).encode()).hexdigest()[:16]


_FIX = 'each record needs "question" (text) and "answer" (text, or a list of texts whose first is the reference)'


def _record(obj: Any, where: str, path: Path) -> Pair:
    if not isinstance(obj, dict):
        raise UserError(f"{path}: {where}: expected an object with \"question\" and \"answer\", got {type(obj).__name__}", [Problem(where, _FIX)])
    q, a = obj.get("question"), obj.get("answer")
    if not isinstance(q, str) or not q.strip():
        raise UserError(f"{path}: {where}: key \"question\" is missing or not a non-empty text (keys there: {sorted(obj)})", [Problem(f"{where}.question", _FIX)])
    answers: tuple[str, ...]
    if isinstance(a, str):
        answers = (a,)
    elif isinstance(a, list) and a and all(isinstance(x, str) for x in a):
        answers = tuple(a)
    else:
        raise UserError(f"{path}: {where}: key \"answer\" is missing or not a text / non-empty list of texts (got {a!r:.60})", [Problem(f"{where}.answer", _FIX)])
    answers = tuple(x.strip() for x in answers)
    if not answers[0]:
        raise UserError(f"{path}: {where}: the reference answer is empty", [Problem(f"{where}.answer", _FIX)])
    return Pair(q.strip(), answers[0], answers)


def load_pairs(path: str | Path) -> list[Pair]:
    """Read every pair of one file; the format follows the extension (.jsonl, .json, .csv, .tsv)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"data file not found: {p} (relative paths in a spec are relative to the spec file's folder, --set paths to the current directory; fix data.path / data.train or pass --set data.path=FILE)")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{p}: not UTF-8 text ({exc}); save the file as UTF-8") from None
    suffix = p.suffix.lower()
    if suffix in (".csv", ".tsv"):
        pairs = _csv(text, p, "\t" if suffix == ".tsv" else ",")
    elif suffix == ".json" and text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{p}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; expected an array of {{\"question\", \"answer\"}} objects") from None
        pairs = [_record(obj, f"item {i}", p) for i, obj in enumerate(data)]
    elif suffix in (".jsonl", ".jsonlines", ".ndjson", ".json"):
        pairs = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{p}: line {n} is not valid JSON ({exc.msg}); JSON Lines needs one {{\"question\", \"answer\"}} object per line") from None
            pairs.append(_record(obj, f"line {n}", p))
    else:
        raise UserError(f"{p}: unknown data format '{suffix or '(no extension)'}'; use .jsonl (JSON Lines), .json (array or JSON Lines) or .csv/.tsv with columns question,answer")
    if not pairs:
        raise UserError(f"{p}: no question/answer pairs in the file")
    return pairs


def _csv(text: str, path: Path, delimiter: str) -> list[Pair]:
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    cols = [c.strip().lower() for c in (reader.fieldnames or [])]
    if "question" not in cols or "answer" not in cols:
        raise UserError(f"{path}: the header must name columns 'question' and 'answer' (found {reader.fieldnames}); add a header line question{delimiter}answer")
    out = []
    for n, row in enumerate(reader, 2):
        row = {k.strip().lower(): v for k, v in row.items() if k is not None}
        out.append(_record({"question": row.get("question") or "", "answer": row.get("answer") or ""}, f"row {n}", path))
    return out


def deduplicate(pairs: list[Pair], merge: bool = False) -> tuple[list[Pair], int, int]:
    """One pair per normalised question: (kept, number removed, number of those with a different answer).

    The first occurrence wins; with ``merge`` the answers of its duplicates are kept as alternative
    references (``Pair.answers``) instead of being dropped.
    """
    first: dict[str, int] = {}
    out: list[Pair] = []
    conflicting = 0
    for p in pairs:
        key = normalise(p.question)
        if key not in first:
            first[key] = len(out)
            out.append(p)
            continue
        kept = out[first[key]]
        known = {normalise(a) for a in kept.answers or (kept.answer,)}
        new = [a for a in (p.answers or (p.answer,)) if normalise(a) not in known]
        if new:
            conflicting += 1
            if merge:
                out[first[key]] = Pair(kept.question, kept.answer, tuple(kept.answers or (kept.answer,)) + tuple(new))
    return out, len(pairs) - len(out), conflicting


def _bucket(question: str, seed: int, salt: str = "") -> float:
    """A uniform number in [0, 1) fixed by (seed, salt, normalised question)."""
    h = hashlib.sha256(f"{seed}:{salt}:{normalise(question)}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def split_pairs(pairs: list[Pair], fractions: list[float], seed: int, salt: str = "") -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Deterministic train/validation/test split by hashed question; file order is kept inside each split."""
    t, v = fractions[0], fractions[0] + fractions[1]
    out: tuple[list[Pair], list[Pair], list[Pair]] = ([], [], [])
    for p in pairs:
        u = _bucket(p.question, seed, salt)
        out[0 if u < t else 1 if u < v else 2].append(p)
    return out


def fold_assignment(n: int, k: int, seed: int) -> np.ndarray:
    """Fold number of each of ``n`` items: a seeded permutation dealt round-robin into ``k`` folds."""
    out = np.empty(n, dtype=np.int64)
    out[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k
    return out


def validation_share(fractions: list[float]) -> float:
    """The validation part of what is not held out, in the ratio of ``data.split`` [train, validation, test]."""
    return fractions[1] / max(fractions[0] + fractions[1], 1e-9)


def fold_splits(n: int, k: int, seed: int, val_share: float) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(train, validation, test) item indices of each of ``k`` folds in turn, sorted: fold f of
    :func:`fold_assignment` is the test split and the rest is split into validation (``val_share`` of
    it, at least one item) and train by one seeded generator (``seed + 1``) drawn fold after fold.

    The one definition of the k-fold split: ``evaluate.folds`` (:func:`aa_qa.folds.cross_validate`) walks
    it and ``data.folds`` / ``data.fold`` (:func:`fold_data`) takes one fold of it."""
    if n < 2 * k:
        raise UserError(f"{k} folds need at least {2 * k} pairs; the data have {n}. Use fewer folds")
    fold = fold_assignment(n, k, seed)
    rng = np.random.default_rng(seed + 1)
    for f in range(k):
        test_i = np.flatnonzero(fold == f)
        rest = rng.permutation(np.flatnonzero(fold != f))
        n_val = max(1, round(val_share * len(rest)))
        yield np.sort(rest[n_val:]), np.sort(rest[:n_val]), test_i


def fold_split(n: int, k: int, fold: int, seed: int, val_share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, validation, test) item indices of fold ``fold`` of :func:`fold_splits`."""
    for f, split in enumerate(fold_splits(n, k, seed, val_share)):
        if f == fold:
            return split
    raise UserError(f"fold {fold} of {k}: the folds are 0…{k - 1}")


def all_pairs(data: QAData) -> list[Pair]:
    """Every pair, in split order (train, validation, test): what the k-fold splits deal out."""
    return data.train + data.validation + data.test


def fold_data(data: QAData, k: int, fold: int, seed: int, fractions: list[float]) -> QAData:
    """``data``'s pairs pooled and split again: fold ``fold`` of ``k`` (:func:`fold_split`) as the test split."""
    pairs = all_pairs(data)
    train_i, val_i, test_i = fold_split(len(pairs), k, fold, seed, validation_share(fractions))
    return attrs.evolve(data, train=[pairs[i] for i in train_i], validation=[pairs[i] for i in val_i], test=[pairs[i] for i in test_i],
                        sources={**data.sources, "fold": f"{fold} of {k}"})


def load_data(cfg) -> QAData:
    """Build the splits a [data] section (``DataConfig``) describes."""
    if cfg.path is not None:
        pairs, dups, conflicts = deduplicate(load_pairs(cfg.path), cfg.duplicates == "merge")
        if cfg.limit:
            pairs = pairs[: cfg.limit]
        tr, va, te = split_pairs(pairs, cfg.split, cfg.seed)
        data = QAData(tr, va, te, {"path": str(cfg.path)}, dups, conflicts)
    else:
        if cfg.train is None:
            raise UserError("[data] needs data.path (one file, split by data.split) or data.train (plus optional data.validation / data.test)")
        sources = {"train": str(cfg.train)}
        dups = conflicts = 0
        loaded: dict[str, list[Pair] | None] = {}
        for name in SPLITS:
            f = getattr(cfg, name)
            if f is None:
                loaded[name] = None
                continue
            sources[name] = str(f)
            pairs, d, c = deduplicate(load_pairs(f), cfg.duplicates == "merge")
            conflicts += c
            dups += d
            loaded[name] = pairs[: cfg.limit] if cfg.limit else pairs
        train: list[Pair] = loaded["train"] or []
        test, val = loaded["test"], loaded["validation"]
        # Missing splits are carved out of the training file with the split fractions.
        if test is None and val is None:
            train, val, test = split_pairs(train, cfg.split, cfg.seed)
        elif test is None:
            train, _, test = split_pairs(train, [1 - cfg.split[2], 0.0, cfg.split[2]], cfg.seed, "test")
        elif val is None:
            frac = cfg.split[1] / max(cfg.split[0] + cfg.split[1], 1e-12)
            train, val, _ = split_pairs(train, [1 - frac, frac, 0.0], cfg.seed, "validation")
        assert val is not None and test is not None  # every branch above fills both
        data = QAData(train, val, test, sources, dups, conflicts)
    # No question may appear in two splits (test first, then validation).
    held = {normalise(p.question) for p in data.test}
    before = len(data.train) + len(data.validation)
    data.validation = [p for p in data.validation if normalise(p.question) not in held]
    held |= {normalise(p.question) for p in data.validation}
    data.train = [p for p in data.train if normalise(p.question) not in held]
    data.overlap_removed = before - len(data.train) - len(data.validation)
    if getattr(cfg, "folds", None):  # k-fold as ordinary runs: this run's fold is the test split
        data = fold_data(data, cfg.folds, cfg.fold, cfg.seed, cfg.split)
    empty = [s for s in ("train", "test") if not data.split(s)]
    if not data.validation:
        empty.append("validation")
    if empty:
        raise UserError(f"the data split leaves {', '.join(empty)} empty (sizes {data.sizes()}); use more pairs or change data.split (now {cfg.split})")
    return data
