"""The generic run: ``[run] tasks`` executed in order, each provided by a plugin (the core's: ``check``)."""
from ._check import REAL_BUILD_LIMIT, describe
from ._check import run_task as describe_task
from ._run import run_spec, seed_everything

__all__ = ["REAL_BUILD_LIMIT", "describe", "describe_task", "run_spec", "seed_everything"]
