"""Every registered component, core or plugin, passes the conformance kit (as timm tests every model)."""
from __future__ import annotations

import pytest

from aa_core.conformance import build_registered, check_component
from aa_core.host import PluginHost

COMPONENTS = [(r.component.kind, r.component.name) for r in PluginHost().all_components()]


@pytest.mark.parametrize("kind,name", COMPONENTS, ids=[f"{k}.{n}" for k, n in COMPONENTS])
def test_component_conforms(kind, name):
    obj, ctx = build_registered(kind, name)
    check_component(kind, obj, ctx)
