"""`aa plugin new NAME --kind KIND`: write a complete, installable plugin distribution ``aa-NAME/``.

The generated package follows the layout of the first-party plugins (see CONTRIBUTING.md):
a torch-free hook module, an attrs config, the torch module with its ``build`` factory, tests
that run the conformance kit, an ``aa check``-able example spec and a README. It installs with
pip and passes its own tests untouched.

``--kind task`` writes a whole task instead (docs/write-a-task.md): a dataset generated offline (a 3D
Life-like rule on a small grid), its objective, a lattice pipeline that writes the grid onto the cells
and reads each cell's next state, an ``aa run``-able spec that trains and tests, and tests (the kit, the
cross-component check, serving, one real ``aa run``).
"""
from __future__ import annotations

import argparse
import keyword
import shutil
from pathlib import Path
from typing import Any

from .._api import default_range
from .._errors import UserError

KINDS = ("cell", "propagator", "adapter", "decoder", "task")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("plugin", help="plugin authoring tools (aa plugin new)")
    psub = p.add_subparsers(dest="plugin_command", metavar="SUBCOMMAND", parser_class=type(p))
    new = psub.add_parser("new", help="write a new plugin distribution aa-NAME/ from a template")
    new.add_argument("name", metavar="NAME", help="component and package name (a Python identifier, e.g. mycell)")
    new.add_argument("--kind", choices=KINDS, default="cell",
                     help="kind of component (default: cell); task: a dataset, its objective and a pipeline, with a spec that trains")
    new.add_argument("--dir", type=Path, default=Path("."), help="folder to create aa-NAME/ in (default: current folder)")
    new.add_argument("--force", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(_plugin_parser=p)
    return p


def main(args: argparse.Namespace) -> int:
    if getattr(args, "plugin_command", None) != "new":
        args._plugin_parser.print_help()
        return 2
    root = create(args.name, args.kind, args.dir)
    print(f"wrote {root}/ ({args.kind} {args.name!r})")
    if args.kind == "task":
        print(f"next: pip install -e {root} && aa run {root}/examples/{args.name}.toml && pytest {root}/tests")
    else:
        print(f"next: pip install -e {root} && aa plugins --load && aa check {root}/examples/{args.name}.toml && pytest {root}/tests")
    return 0


MAX_NAME = 64  # characters: it names folders and files (aa-NAME/, tests/test_NAME.py) and the distribution


def _check_name(name: str) -> None:
    if len(name) > MAX_NAME:
        raise UserError(f"plugin name {name[:20]!r}… is {len(name)} characters long; give a name of at most {MAX_NAME} "
                        "(it names the folder aa-NAME, the package aa_NAME and the component)")
    if not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
        raise UserError(f"plugin name {name!r} is not a Python identifier (use letters, digits and underscores, e.g. 'mycell')")
    if name != name.lower():
        raise UserError(f"plugin name {name!r} must be lower case (it names the package aa_{name} and the component)")
    from ..host import host

    try:
        taken = set(host().declared())
    except Exception:  # noqa: BLE001 - a broken environment must not block generating a plugin
        taken = set()
    for kind, other in taken:
        if other == name:
            raise UserError(f"a {kind} named {name!r} is already registered by an installed plugin; choose another name")


def create(name: str, kind: str, directory: Path) -> Path:
    """Write ``directory/aa-NAME`` for a component of ``kind``; returns its path."""
    if kind not in KINDS:
        raise UserError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    _check_name(name)
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"--dir {directory} is a file, not a folder; give the folder to create aa-{name}/ in")
    root = directory / f"aa-{name}"
    if root.exists():
        raise UserError(f"{root} already exists; remove it or choose another --dir")
    subs = {
        "__NAME__": name,
        "__DIST__": f"aa-{name}",
        "__PKG__": f"aa_{name}",
        "__CLASS__": "".join(part.capitalize() for part in name.split("_")) or name,
        "__KIND__": kind,
        "__CORE_RANGE__": default_range(),
    }
    files = {**_COMMON, **_BY_KIND[kind]}
    files["pyproject.toml"] = files["pyproject.toml"].replace("__ENTRIES__", _ENTRIES.get(kind, _ENTRIES["*"]))
    made = next((p for p in [root, *root.parents] if p.parent.exists()), root)  # the first folder this command creates
    try:
        for rel, text in files.items():
            for key, value in subs.items():
                text = text.replace(key, value)
                rel = rel.replace(key, value)
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.lstrip("\n"), encoding="utf-8")
    except OSError as exc:  # nothing half-written stays: the folders this command made are removed
        shutil.rmtree(made, ignore_errors=True)
        raise UserError(f"cannot write {exc.filename or root}: {exc.strerror}; give --dir a writable folder") from None
    return root


# --- templates ----------------------------------------------------------------------------
# __NAME__ component name, __DIST__ distribution, __PKG__ package, __CLASS__ class stem.

