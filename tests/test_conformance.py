"""Every declared component, core or plugin, passes the conformance kit (as timm tests every model).

The list comes from installed metadata, so a plugin that fails to import makes its declared
components fail here (it is not skipped); every cell also runs the nca propagator's
fast-vs-reference check.
"""
from __future__ import annotations

import pytest

from aa_core.conformance import build_registered, check_component, check_nca_paths
from aa_core.host import PluginHost

HOST = PluginHost()
COMPONENTS = sorted(HOST.declared())
CELLS = [name for kind, name in COMPONENTS if kind == "cell"]


@pytest.mark.parametrize("kind,name", COMPONENTS, ids=[f"{k}.{n}" for k, n in COMPONENTS])
def test_component_conforms(kind, name):
    HOST.get(kind, name)  # a plugin that cannot be loaded fails here, naming its error
    obj, ctx = build_registered(kind, name)
    check_component(kind, obj, ctx)


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("neighbourhood,boundary", [(6, "zero"), (26, "periodic")])
def test_cell_fast_path_matches_reference(name, neighbourhood, boundary):
    check_nca_paths(name, neighbourhood=neighbourhood, boundary=boundary, size=(4, 3, 3))
