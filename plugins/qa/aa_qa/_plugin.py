"""Hook implementations of aa-qa (torch-free): the teacher tokenizer, the train / evaluate / ask
tasks, the [data] / [train] / [evaluate] sections and the `aa ask` / `aa evaluate` commands."""
from __future__ import annotations

from aa_core.plugin import Command, Component, Section, Task, hookimpl

from .config import DataConfig, EvaluateConfig, TeacherConfig, TrainConfig


@hookimpl
def aa_components() -> list[Component]:
    return [Component("tokenizer", "teacher", TeacherConfig, "aa_qa.teacher:build", "frozen sentence embeddings (MiniLM)")]


@hookimpl
def aa_tasks() -> list[Task]:
    return [
        Task("train", "aa_qa.train:run_task", "train the model on [data] (checkpoint per epoch)", needs=("data",),
             memory="aa_qa.estimates:train_bytes"),
        Task("evaluate", "aa_qa.evaluate:run_task", "the model and the baselines on the held-out split: a report", needs=("data",),
             memory="aa_qa.estimates:inference_bytes"),
        Task("ask", "aa_qa.ask:run_task", "answer run.ask with the trained model", memory="aa_qa.estimates:inference_bytes"),
    ]


@hookimpl
def aa_spec_sections() -> list[Section]:
    return [
        Section("data", DataConfig, "question→answer pairs: one file split by fractions, or separate files", optional=True),
        Section("train", TrainConfig, "optimisation settings"),
        Section("evaluate", EvaluateConfig, "what the held-out report contains"),
    ]


@hookimpl
def aa_cli_commands() -> list[Command]:
    return [
        Command("ask", "aa_qa.cli_ask", "answer questions with a saved checkpoint"),
        Command("evaluate", "aa_qa.cli_evaluate", "re-evaluate a saved checkpoint"),
        Command("inspect", "aa_qa.cli_inspect", "picture what happens inside the lattice for one question"),
    ]

