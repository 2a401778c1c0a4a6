"""``predictions.jsonl``: one line per finished task, appended atomically, read back on resume.

Each line is written with a single ``os.write`` on an ``O_APPEND`` descriptor and ``fsync``'d, so a
killed run leaves whole lines (a torn last line, if the file system ever leaves one, is ignored and
its task trained again). :class:`FrozenPredictions` is the ledger read once every task is in it:
the only object the scorer accepts.

Workers sharing a split (``arc.claims``) each append to their own ``predictions.<worker>.jsonl``
beside it: one writer per file, so no two processes — on a network file system, where ``O_APPEND``
from two machines is not atomic, possibly on two machines — ever append to the same file.
:func:`ledgers` lists a run folder's files and :func:`read_all` merges them.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from aa_core.plugin import UserError

Grid = list[list[int]]


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """task id → its record, for every whole line of the ledger (later lines win)."""
    records: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a torn line: that task is not finished
        if isinstance(rec, dict) and isinstance(rec.get("task_id"), str):
            records[rec["task_id"]] = rec
    return records


def ledgers(folder: Path) -> list[Path]:
    """The run folder's prediction files: ``predictions.jsonl`` then every worker's, by name."""
    main = folder / "predictions.jsonl"
    return [*([main] if main.is_file() else []), *sorted(p for p in folder.glob("predictions.*.jsonl") if p.is_file())]


def read_all(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """task id → its record over several ledgers (the first file that has a task wins)."""
    records: dict[str, dict[str, Any]] = {}
    for path in paths:
        for task_id, rec in read_records(path).items():
            records.setdefault(task_id, rec)
    return records


def append_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append the records, one JSON line each, in one write, and flush them to disk."""
    data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
    if not data:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size and not _ends_with_newline(path):
            data = b"\n" + data  # after a torn line, start a fresh one
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


class FrozenPredictions(Mapping[str, list[list[Grid]]]):
    """task id → per test input, its attempts; built from a complete ledger and immutable."""

    def __init__(self, path: Path | list[Path], task_ids: list[str]):
        paths = [path] if isinstance(path, Path) else list(path)
        records = read_all(paths)
        missing = [t for t in task_ids if t not in records]
        if missing:
            where = paths[0] if len(paths) == 1 else f"{paths[0].parent} ({len(paths)} prediction files)" if paths else "the run folder"
            raise UserError(f"{where}: {len(missing)} tasks have no prediction yet ({', '.join(missing[:5])}…); "
                            "the run must finish before it is scored")
        self.records = {t: records[t] for t in task_ids}
        self._attempts = {t: [[[list(r) for r in g] for g in att] for att in rec["attempts"]] for t, rec in self.records.items()}
        self.paths = paths
        self.path = paths[0]
        self.size_at_freeze = sum(p.stat().st_size for p in paths)

    def __getitem__(self, task_id: str) -> list[list[Grid]]:
        return self._attempts[task_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._attempts)

    def __len__(self) -> int:
        return len(self._attempts)
