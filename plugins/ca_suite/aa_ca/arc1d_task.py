"""The ``arc1d`` dataset: one task of 1D-ARC (Xu et al., TMLR 2024), read from any folder.

A task folder holds one JSON file per problem (3 train pairs + 1 test pair; a grid is one row
of colours 0–9). The problems are split into ``folds`` folds by a fixed permutation: fold
``fold`` is the test split, ``validation`` of the others are validation problems, the rest train.
Every pair of a training problem is a training example; validation scores all pairs of the
validation problems; test scores the test pair of each test problem (exact match of the whole
row, as CAX Table 2). One NCA per task learns the task's rule from its training problems and
applies it to unseen problems (the test pair's own train pairs are not shown to it).

Batches: ``inputs [B, L, 10]`` (one-hot colours, zero beyond a row's end), ``mask [B, L]`` (the
row's cells: cells beyond it stay dead), ``targets [B, L]`` (colours, −100 beyond the row). The
maths (per-cell cross-entropy, exact match) is the ``arc1d_rows`` objective (:mod:`aa_ca.arc1d_objective`).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from aa_core.plugin import UserError, did_you_mean
from aa_core.protocols import Picture

from .classifier_config import Arc1DConfig, lattice_cells

COLOURS = 10
IGNORE = -100
# ARC's colours 0–9 (black, blue, red, green, yellow, grey, magenta, orange, sky, maroon), for pictures
PALETTE = ("#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25")


def task_names(root: str | Path) -> list[str]:
    """The task folders under a 1D-ARC dataset folder."""
    return sorted(p.name for p in Path(root).iterdir() if p.is_dir())


def _problem_key(p: Path) -> tuple[int, str]:
    m = re.search(r"_(\d+)$", p.stem)
    return (int(m.group(1)) if m else 1 << 30, p.stem)


def _row(grid: Any, f: Path, where: str) -> list[int]:
    """The one row of a 1D-ARC grid (``[[c, c, ...]]``, colours 0–9), or a UserError naming the file, the pair and what is wrong."""
    problem = None
    if not isinstance(grid, list) or not all(isinstance(r, list) for r in grid):
        problem = f"is {json.dumps(grid)[:40]}, not a list of rows"
    elif not grid:
        problem = "is an empty grid ([])"
    elif len(grid) > 1:
        lengths = sorted({len(r) for r in grid})
        problem = (f"has {len(grid)} rows" + (f" of different lengths ({', '.join(map(str, lengths))})" if len(lengths) > 1 else "")
                   + " (it would be cut to its first row)")
    elif not grid[0]:
        problem = "is an empty row"
    else:
        bad = next(((i, v) for i, v in enumerate(grid[0]) if type(v) is not int or not 0 <= v < COLOURS), None)
        if bad is not None:
            problem = f"has {json.dumps(bad[1])} at cell {bad[0]}, not a colour (an integer 0–9)"
    if problem is not None:
        raise UserError(f"{f}: {where} {problem}; a 1D-ARC grid is one row of colours 0–9, e.g. [[0, 3, 3, 0]] "
                        "(fix or remove the file)")
    return grid[0]


def load_task(root: str | Path, task: str) -> list[dict[str, Any]]:
    """The problems of ``task`` in problem-number order: ``{"name", "pairs": [(input, output), ...4]}`` (last = test)."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"dataset.path: the 1D-ARC folder {root} does not exist; point dataset.path at the dataset/ folder "
                        "of 1D-ARC (e.g. ../shared/data/1d-arc/dataset, or --set dataset.path=...)")
    folder = root / task
    if not folder.is_dir():
        names = task_names(root)
        raise UserError(f"dataset.task: no task {task!r} in {root}{did_you_mean(task, names)}; tasks there: {', '.join(names)}")
    problems = []
    for f in sorted(folder.glob("*.json"), key=_problem_key):
        try:
            data = json.loads(f.read_text())
            grids = [(f"train pair {i + 1}", p["input"], p["output"]) for i, p in enumerate(data["train"])]
            grids.append(("the test pair", data["test"][0]["input"], data["test"][0]["output"]))
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise UserError(f"{f}: not a 1D-ARC problem ({exc}); expected {{\"train\": [{{\"input\": [[...]], \"output\": [[...]]}}, ...], "
                            "\"test\": [...]}") from None
        pairs = []
        for pair, a, b in grids:
            a, b = _row(a, f, f"{pair}'s input"), _row(b, f, f"{pair}'s output")
            if len(a) != len(b):
                raise UserError(f"{f}: {pair}'s input has {len(a)} cells but its output {len(b)}; a pair's input and output "
                                "are rows of equal length (fix or remove the file)")
            pairs.append((a, b))
        problems.append({"name": f.stem, "pairs": pairs})
    if not problems:
        raise UserError(f"dataset.task: {folder} holds no problem files (*.json)")
    return problems


