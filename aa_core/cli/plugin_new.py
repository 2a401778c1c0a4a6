"""`aa plugin new NAME --kind KIND`: write a complete, installable plugin distribution ``aa-NAME/``.

The generated package follows the layout of the first-party plugins (see CONTRIBUTING.md):
a torch-free hook module, an attrs config, the torch module with its ``build`` factory, tests
that run the conformance kit, an ``aa check``-able example spec and a README. It installs with
pip and passes its own tests untouched.
"""
from __future__ import annotations

import argparse
import keyword
import shutil
from pathlib import Path
from typing import Any

from .._api import default_range
from .._errors import UserError

KINDS = ("cell", "propagator", "adapter", "decoder")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("plugin", help="plugin authoring tools (aa plugin new)")
    psub = p.add_subparsers(dest="plugin_command", metavar="SUBCOMMAND", parser_class=type(p))
    new = psub.add_parser("new", help="write a new plugin distribution aa-NAME/ from a template")
    new.add_argument("name", metavar="NAME", help="component and package name (a Python identifier, e.g. mycell)")
    new.add_argument("--kind", choices=KINDS, default="cell", help="kind of component (default: cell)")
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
"__KIND__.__NAME__" = "__PKG__._plugin"

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
