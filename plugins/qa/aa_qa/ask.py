"""The ``ask`` task: question → teacher embedding → model → phrase-bank answer and its similarity.

How predictions become answers lives in :mod:`aa_qa.answering` (re-exported here: ``aa_qa.ask.*``
keeps working); this module answers ``[ask] questions`` (``run.ask`` before aa-qa 0.2) and prints the answers.
"""
from __future__ import annotations

import math

from .answering import NONFINITE, Answer, answer, answer_details, decode_scored, restore_for_answers
from .resume import model_from_resume

__all__ = ["NONFINITE", "Answer", "answer", "answer_details", "decode_scored", "print_answers", "restore_for_answers", "run_task"]


def print_answers(results: list[tuple[str, str, float]]) -> None:
    for q, a, s in results:
        shown = f"{a}\n   (similarity {s:.3f})" if math.isfinite(s) else f"(no answer: {NONFINITE})"
        print(f"Q: {q}\nA: {shown}", flush=True)


def run_task(spec, state: dict) -> None:
    ask = spec.sections.get("ask")
    questions = ask.questions if ask is not None else []
    if not questions:
        print("ask: ask.questions is empty; nothing to answer", flush=True)
        return
    if "model" not in state:
        model_from_resume(spec, state)
    print_answers(answer(state["model"], state["ctx"], state["decoder"], questions))
