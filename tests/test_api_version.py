"""The versioned plugin API: API_VERSION, each plugin's declared aa-core range (listed, enforced at
load time so that only the specs using an out-of-range plugin fail, by name), `aa --version`, and the
deprecation policy (every deprecated name names its removal release; none outlives it)."""
from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.version import Version

import aa_core
from aa_core._api import API_VERSION, core_range, default_range, incompatibility

REPO = Path(__file__).resolve().parents[1]

LATTICE_ONLY = "[geometry]\nsize = [4, 4, 4]\n[cell]\nname = \"mlp\"\nchannels = 4\nhidden = 8\n"


def test_api_version_is_semver_and_public():
    from aa_core.plugin import API_VERSION as public

    assert public == API_VERSION and re.fullmatch(r"\d+\.\d+\.\d+", API_VERSION)


@pytest.mark.parametrize("core,expected", [("0.1.0", ">=0.1,<0.3"), ("0.4.2", ">=0.4,<0.6"), ("1.3.0", ">=1.3,<2"), ("0.0.0+source", ">=0.1,<0.3")])
def test_default_range(core, expected):
    assert default_range(core) == expected


def test_incompatibility_names_the_plugin_its_range_and_the_core():
    assert incompatibility("aa-x", "1.0", ">=0.1,<0.3", core="0.2.5") is None
    assert incompatibility("aa-x", "1.0", "", core="7.0") is None
    msg = incompatibility("aa-x", "1.0", ">=0.1,<0.3", core="0.3.0")
    assert msg and "aa-x" in msg and ">=0.1,<0.3" in msg and "0.3.0" in msg and API_VERSION in msg
    assert "aa-x" in incompatibility("aa-x", "1.0", "~~0.1", core="0.1.0")  # an invalid range is named, not a crash


# --- a real plugin built for another core -------------------------------------------------------

# A spec section and two tasks added to the generated plugin: `futuresec` and `futuretask` declared in
# its metadata ("section.futuresec", "task.futuretask"), `futurehidden` not.
FUTURE_HOOKS = '''

import attrs

from aa_core.plugin import Section, Task


@attrs.define
class FutureSecConfig:
    x: int = 1


@hookimpl
def aa_spec_sections():
    return [Section("futuresec", FutureSecConfig, "a section of the future plugin", optional=True)]


@hookimpl
def aa_tasks():
    return [Task("futuretask", "aa_core.tasks:describe_task", "a task of the future plugin"),
            Task("futurehidden", "aa_core.tasks:describe_task", "a task its metadata does not declare")]
'''


@pytest.fixture(scope="module")
def future_plugin(tmp_path_factory, aa_session):
    """`aa plugin new futurecell` plus a section and tasks, declaring aa-core>=9.0,<10, pip-installed into its own folder."""
    run_aa = aa_session
    src = tmp_path_factory.mktemp("src")
    site = tmp_path_factory.mktemp("site")
    r = run_aa("plugin", "new", "futurecell", "--kind", "cell", "--dir", str(src))
    assert r.returncode == 0, r.stderr
    root = src / "aa-futurecell"
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    assert f'"aa-core{default_range(aa_core.__version__)}"' in text  # the template declares the current range
    text = re.sub(r'"aa-core[^"]*"', '"aa-core>=9.0,<10"', text)
    entry = '"cell.futurecell" = "aa_futurecell._plugin"\n'
    assert entry in text
    pyproject.write_text(text.replace(entry, entry + '"section.futuresec" = "aa_futurecell._plugin"\n"task.futuretask" = "aa_futurecell._plugin"\n'))
    hooks = root / "aa_futurecell" / "_plugin.py"
    hooks.write_text(hooks.read_text() + FUTURE_HOOKS)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(root)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return root, {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_plugins_lists_the_range_and_flags_it_without_importing(future_plugin, aa):
    _, env = future_plugin
    r = aa("plugins", env=env)
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if " futurecell " in line)
    assert "aa-futurecell" in row and "<10,>=9.0" in row and row.rstrip().endswith("incompatible")
    assert "INCOMPATIBLE: plugin 'aa-futurecell'" in r.stdout
    data = json.loads(aa("plugins", "--json", env=env).stdout)
    assert data["api_version"] == API_VERSION and data["core"] == aa_core.__version__
    rows = {r["distribution"]: r["aa_core"] for r in data["components"]}
    assert rows["aa-futurecell"] == "<10,>=9.0" and rows["aa-core"] == "(core)"
    assert rows["aa-gmlp"] == (core_range(metadata.distribution("aa-gmlp")) or "any")