_COMMON: dict[str, str] = {
    "pyproject.toml": '''
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "__DIST__"
version = "0.1.0"
description = "AA __KIND__ __NAME__ (generated by aa plugin new; describe what it does here)"
readme = "README.md"
requires-python = ">=3.11"
# the aa-core releases this plugin is built for (pip and the plugin host both enforce it; widen it
# after testing on a newer core: see the AA deprecation policy in CONTRIBUTING.md)
dependencies = ["aa-core__CORE_RANGE__"]

# the module holding the hook implementations
[project.entry-points."aa.plugins"]
__NAME__ = "__PKG__._plugin"

# one line per component ("kind.name"): `aa plugins` lists them without importing anything
[project.entry-points."aa.components"]
__ENTRIES__

# architecture specs shipped in the wheel (an aa_architectures folder that is missing is a load error)
[tool.setuptools.package-data]
"*" = ["architectures/*.toml", "architectures/registry.lock"]

[tool.setuptools.packages.find]
include = ["__PKG__*"]
''',
    "README.md": '''
# __DIST__

An AA plugin: the `__NAME__` __KIND__ (generated by `aa plugin new`).

```
pip install -e .
aa plugins --load                      # lists __KIND__ __NAME__ (status ok)
aa check examples/__NAME__.toml        # builds the example spec and counts its parameters
pytest tests                           # the conformance kit on the component
```

Layout:

- `__PKG__/_plugin.py` — hook implementations (torch-free: imports only `aa_core.plugin`)
- `__PKG__/config.py` — the attrs config (the spec's `[__KIND__]` table)
- `__PKG__/__KIND__.py` — the torch module and its `build(config, ctx)` factory
- `tests/test___NAME__.py` — the conformance kit (`aa_core.conformance`)
- `examples/__NAME__.toml` — a spec using the component

Publish it (sdist + wheel, checked, uploaded to PyPI or your own index) and install it elsewhere:

```
python -m build && twine check --strict dist/* && twine upload dist/*
pip install __DIST__                   # on the other machine, beside aa-core
```

See the AA CONTRIBUTING.md for the contract (`aa_core.protocols`) and the public API (`aa_core.plugin`).
''',
    "__PKG__/__init__.py": '''
"""AA plugin __DIST__: the ``__NAME__`` __KIND__."""
''',
    "__PKG__/_plugin.py": '''
"""Hook implementations of __DIST__ (torch-free: the factory is named as a string and loads lazily)."""
from __future__ import annotations

from aa_core.plugin import Component, hookimpl

from .config import __CLASS__Config


@hookimpl
def aa_components():
    return [Component("__KIND__", "__NAME__", __CLASS__Config, "__PKG__.__KIND__:build", "__DESCRIPTION__")]
''',
}

_CELL = {
    "__PKG__/config.py": '''
"""Config of the ``__NAME__`` cell (torch-free: imported by the hook module)."""
from __future__ import annotations

import attrs

from aa_core.plugin import positive


@attrs.define
class __CLASS__Config:
    """``channels``: state width C; ``hidden``: width H of the neighbourhood map."""

    channels: int = attrs.field(default=8, validator=positive)
    hidden: int = attrs.field(default=16, validator=positive)
''',
    "__PKG__/cell.py": '''
"""The ``__NAME__`` cell: Δs = W2 · tanh(W1 · neighbourhood + b1) + b2 (a residual update).

- ``forward([B, N, K, C]) -> [B, N, C]``: the reference, on the gathered neighbourhood.
- ``lattice_forward([B, X, Y, Z, C], geometry)``: the same map as a 3×3×3 stencil convolution
  (``neighbourhood_kernel`` turns the ``[H, K·C]`` weight into the conv kernel), then a
  per-cell ``pointwise`` map. The conformance kit checks that both agree.
"""
from __future__ import annotations

import torch
from torch import nn

from aa_core.plugin import neighbourhood_kernel, pointwise, stencil_conv

from .config import __CLASS__Config


class __CLASS__Cell(nn.Module):
    def __init__(self, config: __CLASS__Config, geometry):
        super().__init__()
        self.channels = C = config.channels
        self.read = nn.Linear(geometry.k * C, config.hidden)  # W1 over the flattened (k c) neighbourhood
        self.write = nn.Linear(config.hidden, C)  # W2

    def forward(self, neighbourhood: torch.Tensor) -> torch.Tensor:
        """``[B, N, K, C]`` → residual update ``[B, N, C]``."""
        return self.write(torch.tanh(self.read(neighbourhood.flatten(-2))))

    def lattice_forward(self, grid: torch.Tensor, geometry) -> torch.Tensor:
        """``[B, X, Y, Z, C]`` → ``[B, X, Y, Z, C]``, equal to ``forward`` on ``geometry.gather``."""
        kernel = neighbourhood_kernel(self.read.weight, geometry, self.channels)  # [H, C, 3, 3, 3]
        hidden = torch.tanh(stencil_conv(grid, kernel, self.read.bias, geometry))
        return pointwise(hidden, self.write.weight, self.write.bias)


def build(config: __CLASS__Config, ctx) -> __CLASS__Cell:
    return __CLASS__Cell(config, ctx.geometry)
''',
    "tests/test___NAME__.py": '''
"""The ``__NAME__`` cell passes the AA conformance kit."""
import pytest

from aa_core.conformance import build_registered, check_component, check_nca_paths


@pytest.mark.parametrize("config", [{}, {"channels": 5, "hidden": 7}])
def test_conformance_kit(config):
    cell, ctx = build_registered("cell", "__NAME__", config)
    check_component("cell", cell, ctx)


@pytest.mark.parametrize("neighbourhood,boundary", [(6, "zero"), (26, "periodic")])
def test_nca_reference_and_fast_paths_agree(neighbourhood, boundary):
    check_nca_paths("__NAME__", {}, neighbourhood, boundary)
''',
    "examples/__NAME__.toml": '''
# The __NAME__ cell on a small lattice:  aa check examples/__NAME__.toml
[geometry]
name = "lattice"
size = [8, 8, 4]
neighbourhood = 26

[cell]
name = "__NAME__"
channels = 8
hidden = 16

[propagator]
name = "nca"
steps = 4
''',
}

