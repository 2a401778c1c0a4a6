"""aa-serve: `aa serve`, a REST service for trained checkpoints.

What a task needs to be served (torch- and FastAPI-free): :class:`ServeHandler` (returned by the
``aa_serve_handlers`` hook of :mod:`aa_serve.hookspecs`), :class:`ServeTask`, :class:`ServeHost`,
:class:`ServeOption`. A dataset that implements :class:`aa_core.protocols.ServableDataset` needs none of
them: the generic handler (:mod:`aa_serve.generic`, ``POST /v1/predict``) serves its checkpoints.
"""
from .api import ServedCheckpoint, ServeHandler, ServeHost, ServeOption, ServeTask

__all__ = ["ServeHandler", "ServeHost", "ServeOption", "ServeTask", "ServedCheckpoint"]
