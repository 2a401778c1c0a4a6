"""Every declared component, core or plugin, passes the conformance kit (as timm tests every model).

The list comes from installed metadata, so a plugin that fails to import makes its declared
components fail here (it is not skipped); every cell also runs the nca propagator's
fast-vs-reference check.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from aa_core.conformance import build_registered, check_component, check_nca_paths
from aa_core.host import KINDS, MULTI_KINDS, PluginHost

REPO = Path(__file__).resolve().parents[1]

HOST = PluginHost()
COMPONENTS = sorted(k for k in HOST.declared() if k[0] in KINDS + MULTI_KINDS)  # a plugin may also declare its tasks and sections
CELLS = [name for kind, name in COMPONENTS if kind == "cell"]


# Sections a component needs beside its own table to be built (the Q→A pairs come from [data]).
BASE = {("dataset", "qa_pairs"): {"data": {"path": str(REPO / "examples" / "data" / "ml_qa.jsonl")}}}
# Datasets whose data is not shipped: their config points at ../shared/data, where CI and the developers have it.
SHARED = REPO.parent / "shared" / "data"
EXTERNAL = {("dataset", "arc1d"): {"path": str(SHARED / "1d-arc" / "dataset")},
            ("dataset", "voxel_growth"): {"path": str(SHARED / "voxel-artefacts" / "caterpillar_short.nbt")}}
# Settings a component needs without a dataset to take them from.
CONFIG = {("pipeline", "flat_mlp"): {"inputs": [5, 2], "outputs": [3]}}
# Not shipped either: the emoji target is rendered from Debian's font (`.ci/run` installs it after the Quick start's pytest).
FONTS = [Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"), Path("/usr/share/fonts/noto/NotoColorEmoji.ttf")]


@pytest.mark.parametrize("kind,name", COMPONENTS, ids=[f"{k}.{n}" for k, n in COMPONENTS])
def test_component_conforms(kind, name):
    HOST.get(kind, name)  # a plugin that cannot be loaded fails here, naming its error
    config = EXTERNAL.get((kind, name))
    if config is not None and not Path(config["path"]).exists():
        pytest.skip(f"{kind} {name}: its data ({config['path']}) is not on this machine")
    if (kind, name) == ("dataset", "emoji_growth") and not any(f.exists() for f in FONTS):
        pytest.skip("dataset emoji_growth: Noto Color Emoji is not installed (apt-get install fonts-noto-color-emoji)")
    obj, ctx = build_registered(kind, name, config or CONFIG.get((kind, name)), base=BASE.get((kind, name)))
    check_component(kind, obj, ctx)


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("neighbourhood,boundary", [(6, "zero"), (26, "periodic")])
def test_cell_fast_path_matches_reference(name, neighbourhood, boundary):
    check_nca_paths(name, neighbourhood=neighbourhood, boundary=boundary, size=(4, 3, 3))