_PROPAGATOR = {
    "__PKG__/config.py": '''
"""Config of the ``__NAME__`` propagator (torch-free: imported by the hook module)."""
from __future__ import annotations

import attrs

from aa_core.plugin import in_range, positive


@attrs.define
class __CLASS__Config:
    """``steps``: diffusion steps; ``rate``: initial per-channel mixing rate in (0, 1]."""

    steps: int = attrs.field(default=2, validator=positive)
    rate: float = attrs.field(default=0.5, validator=in_range(0.0, 1.0))
''',
    "__PKG__/propagator.py": '''
"""The ``__NAME__`` propagator: learned per-channel diffusion, s ← s + r ⊙ (mean of neighbours − s).

Local: after ``steps`` steps a change at one cell reaches only cells within ``steps`` hops, so it
declares ``light_cone = True`` (the conformance kit checks the light cone).
"""
from __future__ import annotations

import torch
from torch import nn

from .config import __CLASS__Config


class __CLASS__Propagator(nn.Module):
    light_cone = True

    def __init__(self, config: __CLASS__Config, geometry, channels: int):
        super().__init__()
        self.geometry = geometry
        self.steps = config.steps
        self.rate = nn.Parameter(torch.full((channels,), float(config.rate)))

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        """``[B, N, C]`` → ``[B, N, C]``."""
        for _ in range(self.steps):
            mean = self.geometry.gather(state).mean(dim=2)  # [B, N, C]
            state = state + self.rate.to(state.dtype) * (mean - state)
        return state


def build(config: __CLASS__Config, ctx) -> __CLASS__Propagator:
    return __CLASS__Propagator(config, ctx.geometry, ctx.cell.channels)
''',
    "tests/test___NAME__.py": '''
"""The ``__NAME__`` propagator passes the AA conformance kit."""
import pytest

from aa_core.conformance import build_registered, check_component


@pytest.mark.parametrize("config", [{}, {"steps": 1, "rate": 0.25}])
def test_conformance_kit(config):
    prop, ctx = build_registered("propagator", "__NAME__", config)
    check_component("propagator", prop, ctx)
''',
    "examples/__NAME__.toml": '''
# The __NAME__ propagator with the built-in mlp cell:  aa check examples/__NAME__.toml
[geometry]
name = "lattice"
size = [8, 8, 4]
neighbourhood = 26

[cell]
name = "mlp"
channels = 8
hidden = 16

[propagator]
name = "__NAME__"
steps = 3
''',
}

_ADAPTER = {
    "__PKG__/config.py": '''
"""Config of the ``__NAME__`` adapter (torch-free: imported by the hook module)."""
from __future__ import annotations

import attrs

from aa_core.plugin import positive


@attrs.define
class __CLASS__Config:
    """``hidden``: width of the one hidden layer between ``in_dim`` and ``out_dim``."""

    hidden: int = attrs.field(default=32, validator=positive)
''',
    "__PKG__/adapter.py": '''
"""The ``__NAME__`` adapter: ``[B, in_dim]`` → ``[B, out_dim]`` through one GELU hidden layer."""
from __future__ import annotations

import torch
from torch import nn

from .config import __CLASS__Config


class __CLASS__Adapter(nn.Module):
    def __init__(self, config: __CLASS__Config, in_dim: int, out_dim: int):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.net = nn.Sequential(nn.Linear(in_dim, config.hidden), nn.GELU(), nn.Linear(config.hidden, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build(config: __CLASS__Config, ctx, in_dim: int, out_dim: int) -> __CLASS__Adapter:
    return __CLASS__Adapter(config, in_dim, out_dim)
''',
    "tests/test___NAME__.py": '''
"""The ``__NAME__`` adapter passes the AA conformance kit."""
import pytest

from aa_core.conformance import build_registered, check_component


@pytest.mark.parametrize("config", [{}, {"hidden": 5}])
def test_conformance_kit(config):
    adapter, ctx = build_registered("adapter", "__NAME__", config)
    check_component("adapter", adapter, ctx)
''',
    "examples/__NAME__.toml": '''
# The __NAME__ adapter onto and off the lattice faces:  aa check examples/__NAME__.toml
[geometry]
name = "lattice"
size = [4, 4, 4]
neighbourhood = 26

[adapter]
name = "__NAME__"
hidden = 32

[pipeline]
name = "direct_embedding"
''',
}

