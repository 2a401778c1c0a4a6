"""Plugin host: lazy loading, broken plugins isolated, duplicate registrations named."""
from __future__ import annotations

import sys

import pytest

from aa_core import PluginError
from aa_core.host import KINDS, PluginHost, PluginInfo

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
    declared = {(k, n, p.distribution) for (k, n), ps in host.declared().items() for p in ps if k in KINDS}
    assert not host.load_errors, host.load_errors
    assert registered == declared
    # tasks and sections are declared optionally; a declared one is registered by its plugin
    tasks = {("task", name, info.distribution) for name, (_, info) in host.tasks().items()}
    sections = {("section", name, info.distribution) for name, (_, info) in host.sections().items()}
    extra = {(k, n, p.distribution) for (k, n), ps in host.declared().items() for p in ps if k not in KINDS}
    assert extra and extra <= tasks | sections, extra - (tasks | sections)


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


MISSPELT = '''
import attrs
from aa_core.plugin import Component, hookimpl

@attrs.define
class Cfg:
    channels: int = 4

@hookimpl
def aa_component():
    return [Component("cell", "spelt", Cfg, "aa_core.builtins.mlp:build")]
'''

UNDECORATED = '''
def aa_components():
    return []
'''

NO_FOLDER = '''
from pathlib import Path
from aa_core.plugin import hookimpl

@hookimpl
def aa_architectures():
    return [Path(__file__).parent / "architectures"]
'''


def test_misspelt_hook_is_a_load_error(modules):
    name = modules("plug_misspelt", MISSPELT)
    host = PluginHost([info(name, "dist-misspelt", [("cell", "spelt")])])
    assert not host.load(host.plugins[0])
    assert "aa_component" in host.load_errors[f"dist-misspelt:{name}"]


def test_undecorated_hook_is_a_load_error(modules):
    name = modules("plug_undecorated", UNDECORATED)
    host = PluginHost([info(name, "dist-undecorated", [])])
    assert not host.load(host.plugins[0])
    assert "not decorated with @hookimpl" in host.load_errors[f"dist-undecorated:{name}"]


def test_entry_point_and_hook_names_must_match(modules):
    name = modules("plug_lenia", GOOD.format(name="lenia"))
    host = PluginHost([info(name, "dist-lenia", [("cell", "lenya")])])
    assert not host.load(host.plugins[0])
    err = host.load_errors[f"dist-lenia:{name}"]
    assert "dist-lenia" in err and "cell.lenya" in err and "did you mean 'lenia'" in err


def test_missing_architecture_folder_is_a_load_error(modules):
    name = modules("plug_nofolder", NO_FOLDER)
    host = PluginHost([info(name, "dist-nofolder", [])])
    assert not host.load(host.plugins[0])
    assert "does not exist" in host.load_errors[f"dist-nofolder:{name}"] and "package-data" in host.load_errors[f"dist-nofolder:{name}"]


def test_plugins_load_exits_2_naming_a_broken_plugin(tmp_path, aa):
    """`aa plugins --load` with a real installed distribution whose entry point names a cell its hook does not return."""
    import subprocess

    src = tmp_path / "src"
    (src / "aa_broken_ep").mkdir(parents=True)
    (src / "aa_broken_ep" / "__init__.py").write_text(GOOD.format(name="lenia"))
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "aa-broken-ep"\nversion = "0.1"\n'
        '[project.entry-points."aa.plugins"]\nbroken = "aa_broken_ep"\n'
        '[project.entry-points."aa.components"]\n"cell.lenya" = "aa_broken_ep"\n'
    )
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    import os

    r = aa("plugins", "--load", env={"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])})
    assert r.returncode == 2
    assert "aa-broken-ep" in r.stderr and "cell.lenya" in r.stderr and "Traceback" not in r.stderr


def test_the_first_party_list_is_generated_from_the_plugin_pyprojects():
    """aa_core/host/_first_party.py is what scripts/first_party.py makes of the repository's pyprojects (no hand-kept copy)."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(repo / "scripts" / "first_party.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from aa_core.host import FIRST_PARTY, first_party_provider

    assert first_party_provider("cell", "gmlp") == ("aa-gmlp", "plugins/gmlp") and "aa-qa" in FIRST_PARTY


def test_an_unknown_component_names_a_plugin_that_failed_to_load(tmp_path, aa):
    """A distribution whose ``aa.plugins`` entry point misspells its module: a spec naming its cell is told why it is unknown."""
    pkg = tmp_path / "pkg"
    (pkg / "aa_lenia").mkdir(parents=True)
    (pkg / "aa_lenia" / "__init__.py").write_text("")
    (pkg / "aa_lenia" / "_plugin.py").write_text(GOOD.format(name="lenia"))
    dist = pkg / "aa_lenia-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: aa-lenia\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[aa.plugins]\nlenia = aa_lenia._plugn\n\n[aa.components]\ncell.lenia = aa_lenia._plugin\n")
    spec = tmp_path / "lenia.toml"
    spec.write_text('[geometry]\nsize = [2, 2, 2]\n\n[cell]\nname = "lenia"\n')
    r = aa("check", str(spec), env={"PYTHONPATH": str(pkg)})
    assert r.returncode == 2, r.stdout + r.stderr
    assert "unknown cell 'lenia'" in r.stderr and "Traceback" not in r.stderr
    assert "plugin 'aa-lenia' failed to load: ModuleNotFoundError: No module named 'aa_lenia._plugn'" in r.stderr
