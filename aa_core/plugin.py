"""The public plugin API: everything a plugin imports from the core, and nothing else.

Torch-free names (safe in a hook module)::

    Component, Task, Section, Command, hookimpl      what a plugin contributes, and the hook marker
    hookspec                                        marks the hooks a plugin adds for others (aa_add_hookspecs)
    BuildContext                                    what a factory receives
    positive, non_negative, finite, in_range,       attrs validators for config fields
    one_of, length, path_field                      (path_field: an input path, relative to the spec file)
    UserError, Problem, did_you_mean                errors the CLI reports without a traceback (exit 2)
    RunInterrupted                                  a run stopped on request after saving (exit 130/143)
    argument_text, not_utf8                         a command's text input, or one message naming its bad byte
    atomic_path, write_text, write_json             atomic file writing; file_sha256
    finite_only                                     NaN/inf → None before JSON (reports, /v1/models)
    table                                           plain-text tables for terminal output

Lattice helpers for a cell's ``lattice_forward`` (import torch on first use)::

    stencil_conv, neighbourhood_kernel, per_neighbour_kernel, pointwise, mask_kernel

Native kernels (:mod:`aa_core.native`: ship ``.cpp`` files, get them built and cached; import torch)::

    native_library(name, sources, signatures)       the built ctypes library, or None (use the PyTorch path)
    native_kernel_ready(name, sources, signatures)  a ready() test torch.compile folds to a constant
    native_autograd_op(op, backward, setup_context) register a custom op's autograd formula; the callable to use
    native_batch_vmap(op, batch_args)               a torch.vmap rule for a lattice custom op

Building on the core's components (a propagator that runs ``nca`` stages, a config that nests one)::

    NCAPropagator, NCAConfig, LatticeConfig          the nca propagator and the core configs (torch-free configs)
    structure_config                                 a TOML table → an attrs config, every problem reported

Running things (specs, ``fit``, objectives, callbacks, checkpoints, statistics) is :mod:`aa_core.run`.

The contracts themselves are in :mod:`aa_core.protocols`; the test kit is :mod:`aa_core.conformance`.
How ``aa serve`` serves a task (``ServeHandler``, ``ServeTask``, ``ServeHost``, the ``aa_serve_handlers``
hook) is aa-serve's: import them from :mod:`aa_serve` (here they are deprecated until aa-core 0.3).
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._api import API_VERSION
from ._errors import Problem, RunInterrupted, UserError
from ._fs import atomic_path, finite_only, write_json, write_text
from ._hashing import file_sha256
from ._table import table
from ._text import argument_text, did_you_mean, not_utf8
from .host import Command, Component, Section, Task, hookimpl, hookspec
from .validators import finite, in_range, length, non_negative, one_of, positive


def path_field(default: str | None = None, **kw: Any) -> Any:
    """An attrs field holding an input path: relative values resolve against the spec file's folder
    (``--set`` values against the current folder) when the spec is loaded."""
    import attrs

    return attrs.field(default=default, metadata={"aa_path": True}, **kw)

if TYPE_CHECKING:
    from .assemble import BuildContext
    from .builtins.direct_embedding import EmbeddingLoss
    from .lattice.config import LatticeConfig, NCAConfig
    from .lattice.nca import NCAPropagator
    from .lattice.stencil import mask_kernel, neighbourhood_kernel, per_neighbour_kernel, pointwise, stencil_conv
    from .native import native_autograd_op, native_batch_vmap, native_kernel_ready, native_library
    from .spec import structure_config

_LAZY = {
    "BuildContext": "aa_core.assemble",
    "stencil_conv": "aa_core.lattice.stencil",
    "neighbourhood_kernel": "aa_core.lattice.stencil",
    "per_neighbour_kernel": "aa_core.lattice.stencil",
    "pointwise": "aa_core.lattice.stencil",
    "mask_kernel": "aa_core.lattice.stencil",
    "EmbeddingLoss": "aa_core.builtins.direct_embedding",
    "NCAPropagator": "aa_core.lattice.nca",
    "NCAConfig": "aa_core.lattice.config",
    "LatticeConfig": "aa_core.lattice.config",
    "structure_config": "aa_core.spec",
    "native_library": "aa_core.native",
    "native_kernel_ready": "aa_core.native",
    "native_autograd_op": "aa_core.native",
    "native_batch_vmap": "aa_core.native",
}

__all__ = [
    "API_VERSION", "BuildContext", "LatticeConfig", "NCAConfig", "NCAPropagator", "structure_config", "argument_text", "Command", "Component", "EmbeddingLoss", "Problem", "RunInterrupted", "Section", "Task", "UserError", "atomic_path", "did_you_mean",
    "file_sha256", "finite", "finite_only", "hookimpl", "hookspec", "in_range", "length", "mask_kernel", "native_autograd_op", "native_batch_vmap", "native_kernel_ready", "native_library", "neighbourhood_kernel", "non_negative",
    "not_utf8", "one_of", "path_field", "per_neighbour_kernel", "pointwise", "positive", "stencil_conv", "table", "write_json", "write_text",
]


# Names that moved to a plugin distribution: still importable from here (with a DeprecationWarning)
# while that distribution is installed, until aa-core 0.3.
_MOVED_TO_PLUGINS = {"embedding_loss": ("aa_qa.loss", "aa-qa"),
                     **dict.fromkeys(["ServeHandler", "ServeTask", "ServeHost"], ("aa_serve", "aa-serve"))}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name in _MOVED_TO_PLUGINS:
        module, dist = _MOVED_TO_PLUGINS[name]
        from ._deprecated import warn_moved

        warn_moved(f"aa_core.plugin.{name}", f"{module} (distribution {dist})")
        try:
            return getattr(import_module(module), name)
        except ImportError:
            raise AttributeError(f"aa_core.plugin.{name} moved to {module}: pip install {dist}") from None
    raise AttributeError(f"module 'aa_core.plugin' has no attribute {name!r}")
