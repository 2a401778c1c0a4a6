"""Hook implementations of aa-qa (torch-free): the teacher tokenizer, the qa_pairs dataset and its qa
objective, the evaluate / ask tasks, the [data] / [qa_loss] / [evaluate] / [ask] sections, the `aa ask` /
`aa evaluate` commands and aa serve's Q→A handler. Training is the core's `train` task; `aa inspect` is aa-inspect's."""
from __future__ import annotations

from typing import Any

from aa_core.plugin import Command, Component, Section, Task, hookimpl

from .config import (
    ASK_KEYS_MOVED,
    LOSS_KEYS_MOVED,
    AskConfig,
    DataConfig,
    EvaluateConfig,
    QALossConfig,
    QAObjectiveConfig,
    QAPairsConfig,
    TeacherConfig,
)


@hookimpl
def aa_components() -> list[Component]:
    return [
        Component("tokenizer", "teacher", TeacherConfig, "aa_qa.teacher:build", "frozen sentence embeddings (MiniLM)"),
        Component("dataset", "qa_pairs", QAPairsConfig, "aa_qa.dataset:build", "[data]'s question→answer pairs, embedded by the teacher",
                  defaults={"objective": "qa"}),
        Component("objective", "qa", QAObjectiveConfig, "aa_qa.objective:build",
                  "[qa_loss]'s cosine + InfoNCE (generative pipelines: their token loss); cosine and ranking metrics, selects on val_cosine",
                  sections=("qa_loss",)),
    ]


@hookimpl
def aa_tasks() -> list[Task]:
    return [
        # the report retrains the trained baselines with [qa_loss]'s weights
        Task("evaluate", "aa_qa.evaluate:run_task", "the model and the baselines on the held-out split: a report", needs=("data",),
             memory="aa_qa.estimates:inference_bytes", sections=("evaluate", "qa_loss")),
        Task("ask", "aa_qa.ask:run_task", "answer [ask] questions with the trained model", memory="aa_qa.estimates:inference_bytes",
             sections=("ask",)),
    ]


@hookimpl
def aa_spec_sections() -> list[Section]:
    return [
        # A spec with [data] is a Q→A spec: it gets the teacher, the direct_embedding pipeline and the
        # qa_pairs dataset (which brings the qa objective) unless it names others (never because aa-qa
        # happens to be installed).
        Section("data", DataConfig, "question→answer pairs: one file split by fractions, or separate files", optional=True,
                defaults={"tokenizer": "teacher", "pipeline": "direct_embedding", "dataset": "qa_pairs"}),
        Section("qa_loss", QALossConfig, "the Q→A training objective: cosine + InfoNCE weights", moved=LOSS_KEYS_MOVED),
        Section("evaluate", EvaluateConfig, "what the held-out report contains"),
        Section("ask", AskConfig, "the questions the ask task answers", moved=ASK_KEYS_MOVED),
    ]


@hookimpl
def aa_cli_commands() -> list[Command]:
    return [
        Command("ask", "aa_qa.cli_ask", "answer questions with a saved checkpoint"),
        Command("evaluate", "aa_qa.cli_evaluate", "re-evaluate a saved checkpoint"),
    ]


@hookimpl
def aa_serve_handlers() -> list[Any]:
    # aa-serve's hook: called only when aa-serve is installed (it adds the hook), so its import is here.
    # qa_pairs checkpoints, and those saved before the dataset kind (their spec has [data])
    from aa_serve import ServeHandler

    return [ServeHandler("qa", "aa_qa.serving:QAServing", datasets=("qa_pairs",), sections=("data",),
                         description="answers questions: /v1/answer, /v1/answer/batch, /v1/inspect and the demo page")]