def test_only_specs_using_it_fail_naming_plugin_range_and_core(future_plugin, aa, tmp_path):
    root, env = future_plugin
    r = aa("check", str(root / "examples" / "futurecell.toml"), env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "aa-futurecell" in r.stderr and "<10,>=9.0" in r.stderr and f"installed aa-core is {aa_core.__version__}" in r.stderr, r.stderr
    spec = tmp_path / "other.toml"
    spec.write_text(LATTICE_ONLY)
    r = aa("check", str(spec), env=env)
    assert r.returncode == 0, r.stderr
    r = aa("plugins", "--load", env=env)
    assert r.returncode == 2 and "aa-futurecell" in r.stderr and "IncompatiblePlugin" in r.stderr


def test_its_sections_and_tasks_fail_only_specs_using_them_naming_plugin_range_and_core(future_plugin, aa, tmp_path):
    _, env = future_plugin
    named = ("aa-futurecell", "<10,>=9.0", f"installed aa-core is {aa_core.__version__}")
    for extra, what in (("[futuresec]\nx = 2\n", "section 'futuresec' is declared but could not be loaded"),
                        ('[run]\ntasks = ["futuretask"]\n', "task 'futuretask' is declared but could not be loaded"),
                        ('[run]\ntasks = ["futurehidden"]\n', "unknown task 'futurehidden'")):  # undeclared: every plugin that did not load is named
        spec = tmp_path / "uses.toml"
        spec.write_text(LATTICE_ONLY + extra)
        r = aa("check", str(spec), env=env)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert what in r.stderr and all(n in r.stderr for n in named), r.stderr
    spec.write_text(LATTICE_ONLY + '[run]\ntasks = ["check"]\n')
    r = aa("check", str(spec), env=env)
    assert r.returncode == 0, r.stderr


def test_declared_sections_and_tasks_are_checked_when_it_loads(future_plugin):
    """The same distribution on a core in its range (its range waived here): the declared section and
    task load and work; a task its metadata declares but its hook does not return is a load error."""
    _, env = future_plugin
    code = ("import attrs; from aa_core import validate; from aa_core.host import PluginHost, scan\n"
            "ps = [attrs.evolve(p, core_range='') if p.distribution == 'aa-futurecell' else p for p in scan()]\n"
            "h = PluginHost(ps); assert not h.load_all(), h.load_errors\n"
            "spec = validate({'geometry': {'size': [3, 3, 3]}, 'futuresec': {'x': 2}, 'run': {'tasks': ['futuretask', 'futurehidden']}}, plugins=h)\n"
            "print('SECTION', spec.sections['futuresec'].x)\n"
            "bad = [attrs.evolve(p, core_range='', components=p.components + (('task', 'futuretsak'),)) if p.distribution == 'aa-futurecell' else p for p in scan()]\n"
            "print('ERRORS', PluginHost(bad).load_all())\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "SECTION 2" in r.stdout
    errors = r.stdout.split("ERRORS", 1)[1]
    assert "declares task.futuretsak in its aa.components entry points but aa_tasks does not return it" in errors and "futuretask" in errors


def test_an_out_of_range_plugin_is_never_imported(future_plugin):
    _, env = future_plugin
    code = ("import sys; from aa_core.host import PluginHost; h = PluginHost(); h.load_all();"
            "print('IMPORTED', sorted(m for m in sys.modules if m.startswith('aa_futurecell')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "IMPORTED []" in r.stdout


def test_version_lists_core_api_and_every_plugin(future_plugin, aa):
    _, env = future_plugin
    r = aa("--version", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"aa-core {aa_core.__version__} (plugin API {API_VERSION})"
    assert any(line.strip().startswith("aa-gmlp 0.1.0 (built for aa-core") for line in lines)
    assert any("aa-futurecell 0.1.0" in line and "INCOMPATIBLE" in line for line in lines)


# --- the deprecation policy ---------------------------------------------------------------------

_FIND = r"""
import importlib, json, sys, warnings
out = []
for mod in sys.argv[1:]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            out.append({"name": mod, "message": f"import failed: {exc}"}); continue
    msgs = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    out.append({"name": mod, "message": msgs[0] if msgs else None})
import aa_core.plugin as api
for name in getattr(api, "_MOVED_TO_PLUGINS", {}):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            getattr(api, name)
        except AttributeError:
            pass
    msgs = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    out.append({"name": "aa_core.plugin." + name, "message": msgs[0] if msgs else None})
from aa_core.host import host
from aa_core.spec._spec import _move_deprecated_keys
for sec, (section, _p) in host().sections().items():
    for old, new in getattr(section, "moved", {}).items():  # the warning a spec with the old key gets
        table, _, key = old.partition(".")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _move_deprecated_keys({table: {key: 1}}, host(), "spec.toml")
        msgs = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
        out.append({"name": "spec key " + old, "message": msgs[0] if msgs else None})
print(json.dumps(out))
"""


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO)
    parts = rel.with_suffix("").parts
    if parts[0] == "plugins":
        parts = parts[2:]
    return ".".join(p for p in parts if p != "__init__")


@functools.cache
def deprecated_names() -> list[dict]:
    """Every deprecated alias in the source: modules that warn when imported, names moved out of
    aa_core.plugin, spec keys that sections declare as moved; each with its warning text."""
    modules = []
    for path in [*REPO.glob("aa_core/**/*.py"), *REPO.glob("plugins/*/aa_*/**/*.py")]:
        text = path.read_text()
        if re.search(r"^warn_moved\(__name__", text, re.M) or re.search(r"^import warnings; warnings\.warn\(.*DeprecationWarning", text, re.M):
            modules.append(_module_name(path))
    assert len(modules) >= 10, modules  # the 0.1 shims are found (the scan itself works)
    r = subprocess.run([sys.executable, "-c", _FIND, *sorted(modules)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _versions() -> dict[str, Version]:
    out = {}
    for pyproject in [REPO / "pyproject.toml", *REPO.glob("plugins/*/pyproject.toml")]:
        project = tomllib.loads(pyproject.read_text())["project"]
        out[project["name"]] = Version(project["version"])
    return out


def past_due(found: list[dict], versions: dict[str, Version]) -> list[str]:
    """Problems: a deprecation that names no removal release, or one whose release has been reached."""
    problems = []
    for item in found:
        m = re.search(r"removed in (aa-[a-z0-9-]+) (\d+\.\d+(?:\.\d+)?)", item["message"] or "")
        if not m:
            problems.append(f"{item['name']}: its deprecation names no removal release ({item['message']!r})")
        elif m.group(1) not in versions:
            problems.append(f"{item['name']}: removal release names an unknown distribution {m.group(1)!r}")
        elif versions[m.group(1)] >= Version(m.group(2)):
            problems.append(f"{item['name']}: due for removal in {m.group(1)} {m.group(2)}, and the version is now {versions[m.group(1)]}; delete it "
                            "(and say so under Removed in CHANGELOG.md)")
    return problems


def test_no_deprecated_name_outlives_its_removal_release():
    found = deprecated_names()
    names = {f["name"] for f in found}
    assert {"aa_core._spec", "aa_core.configs", "aa_mamba.configs", "spec key train.contrastive_weight"} <= names
    assert past_due(found, _versions()) == []


def test_the_policy_check_fails_once_a_release_is_reached():
    found = deprecated_names()
    versions = _versions()
    at_removal = {**versions, "aa-core": Version("0.3.0"), "aa-mamba": Version("0.3.0")}
    problems = past_due(found, at_removal)
    assert any(p.startswith("aa_core._spec: due for removal in aa-core 0.3") for p in problems)
    assert any(p.startswith("aa_mamba.configs: due for removal in aa-mamba 0.3") for p in problems)
    assert any(p.startswith("spec key train.contrastive_weight: due for removal in aa-core 0.3") for p in problems)
    assert past_due([{"name": "x", "message": "x is deprecated"}], versions) == ["x: its deprecation names no removal release ('x is deprecated')"]
