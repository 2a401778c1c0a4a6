"""aa-serve: `aa serve`, a REST service for trained checkpoints.

What a task needs to be served (torch- and FastAPI-free): :class:`ServeHandler` (returned by the
``aa_serve_handlers`` hook of :mod:`aa_serve.hookspecs`), :class:`ServeTask`, :class:`ServeHost`,
:class:`ServeOption`; a page beside them (the ``aa_serve_pages`` hook): :class:`ServePage`,
:class:`ServePageTask`. A dataset that implements :class:`aa_core.protocols.ServableDataset` needs none of
them: the generic handler (:mod:`aa_serve.generic`, ``POST /v1/predict``) serves its checkpoints.
"""
from .api import ServedCheckpoint, ServeHandler, ServeHost, ServeOption, ServePage, ServePageTask, ServeTask

__all__ = ["ServeHandler", "ServeHost", "ServeOption", "ServePage", "ServePageTask", "ServeTask", "ServedCheckpoint"]
