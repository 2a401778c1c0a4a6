"""Deprecated 0.1 path: the built-in configs live in :mod:`aa_core.builtins.configs`;
``TeacherConfig`` moved with the Q→A application to ``aa_qa.config`` (distribution aa-qa)."""
from typing import Any

from ._deprecated import warn_moved

warn_moved(__name__, "aa_core.builtins.configs")

from .builtins.configs import *  # noqa: E402,F401,F403


def __getattr__(name: str) -> Any:
    if name in ("TeacherConfig", "DEFAULT_TEACHER"):
        raise AttributeError(f"aa_core.configs.{name} moved to aa_qa.config with the Q→A application: "
                             "pip install plugins/qa (distribution aa-qa), then `from aa_qa.config import {name}`")
    raise AttributeError(f"module 'aa_core.configs' has no attribute {name!r}")
