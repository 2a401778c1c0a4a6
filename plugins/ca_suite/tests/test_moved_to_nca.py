"""What moved to aa-nca keeps working from its old import path for one more minor release (the deprecation
policy, docs/write-a-cell.md §11): each old module warns, naming the new path and the release that removes it,
and re-exports the same objects; the suite's own modules import from the new places (no warning)."""
from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

MOVED = {"aa_ca.nca_cell": ("aa_nca.cell", "GrowingNCACell"), "aa_ca.nca_cell_kernel": ("aa_nca.cell_kernel", "depthwise_perception"),
         "aa_ca.pool": ("aa_nca.pool", "SamplePool"), "aa_ca.growth": ("aa_nca.growth", "GrowthDataset")}
SUITE = ["aa_ca._plugin", "aa_ca._plugin_growth", "aa_ca.report", "aa_ca.mnist1d_objective", "aa_ca.digits_objective",
         "aa_ca.arc1d_objective", "aa_ca.growth_objectives", "aa_ca.mnist1d_task", "aa_ca.digits_task", "aa_ca.arc1d_task",
         "aa_ca.voxel", "aa_ca.emoji", "aa_ca.baselines", "aa_ca.classifier", "aa_ca.growth_metrics", "aa_ca.dataset_settings",
         "aa_ca._extras", "aa_ca.classifier_config", "aa_ca.growth_config"]


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_warns_and_reexports(old, monkeypatch):
    new, name = MOVED[old]
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning) as caught:
        module = importlib.import_module(old)
    message = str(caught[0].message)
    assert old in message and new in message and "removed in aa-ca-suite 0.3" in message
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


@pytest.mark.parametrize("name", ["GrowingNCACellConfig", "GrowthConfig", "GrowthObjectiveConfig"])
def test_moved_configs_warn_from_the_old_module(name):
    import aa_ca.growth_config as old
    import aa_nca.config as new

    with pytest.warns(DeprecationWarning, match=rf"aa_ca.growth_config.{name} .*removed in aa-ca-suite 0.3.*aa_nca.config"):
        assert getattr(old, name) is getattr(new, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert old.PoolConfig is new.PoolConfig  # the voxel/emoji configs' base: imported there, no warning
    with pytest.raises(AttributeError):
        old.NoSuchConfig  # noqa: B018


def test_the_suite_imports_from_the_new_places():
    """Every module of the suite imported (and the growth components built) in a fresh process where the old
    paths' DeprecationWarnings (they start with "aa_ca.") are errors, none of the old modules among what it loaded."""
    code = (f"import sys, importlib\nfor m in {SUITE!r}:\n    importlib.import_module(m)\n"
            "from aa_core.run import BuildContext, validate\n"
            "raw = {'geometry': {'name': 'lattice', 'size': [3, 3, 3]}, 'cell': {'name': 'growing_nca', 'channels': 4},"
            " 'propagator': {'name': 'nca'}, 'pipeline': {'name': 'growth', 'steps': [1, 2]}}\n"
            "BuildContext(validate(raw, source='x')).build('pipeline')\n"
            f"print(sorted(m for m in {sorted(MOVED)!r} if m in sys.modules))\n")
    r = subprocess.run([sys.executable, "-W", "error:aa_ca:DeprecationWarning", "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == "[]"