def encode(pairs: list[tuple[list[int], list[int]]], length: int) -> dict[str, torch.Tensor]:
    n = len(pairs)
    x = torch.full((n, length), -1, dtype=torch.long)
    y = torch.full((n, length), IGNORE, dtype=torch.long)
    for i, (a, b) in enumerate(pairs):
        x[i, : len(a)] = torch.tensor(a)
        y[i, : len(b)] = torch.tensor(b)
    return {"colours": x, "targets": y}


def row(colours: torch.Tensor) -> str:
    """A row of colours 0–9 as digits, e.g. ``0033300``."""
    return "".join(str(int(c)) for c in colours)


class Arc1D:
    def __init__(self, config: Arc1DConfig):
        self.config = config
        problems = load_task(config.path or "", config.task)
        if len(problems) < config.folds:
            raise UserError(f"dataset.folds = {config.folds} exceeds the {len(problems)} problems of {config.task}")
        perm = np.random.default_rng(config.split_seed).permutation(len(problems))
        demonstrations = config.protocol == "demonstrations"
        if demonstrations:  # CAX's protocol: every problem's demonstrations train, every problem's test pair scores
            test, rest = perm, perm
        else:
            folds = np.array_split(perm, config.folds)
            test = folds[config.fold]
            rest = np.concatenate([f for i, f in enumerate(folds) if i != config.fold])
        if config.validation >= len(rest):
            raise UserError(f"dataset.validation = {config.validation} leaves no training problems ({len(rest)} outside the test fold)")
        val, train = rest[: config.validation], rest[config.validation:]
        self.problems = {"train": [problems[i] for i in train], "validation": [problems[i] for i in val],
                         "test": [problems[i] for i in test]}
        self.length = max(len(a) for p in problems for a, _ in p["pairs"])
        shown = slice(0, -1) if demonstrations else slice(None)  # the test pair of a scored problem is never trained on
        self.data = {
            "train": encode([pr for p in self.problems["train"] for pr in p["pairs"][shown]], self.length),
            "validation": encode([pr for p in self.problems["validation"] for pr in p["pairs"][shown]], self.length),
            "test": encode([p["pairs"][-1] for p in self.problems["test"]], self.length),
        }
        h = hashlib.sha256(json.dumps({k: [p["name"] for p in v] for k, v in self.problems.items()}).encode())
        for split in ("train", "validation", "test"):
            h.update(self.data[split]["colours"].numpy().tobytes())
            h.update(self.data[split]["targets"].numpy().tobytes())
        self.hash = h.hexdigest()[:16]
        self.described: tuple[int, torch.Tensor | None] | None = None  # (row length, target) of the example last described

    def sizes(self) -> dict[str, int]:
        return {k: len(v["colours"]) for k, v in self.data.items()}

    def batch(self, split: str, index: torch.Tensor) -> dict[str, Any]:
        x = self.data[split]["colours"][index]
        y = self.data[split]["targets"][index]
        if split == "train" and self.config.augment == "colours":
            perm = torch.cat([torch.zeros(len(index), 1, dtype=torch.long),
                              torch.argsort(torch.rand(len(index), COLOURS - 1), dim=1) + 1], dim=1)  # [B, 10]: 0 stays 0
            x = torch.where(x >= 0, perm.gather(1, x.clamp_min(0)), x)
            y = torch.where(y >= 0, perm.gather(1, y.clamp_min(0)), y)
        mask = x >= 0
        inputs = F.one_hot(x.clamp_min(0), COLOURS).float() * mask[..., None]
        return {"inputs": inputs, "mask": mask, "targets": y}

    # ---- DescribedDataset (aa inspect) -----------------------------------------------------------
    def problem_of(self, split: str, index: int) -> str:
        """The name of the problem that example ``index`` of ``split`` comes from."""
        if split == "test":
            return self.problems["test"][index]["name"]
        for p in self.problems[split]:
            if index < len(p["pairs"]):
                return p["name"]
            index -= len(p["pairs"])
        raise IndexError(index)

    def describe(self, index: int, split: str) -> str:
        """The input and target rows of example ``index`` as colour digits; the row is kept for :meth:`describe_prediction`."""
        x, y = self.data[split]["colours"][index], self.data[split]["targets"][index]
        n = int((x >= 0).sum())
        recoloured = split == "train" and self.config.augment == "colours"
        self.described = (n, None if recoloured else y[:n])
        note = " (training batches recolour it at random)" if recoloured else ""
        name = "val" if split == "validation" else split
        return (f"1D-ARC {self.config.task} {name} #{index} ({self.problem_of(split, index)}): "
                f"input {row(x[:n])} → target {row(y[:n])}{note}")

    def describe_prediction(self, output: torch.Tensor) -> str:
        """The predicted row (the most likely colour of each cell of the example last described; without
        one, of the whole line) and how many cells differ from its target."""
        pred = output.detach()[0, : self.length].argmax(-1)
        if self.described is None:
            return f"predicted line {row(pred)}"
        n, target = self.described
        pred = pred[:n]
        if target is None:
            return f"predicted row {row(pred)}"
        wrong = int((pred != target).sum())
        return f"predicted row {row(pred)} ({'exact match' if wrong == 0 else f'{wrong} of {n} cells wrong'})"

    # ---- PicturedDataset (aa inspect: input, target and prediction side by side) -----------------
    def _cells(self, split: str, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The input and target colours of example ``index``, cut to its row."""
        x, y = self.data[split]["colours"][index], self.data[split]["targets"][index]
        n = int((x >= 0).sum())
        return x[:n], y[:n]

    def example_picture(self, index: int, split: str) -> dict[str, Picture]:
        """The input and target rows in ARC's colours."""
        x, y = self._cells(split, index)
        return {"input": Picture("classes", x, caption=row(x), palette=PALETTE),
                "target": Picture("classes", y, caption=row(y), palette=PALETTE)}

    def prediction_picture(self, output: torch.Tensor, index: int, split: str) -> Picture:
        """The most likely colour of each cell of the example's row, and how many differ from its target."""
        _, y = self._cells(split, index)
        pred = output.detach()[0, : len(y)].argmax(-1)
        wrong = int((pred != y).sum())
        return Picture("classes", pred, caption=f"{row(pred)}: {'exact' if wrong == 0 else f'{wrong} of {len(y)} cells wrong'}",
                       palette=PALETTE)

    # ---- ServableDataset (aa serve's POST /v1/predict) -----------------------------------------
    def input_schema(self) -> dict[str, Any]:
        """One row of colours 0–9, at most as long as the task's longest row."""
        return {"description": f"one 1D-ARC row: 1 to {self.length} colours, each an integer 0–9 (e.g. [0, 3, 3, 0])",
                "type": "array", "items": {"type": "integer", "minimum": 0, "maximum": COLOURS - 1},
                "minItems": 1, "maxItems": self.length}

    def parse_input(self, value: Any) -> dict[str, Any]:
        """The row as the batches hold it: one-hot ``inputs [L, 10]`` and ``mask [L]`` (L: the task's longest row)."""
        if not isinstance(value, list) or not value:
            raise ValueError("a 1D-ARC row is a non-empty list of colours 0–9")
        bad = next(((i, v) for i, v in enumerate(value) if type(v) is not int or not 0 <= v < COLOURS), None)
        if bad is not None:
            raise ValueError(f"cell {bad[0]} is {json.dumps(bad[1])}, not a colour (an integer 0–9)")
        if len(value) > self.length:
            raise ValueError(f"the row has {len(value)} cells; the model was trained on rows of at most {self.length}")
        x = encode([(value, value)], self.length)["colours"][0]
        mask = x >= 0
        return {"inputs": F.one_hot(x.clamp_min(0), COLOURS).float() * mask[..., None], "mask": mask}

    def prediction(self, output: torch.Tensor, example: Any) -> dict[str, Any]:
        """The predicted row: the most likely colour of each cell of the input row."""
        n = int(example["mask"].sum())
        return {"row": output.detach()[0, :n].argmax(-1).tolist()}


def build(config: Arc1DConfig, ctx: Any) -> Arc1D:
    """The dataset; its longest row is checked against the classifier's cells at once, before a model or a run
    folder exists (the row length is the task's data, so the config-level check cannot see it)."""
    data = Arc1D(config)
    spec: Any = getattr(ctx, "spec", None)
    cells = lattice_cells(spec) if spec is not None else None
    if cells is not None and min(cells[:2]) < data.length:
        written, read, where = cells
        what = (f"geometry.size = {where} holds" if written < data.length
                else f"pipeline.read = \"output_face\" reads {read} cells of geometry.size = {where},")
        raise UserError(f"{spec.source}: {what} fewer than the {data.length} cells of the longest row of 1D-ARC task {config.task} "
                        f"([dataset] task), one per cell: set geometry.size = [{data.length}, 1, 1] or larger")
    return data