_DECODER = {
    "__PKG__/config.py": '''
"""Config of the ``__NAME__`` decoder (torch-free: imported by the hook module)."""
from __future__ import annotations

import attrs

from aa_core.plugin import positive


@attrs.define
class __CLASS__Config:
    """``max_texts``: the most texts kept by ``fit`` (the first ones)."""

    max_texts: int = attrs.field(default=100_000, validator=positive)
''',
    "__PKG__/decoder.py": '''
"""The ``__NAME__`` decoder: the stored text whose embedding is nearest by cosine.

``fit(texts, embeddings [M, D])`` stores the texts; ``decode([B, D])`` returns the nearest
one per row. Its fitted state is saved in checkpoints through ``to_extra``/``load_extra``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import __CLASS__Config


class __CLASS__Decoder:
    def __init__(self, config: __CLASS__Config):
        self.config = config
        self.texts: list[str] = []
        self._embeddings = torch.zeros(0, 0)

    @property
    def embeddings(self) -> torch.Tensor:
        return self._embeddings

    def fit(self, texts: list[str], embeddings: torch.Tensor) -> "__CLASS__Decoder":
        n = min(len(texts), self.config.max_texts)
        self.texts = list(texts[:n])
        self._embeddings = F.normalize(embeddings[:n].detach().float(), dim=-1)
        return self

    def indices(self, outputs: torch.Tensor) -> list[int]:
        if not self.texts:
            raise RuntimeError("__NAME__ decoder: call fit(texts, embeddings) first")
        sims = F.normalize(outputs.detach().float(), dim=-1) @ self._embeddings.T
        return sims.argmax(dim=-1).tolist()

    def decode(self, outputs: torch.Tensor) -> list[str]:
        return [self.texts[i] for i in self.indices(outputs)]

    def to_extra(self):
        return {"texts": self.texts}, {"embeddings": self._embeddings}

    def load_extra(self, extra_json, tensors):
        self.texts = list(extra_json["texts"])
        self._embeddings = tensors["embeddings"]
        return self


def build(config: __CLASS__Config, ctx) -> __CLASS__Decoder:
    return __CLASS__Decoder(config)
''',
    "tests/test___NAME__.py": '''
"""The ``__NAME__`` decoder passes the AA conformance kit."""
import pytest

from aa_core.conformance import build_registered, check_component


@pytest.mark.parametrize("config", [{}, {"max_texts": 10}])
def test_conformance_kit(config):
    decoder, ctx = build_registered("decoder", "__NAME__", config)
    check_component("decoder", decoder, ctx)
''',
    "examples/__NAME__.toml": '''
# The __NAME__ decoder in a direct-embedding model:  aa check examples/__NAME__.toml
[geometry]
name = "lattice"
size = [4, 4, 4]
neighbourhood = 26

[decoder]
name = "__NAME__"

[pipeline]
name = "direct_embedding"
''',
}

_DESCRIPTIONS = {
    "cell": "__NAME__ cell: tanh MLP over the neighbourhood, with a stencil-conv lattice form",
    "propagator": "__NAME__ propagator: learned per-channel diffusion between neighbours",
    "adapter": "__NAME__ adapter: one GELU hidden layer between any two widths",
    "decoder": "__NAME__ decoder: nearest stored text by cosine",
}

_BY_KIND: dict[str, dict[str, str]] = {}
for _kind, _files in (("cell", _CELL), ("propagator", _PROPAGATOR), ("adapter", _ADAPTER), ("decoder", _DECODER)):
    _BY_KIND[_kind] = {**_files, "__PKG__/_plugin.py": _COMMON["__PKG__/_plugin.py"].replace("__DESCRIPTION__", _DESCRIPTIONS[_kind])}

# --- the task kind: a dataset, its objective and a lattice pipeline, with a spec that trains and tests ----

_ENTRIES = {
    "*": '"__KIND__.__NAME__" = "__PKG__._plugin"',
    "task": '"dataset.__NAME__" = "__PKG__._plugin"\n"objective.__NAME__" = "__PKG__._plugin"\n"pipeline.__NAME__" = "__PKG__._plugin"',
}

