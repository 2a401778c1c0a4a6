"""Conformance kit: contract checks and hypothesis strategies for plugin authors.

Every check takes a built component and raises ``AssertionError`` with a precise message
when a contract of :mod:`aa_core.protocols` is broken; each starts by checking the runtime
protocol itself. ``tests/test_conformance.py`` runs
them over every registered component, so an installed plugin is covered automatically;
plugin authors call them from their own tests too::

    from aa_core.conformance import build_registered, check_cell
    cell, ctx = build_registered("cell", "mycell")
    check_cell(cell, ctx.geometry)

A task plugin checks its dataset and objective the same way (``check_dataset``, ``check_objective``);
``lattice(size, neighbourhood, boundary)`` builds the core geometry for a cell's own tests.
"""
from ._build import build_registered, lattice, small_spec
from .checks import (
    check_adapter,
    check_callback,
    check_cell,
    check_component,
    check_dataset,
    check_decoder,
    check_encoder,
    check_geometry,
    check_nca_paths,
    check_objective,
    check_pipeline,
    check_propagator,
    check_protocol,
    check_subword,
    check_tokenizer,
)

__all__ = [
    "build_registered",
    "lattice",
    "small_spec",
    "check_adapter",
    "check_callback",
    "check_cell",
    "check_component",
    "check_dataset",
    "check_decoder",
    "check_encoder",
    "check_geometry",
    "check_nca_paths",
    "check_objective",
    "check_pipeline",
    "check_propagator",
    "check_protocol",
    "check_subword",
    "check_tokenizer",
]
