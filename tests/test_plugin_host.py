"""Plugin host: lazy loading, broken plugins isolated, duplicate registrations named."""
from __future__ import annotations

import sys

import pytest

from aa_core import PluginError
from aa_core.host import PluginHost, PluginInfo

GOOD = '''
import attrs
from aa_core import Component, hookimpl

@attrs.define
class Cfg:
    channels: int = 4

@hookimpl
def aa_components():
    return [Component("cell", "{name}", Cfg, "aa_core.builtins.mlp:build")]
'''


@pytest.fixture
def modules(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, text: str) -> str:
        (tmp_path / f"{name}.py").write_text(text)
        sys.modules.pop(name, None)
        return name

    return write


def info(module: str, dist: str, comps) -> PluginInfo:
    return PluginInfo(module, module, dist, "1.0", tuple(comps))


def test_broken_plugin_is_reported_and_others_work(modules):
    good = modules("plug_good", GOOD.format(name="goodcell"))
    bad = modules("plug_bad", "raise ImportError('needs libfoo')\n")
    host = PluginHost([info(good, "dist-good", [("cell", "goodcell")]), info(bad, "dist-bad", [("cell", "badcell")])])
    assert host.get("cell", "goodcell").plugin.distribution == "dist-good"
    with pytest.raises(PluginError) as e:
        host.get("cell", "badcell", "cell.name")
    msg = str(e.value.problems[0])
    assert "dist-bad" in msg and "needs libfoo" in msg


def test_duplicate_registration_names_both_distributions(modules):
    a = modules("plug_a", GOOD.format(name="same"))
    b = modules("plug_b", GOOD.format(name="same"))
    host = PluginHost([info(a, "dist-a", [("cell", "same")]), info(b, "dist-b", [("cell", "same")])])
    with pytest.raises(PluginError) as e:
        host.get("cell", "same")
    assert "dist-a" in str(e.value) and "dist-b" in str(e.value)


def test_undeclared_component_is_a_load_error(modules):
    a = modules("plug_c", GOOD.format(name="twin"))
    b = modules("plug_d", GOOD.format(name="twin"))
    host = PluginHost([info(a, "dist-c", [("cell", "twin")]), info(b, "dist-d", [])])
    assert host.load(host.plugins[0])
    assert not host.load(host.plugins[1])
    err = host.load_errors["dist-d:" + b]
    assert "dist-d" in err and "cell.twin" in err and "do not declare it" in err
    assert host.get("cell", "twin").plugin.distribution == "dist-c"  # the declared one still works


def test_plugin_not_imported_until_used(modules):
    name = modules("plug_lazy", GOOD.format(name="lazycell"))
    host = PluginHost([info(name, "dist-lazy", [("cell", "lazycell")])])
    assert host.names("cell") == ["lazycell"]
    assert name not in sys.modules
    host.get("cell", "lazycell")
    assert name in sys.modules


def test_declared_component_matches_registered_for_installed_plugins():
    host = PluginHost()
    registered = {(r.component.kind, r.component.name, r.plugin.distribution) for r in host.all_components()}
    declared = {(k, n, p.distribution) for (k, n), ps in host.declared().items() for p in ps}
    assert not host.load_errors, host.load_errors
    assert registered == declared


@pytest.mark.parametrize("dist,cell", [("aa-gmlp", "gmlp"), ("aa-cct", "cct"), ("aa-ret", "ret")])
def test_missing_first_party_cell_names_its_distribution(dist, cell):
    """With a first-party plugin absent, a spec naming its cell says which package to install."""
    from aa_core import SpecError
    from aa_core.host import scan
    from aa_core.spec import validate

    host = PluginHost([p for p in scan() if p.distribution != dist])
    with pytest.raises(SpecError) as e:
        validate({"cell": {"name": cell}}, "spec.toml", plugins=host)
    text = e.value.render()
    assert "cell.name" in text and dist in text and f"pip install plugins/{cell}" in text