_TASK = {
    "README.md": '''
# __DIST__

An AA task plugin (generated by `aa plugin new --kind task`): the `__NAME__` dataset, its objective and
a lattice pipeline. The data are random 3D grids and the same grids one update later under a Life-like
rule (by default Bays' 3D Life 5766: a live cell with 5–7 live neighbours of its 26 survives, a dead one
with 6 comes alive), generated from a seed, so there is nothing to download. Replace the data and the
maths with your task's and keep the layout; see the AA docs/write-a-task.md.

```
pip install -e .
aa check examples/__NAME__.toml        # validates the spec and builds the model (reads no data)
aa run examples/__NAME__.toml          # trains, keeps the best round, tests it once: runs/<run-id>/metrics.json
pytest tests                           # the conformance kit, the cross-component check, serving, one real aa run
```

With the AA plugins that do more installed (aa-serve, aa-inspect, aa-sweep):

```
aa serve --checkpoint checkpoints/<run-id>        # POST /v1/predict {"inputs": [grid]} → the grid one update later
aa inspect --checkpoint checkpoints/<run-id> --index 0 --out __NAME__.png   # input, target, prediction; the steps
aa sweep examples/__NAME__.toml --seeds 3 --case 'mlp: pipeline={name="flat_mlp"}'   # beside the same task without a lattice
```

Layout:

- `__PKG__/_plugin.py` — hook implementations: the dataset (which brings its objective), the objective, the pipeline
  (torch-free: imports only `aa_core.plugin`)
- `__PKG__/config.py` — the attrs configs; the dataset's `check()` (its own table), `check_with(spec)` (against the
  other tables: its size must be the lattice's) and `io_shapes()` (the core's `flat_mlp` baseline sizes itself from it)
- `__PKG__/data.py` — the dataset: `hash`, `sizes()`, `batch(split, index)`; `describe` / `describe_prediction` and
  `example_picture` / `prediction_picture` (`aa inspect`: input, target and prediction as voxels) and
  `input_schema` / `parse_input` / `prediction` (`aa serve`)
- `__PKG__/objective.py` — the loss of a training batch and the metrics of a split (`aa_core.run.Objective`)
- `__PKG__/pipeline.py` — the model: the grid onto the lattice, the `[propagator]`, a readout per cell
- `examples/__NAME__.toml` — the spec: `[dataset]`, the model, `[train]`, `[run] tasks = ["train", "test"]`
- `tests/` — the conformance kit (`aa_core.conformance`) and one real `aa run`

Publish it (sdist + wheel, checked, uploaded to PyPI or your own index) and install it elsewhere:

```
python -m build && twine check --strict dist/* && twine upload dist/*
pip install __DIST__                   # on the other machine, beside aa-core
```
''',
    "__PKG__/_plugin.py": '''
"""Hook implementations of __DIST__ (torch-free: the factories are named as strings and load lazily)."""
from __future__ import annotations

from aa_core.plugin import Component, hookimpl

from .config import __CLASS__Config, __CLASS__ObjectiveConfig, __CLASS__PipelineConfig


@hookimpl
def aa_components():
    return [
        Component("dataset", "__NAME__", __CLASS__Config, "__PKG__.data:__CLASS__Data",
                  "random 3D grids and their next state under a Life-like rule (generated offline)",
                  defaults={"objective": "__NAME__"}),  # a spec naming the dataset gets this objective
        Component("objective", "__NAME__", __CLASS__ObjectiveConfig, "__PKG__.objective:build",
                  "binary cross-entropy per cell; loss, cell accuracy (selects) and whole grids right"),
        Component("pipeline", "__NAME__", __CLASS__PipelineConfig, "__PKG__.pipeline:build",
                  "the grid onto the lattice's cells → propagator → each cell's logit of being alive"),
    ]
''',
    "__PKG__/config.py": '''
"""Configs of the ``__NAME__`` task (torch-free: the hook module imports them)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from aa_core.plugin import LatticeConfig, in_range, length, positive


@attrs.define
class __CLASS__Config:
    """The ``__NAME__`` dataset: ``examples`` random grids of ``size`` cells (each alive with probability
    ``density``) and each grid ``steps`` updates later under a Life-like rule over the 26 neighbours (none
    outside the grid): a dead cell with a count of live neighbours in ``born`` comes alive, a live one with a
    count in ``survive`` stays alive, every other cell is dead. ``split``: the train, validation and test
    fractions; ``seed`` draws the grids."""

    size: list[int] = attrs.field(factory=lambda: [6, 6, 6], validator=[length(3), positive])
    density: float = attrs.field(default=0.3, validator=in_range(0.0, 1.0))
    born: list[int] = attrs.field(factory=lambda: [6])
    survive: list[int] = attrs.field(factory=lambda: [5, 6, 7])
    steps: int = attrs.field(default=1, validator=positive)
    examples: int = attrs.field(default=600, validator=positive)
    split: list[float] = attrs.field(factory=lambda: [0.7, 0.15, 0.15])
    seed: int = 0

    def check(self) -> Iterator[tuple[str, str]]:
        """What is wrong with this table alone (keys relative to [dataset]): `aa check` reports them all at once."""
        for key in ("born", "survive"):
            if any(not 0 <= n <= 26 for n in getattr(self, key)):
                yield key, f"counts of live neighbours run from 0 to 26, got {getattr(self, key)}"
        if len(self.split) != 3 or min(self.split) < 0 or abs(sum(self.split) - 1) > 1e-6:
            yield "split", f"must be three fractions (train, validation, test) summing to 1, got {self.split}"

    def check_with(self, spec: Any) -> Iterator[tuple[str, str]]:
        """What disagrees with the spec's other tables (whole key paths), found before anything is built, read or
        written (aa_core.protocols.CrossCheckedConfig): the ``__NAME__`` pipeline writes each cell of the grid onto
        its own lattice cell, so the grid and the lattice have one size."""
        geometry = spec.config("geometry")
        if spec.name("pipeline") == "__NAME__" and isinstance(geometry, LatticeConfig):
            lattice = list(geometry.lattice_size())
            if lattice != list(self.size):
                scaled = "" if lattice == list(geometry.size) else f" × geometry.scale_factor = {lattice}"
                yield "dataset.size", (f"is {self.size}, but geometry.size = {geometry.size}{scaled}: the __NAME__ pipeline "
                                       "writes each cell of the grid onto its own lattice cell; make the two sizes equal")

    def io_shapes(self) -> dict[str, list[int]]:
        """One example: the grid's cells in raster order; one prediction: a logit per cell
        (aa_core.protocols.ShapedDatasetConfig: the core's ``flat_mlp`` baseline sizes itself from it)."""
        cells = self.size[0] * self.size[1] * self.size[2]
        return {"inputs": [cells], "outputs": [cells]}


@attrs.define
class __CLASS__ObjectiveConfig:
    """The ``__NAME__`` objective has no settings (add them here: the spec's [objective] table)."""


@attrs.define
class __CLASS__PipelineConfig:
    """The ``__NAME__`` pipeline has no settings of its own: [cell] and [propagator] say how the lattice updates."""
''',
    "__PKG__/data.py": '''
"""The ``__NAME__`` dataset: random grids and the same grids ``steps`` updates later under a Life-like rule,
generated from the seed (nothing to download). Batches: ``inputs [B, N]`` and ``targets [B, N]``, 0 or 1 for
each of the grid's N cells in raster order (as the lattice numbers its cells: id = (x·Y + y)·Z + z).

Besides the ``Dataset`` protocol it says in words and in pictures what an example and a prediction are
(``DescribedDataset`` and ``PicturedDataset``: ``aa inspect``) and what one input and one prediction are on
the wire (``ServableDataset``: ``aa serve``'s ``POST /v1/predict``)."""
from __future__ import annotations

import hashlib
from typing import Any

import torch
import torch.nn.functional as F

from aa_core.protocols import Picture

from .config import __CLASS__Config


def rule_step(grid: torch.Tensor, born: list[int], survive: list[int]) -> torch.Tensor:
    """One update of 0/1 grids ``[B, X, Y, Z]``: each cell counts its live neighbours among 26 (none outside)."""
    kernel = torch.ones(1, 1, 3, 3, 3)
    kernel[0, 0, 1, 1, 1] = 0
    count = F.conv3d(grid.float()[:, None], kernel, padding=1)[:, 0].round().long()
    alive = grid > 0.5
    comes = torch.isin(count, torch.tensor(born, dtype=torch.long))
    stays = torch.isin(count, torch.tensor(survive, dtype=torch.long))
    return ((alive & stays) | (~alive & comes)).float()


class __CLASS__Data:
    def __init__(self, config: __CLASS__Config, ctx: Any = None):
        self.config = config
        self.size = tuple(config.size)
        g = torch.Generator().manual_seed(config.seed)
        grids = (torch.rand(config.examples, *self.size, generator=g) < config.density).float()
        after = grids
        for _ in range(config.steps):
            after = rule_step(after, config.born, config.survive)
        x, y = grids.flatten(1), after.flatten(1)
        n_train, n_val = (round(f * config.examples) for f in config.split[:2])
        cuts = [0, n_train, n_train + n_val, config.examples]
        self.splits = {name: (x[a:b], y[a:b]) for name, a, b in zip(("train", "validation", "test"), cuts, cuts[1:])}
        self.hash = hashlib.sha256(x.numpy().tobytes() + y.numpy().tobytes() + repr(cuts).encode()).hexdigest()

    def sizes(self) -> dict[str, int]:
        return {name: len(x) for name, (x, _) in self.splits.items()}

    def batch(self, split: str, index: torch.Tensor) -> dict[str, torch.Tensor]:
        x, y = self.splits[split]
        return {"inputs": x[index], "targets": y[index]}

    # ---- DescribedDataset (aa inspect) -----------------------------------------------------------
    def describe(self, index: int, split: str) -> str:
        x, y = self.splits[split]
        return (f"{split} grid #{index}: {int(x[index].sum())} of {x.shape[1]} cells alive, "
                f"{int(y[index].sum())} after {self.config.steps} update(s)")

    def describe_prediction(self, output: torch.Tensor) -> str:
        alive = output.detach()[0] > 0
        return f"predicted: {int(alive.sum())} of {alive.numel()} cells alive"

    # ---- PicturedDataset (aa inspect: input, target and prediction side by side, as voxels) ------
    def example_picture(self, index: int, split: str) -> dict[str, Picture]:
        x, y = self.splits[split]
        return {"input": self.voxels(x[index], f"{int(x[index].sum())} cells alive"),
                "target": self.voxels(y[index], f"{int(y[index].sum())} alive after {self.config.steps} update(s)")}

    def prediction_picture(self, output: torch.Tensor, index: int, split: str) -> Picture:
        alive = (output.detach()[0] > 0).float()
        wrong = int((alive != self.splits[split][1][index]).sum())
        return self.voxels(alive, f"predicted {int(alive.sum())} alive, {wrong} cells wrong")

    def voxels(self, cells: torch.Tensor, caption: str) -> Picture:
        """``[N]`` 0/1 → the grid drawn in 3D: live cells (class 1) as cubes, dead ones (−1) left empty."""
        grid = torch.where(cells.reshape(self.size) > 0.5, 1, -1)
        return Picture("classes", grid, caption, names=("dead", "alive"), palette=("#ffffff", "#2ca02c"))

    # ---- ServableDataset (aa serve: POST /v1/predict) --------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        """One grid: nested as grid[x][y][z], or flat in that order; 1 is alive, 0 dead."""
        X, Y, Z = self.size
        cell = {"type": "integer", "minimum": 0, "maximum": 1}
        nested = {"type": "array", "minItems": X, "maxItems": X, "items": {
            "type": "array", "minItems": Y, "maxItems": Y, "items": {"type": "array", "minItems": Z, "maxItems": Z, "items": cell}}}
        flat = {"type": "array", "minItems": X * Y * Z, "maxItems": X * Y * Z, "items": cell}
        return {"description": f"a {X}×{Y}×{Z} grid, 1 alive and 0 dead: nested as grid[x][y][z], or flat in that order",
                "oneOf": [nested, flat]}

    def parse_input(self, value: Any) -> torch.Tensor:
        """The grid as the pipeline reads it: ``[N]`` floats."""
        try:
            x = torch.tensor(value, dtype=torch.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a grid of 0s and 1s ({exc})") from None
        n = x.new_zeros(self.size).numel()
        if tuple(x.shape) not in (self.size, (n,)) or not bool(((x == 0) | (x == 1)).all()):
            raise ValueError(f"a grid is {list(self.size)} cells (or {n} in a row), each 0 or 1; got shape {list(x.shape)}")
        return x.reshape(n)

    def prediction(self, output: torch.Tensor, example: Any) -> dict[str, Any]:
        """The predicted grid (nested as the input) and its number of live cells."""
        alive = (output.detach()[0] > 0).int()
        return {"grid": alive.reshape(self.size).tolist(), "alive": int(alive.sum())}
''',
    "__PKG__/objective.py": '''
"""The ``__NAME__`` objective: each cell's next state is yes or no, so the loss is the binary cross-entropy of
the pipeline's logits ``[B, N]``; a split's metrics are the mean loss per cell, the share of cells right
(``accuracy``: it selects the kept round) and the share of grids right in every cell (``exact``)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from aa_core.protocols import Dataset
from aa_core.run import Objective, batches


class __CLASS__Objective(Objective):
    selection = ("val_accuracy", "max")
    metrics = ("val_loss", "val_accuracy", "val_exact")

    def training_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(model(batch["inputs"]), batch["targets"])

    def split_metrics(self, model: torch.nn.Module, data: Dataset, split: str) -> dict[str, float]:
        """Over every example of ``split`` (the base class prefixes val_ or test_)."""
        device = next(model.parameters()).device
        grids, cells, loss, right, exact = 0, 0, 0.0, 0, 0
        for batch in batches(data, split):
            logits, targets = model(batch["inputs"].to(device)), batch["targets"].to(device)
            hit = (logits > 0) == (targets > 0.5)
            loss += float(F.binary_cross_entropy_with_logits(logits, targets, reduction="sum"))
            right, exact = right + int(hit.sum()), exact + int(hit.all(1).sum())
            grids, cells = grids + len(targets), cells + targets.numel()
        return {"loss": loss / max(cells, 1), "accuracy": right / max(cells, 1), "exact": exact / max(grids, 1)}


def build(config: Any, ctx: Any) -> __CLASS__Objective:
    return __CLASS__Objective()
''',
    "__PKG__/pipeline.py": '''
"""The ``__NAME__`` pipeline: the grid is written onto the lattice (each cell's state starts as [its value,
0, …]), the spec's propagator runs ([propagator] steps updates of the [cell]), and each cell's logit of being
alive is one shared linear readout of its final state: ``inputs [B, N]`` → ``logits [B, N]``.

A ``LatticePipeline`` (write → propagate → read): ``aa inspect`` pictures its lattice step by step."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


class __CLASS__Pipeline(nn.Module):
    input_cells: torch.Tensor  # a buffer (registered in __init__): every cell is written to

    def __init__(self, config: Any, ctx: Any):
        super().__init__()
        self.geometry, self.propagator = ctx.geometry, ctx.propagator
        self.channels = int(ctx.cell.channels)
        self.register_buffer("input_cells", torch.arange(self.geometry.num_cells), persistent=False)
        self.read = nn.Linear(self.channels, 1)

    def initial_state(self, inputs: torch.Tensor) -> torch.Tensor:
        """Grids ``[B, N]`` → the lattice state ``[B, N, C]`` before the first update."""
        rest = inputs.new_zeros(*inputs.shape, self.channels - 1)
        return torch.cat([inputs.unsqueeze(-1), rest], dim=-1)

    def readout(self, state: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """The final state ``[B, N, C]`` → each cell's logit of being alive ``[B, N]``."""
        return self.read(state).squeeze(-1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.readout(self.propagator(self.initial_state(inputs)), inputs)

    def example_batch(self, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A random batch of the lattice's size (the conformance kit trains one step on it)."""
        n = self.geometry.num_cells
        return {"inputs": (torch.rand(size, n, generator=generator) < 0.3).float(),
                "targets": (torch.rand(size, n, generator=generator) < 0.3).float()}


def build(config: Any, ctx: Any) -> __CLASS__Pipeline:
    return __CLASS__Pipeline(config, ctx)
''',
    "examples/__NAME__.toml": '''
# The __NAME__ task (generated by aa plugin new): a 3D Life-like rule, learned by a neural CA.
#   aa check examples/__NAME__.toml      validates the spec and builds the model (reads no data)
#   aa run examples/__NAME__.toml        trains, keeps the best round, tests it once: runs/<run-id>/metrics.json
[dataset]
name = "__NAME__"
size = [6, 6, 6]          # the grid: the same as [geometry] size (aa check says so when they differ)
density = 0.3
born = [6]                # Bays' 3D Life 5766: born with 6 live neighbours, survives with 5–7
survive = [5, 6, 7]
steps = 1
examples = 600

[geometry]
name = "lattice"
size = [6, 6, 6]
neighbourhood = 26        # the rule counts all 26 neighbours

[cell]
name = "mlp"
channels = 8
hidden = 64

[propagator]
name = "nca"
steps = 1                 # one lattice update per update of the rule (dataset.steps)

[pipeline]
name = "__NAME__"

[train]                   # about 10 CPU-seconds: every test cell right (the rule learned) within ~20 epochs
epochs = 30
batch_size = 32
lr = 1e-2
patience = 10

[run]
tasks = ["train", "test"]
''',
    "tests/test___NAME__.py": '''
"""The ``__NAME__`` task: its rule, its dataset, objective and pipeline through the AA conformance kit, the
spec's cross-component check, and serving one grid."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aa_core import SpecError, load_spec
from aa_core.conformance import build_registered, check_dataset, check_objective, check_pipeline
from aa_core.protocols import DescribedDataset, LatticePipeline, PicturedDataset, ServableDataset
from aa_core.run import build_model

from __PKG__.data import rule_step

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "__NAME__.toml"


def test_the_rule_counts_the_26_neighbours():
    grid = torch.zeros(1, 5, 5, 5)
    for x, y, z in [(1, 2, 2), (3, 2, 2), (2, 1, 2), (2, 3, 2), (2, 2, 1), (2, 2, 3)]:
        grid[0, x, y, z] = 1  # six live cells around a dead one: it comes alive; each of them has 4 live neighbours and dies
    expected = torch.zeros(1, 5, 5, 5)
    expected[0, 2, 2, 2] = 1
    assert torch.equal(rule_step(grid, born=[6], survive=[5, 6, 7]), expected)
    assert rule_step(torch.ones(1, 3, 3, 3), born=[], survive=[7])[0, 0, 0, 0] == 1  # a corner has 7 neighbours inside


def test_the_dataset_passes_the_kit_and_is_fixed_by_its_seed():
    data, _ = build_registered("dataset", "__NAME__")
    check_dataset(data)
    assert isinstance(data, DescribedDataset) and isinstance(data, ServableDataset) and isinstance(data, PicturedDataset)
    assert data.sizes() == {"train": 420, "validation": 90, "test": 90}
    batch = data.batch("test", torch.tensor([0, 3]))
    assert batch["inputs"].shape == batch["targets"].shape == (2, 216)
    assert build_registered("dataset", "__NAME__")[0].hash == data.hash != build_registered("dataset", "__NAME__", {"seed": 1})[0].hash


def test_the_objective_and_the_pipeline_pass_the_kit():
    objective, _ = build_registered("objective", "__NAME__")
    check_objective(objective)
    pipeline, _ = build_registered("pipeline", "__NAME__")
    assert isinstance(pipeline, LatticePipeline)  # write → propagate → read: aa inspect pictures it
    check_pipeline(pipeline)


def test_the_example_builds_and_reports_the_declared_metrics():
    model, ctx = build_model(load_spec(str(EXAMPLE)))
    data, objective = ctx.build("dataset"), ctx.build("objective")
    loss = objective.training_loss(model, data.batch("train", torch.arange(4)))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert set(objective.validation_metrics(model, data)) == set(objective.metrics)


def test_a_dataset_size_that_disagrees_with_the_geometry_is_refused_before_anything_is_built():
    with pytest.raises(SpecError) as err:
        load_spec(str(EXAMPLE), ["geometry.size=[5,6,6]"])
    (problem,) = err.value.problems
    assert problem.path == "dataset.size" and "geometry.size = [5, 6, 6]" in problem.message


def test_one_grid_is_served():
    model, ctx = build_model(load_spec(str(EXAMPLE)))
    data = ctx.build("dataset")
    grid = data.batch("test", torch.tensor([0]))["inputs"][0].reshape(data.size).int().tolist()
    x = data.parse_input(grid)
    model.eval()
    with torch.no_grad():
        answer = data.prediction(model(x[None]), x)
    assert json.loads(json.dumps(answer)) == answer and len(answer["grid"]) == data.size[0]
    with pytest.raises(ValueError):
        data.parse_input([[0, 2]])


def test_an_example_and_its_prediction_are_pictured_as_voxels():
    data, _ = build_registered("dataset", "__NAME__")
    pictures = data.example_picture(0, "test")
    assert set(pictures) == {"input", "target"} and pictures["input"].kind == "classes"
    assert tuple(pictures["target"].data.shape) == data.size
    target = data.batch("test", torch.tensor([0]))["targets"]
    assert data.prediction_picture(target * 20 - 10, 0, "test").caption.endswith("0 cells wrong")  # the right logits
''',
    "tests/test_run.py": '''
"""`aa run examples/__NAME__.toml` for real: it trains, keeps the best round and tests it once (metrics.json)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "__NAME__.toml"


def test_aa_run_trains_and_tests(tmp_path):
    where = {"run.output_dir": tmp_path / "runs", "run.checkpoint_dir": tmp_path / "checkpoints"}
    sets = [a for key, path in where.items() for a in ("--set", f"{key}={json.dumps(str(path))}")]
    r = subprocess.run([sys.executable, "-m", "aa_core.cli", "run", str(EXAMPLE), *sets, "--set", "train.epochs=2",
                        "--set", "run.progress=false"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (run,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["selected"] == "val_accuracy" and len(metrics["history"]) == 2
    assert {"test_loss", "test_accuracy", "test_exact"} <= set(metrics["test"])
    assert 0 <= metrics["test"]["test_accuracy"] <= 1
''',
}
_BY_KIND["task"] = _TASK
