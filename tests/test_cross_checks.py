"""Cross-component checks (``CrossCheckedConfig.check_with(spec)``): a config checks itself against the other tables
when the spec is validated, once every table is valid on its own, so `aa check`, `aa run` and `aa sweep` exit 2 on a
dataset that does not fit the geometry before anything is built, read or written (issue 34, item 5)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from aa_core import SpecError, validate
from aa_core.host import PluginHost, PluginInfo, scan
from aa_core.lattice.config import LatticeConfig
from aa_core.lattice.geometry import Lattice
from aa_core.protocols import CrossCheckedConfig

REPO = Path(__file__).resolve().parents[1]
ARC_DATA = REPO.parent / "shared" / "data" / "1d-arc" / "dataset"

CROSS = '''
import attrs
from aa_core.plugin import Component, LatticeConfig, hookimpl

CALLS = []

@attrs.define
class GridConfig:
    size: list[int] = attrs.field(factory=lambda: [4, 4, 3])
    features: int = 1

    def check(self):
        if self.features < 1:
            yield "features", "must be at least 1"

    def check_with(self, spec):
        CALLS.append(spec.name("geometry"))
        geometry = spec.config("geometry")
        if isinstance(geometry, LatticeConfig) and list(geometry.lattice_size()) != self.size:
            yield "geometry.size", f"{geometry.size} differs from dataset.size = {self.size}"

@hookimpl
def aa_components():
    return [Component("dataset", "crossgrid", GridConfig, "aa_core.builtins.mlp:build")]
'''


@pytest.fixture
def cross_host(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "plug_cross.py").write_text(CROSS)
    sys.modules.pop("plug_cross", None)
    core = [p for p in scan() if p.distribution == "aa-core"]  # the core's lattice, cell and tasks beside it
    host = PluginHost([*core, PluginInfo("plug_cross", "plug_cross", "dist-cross", "1.0", (("dataset", "crossgrid"),))])
    return host, lambda: sys.modules["plug_cross"].CALLS


def spec(**dataset):
    return {"geometry": {"name": "lattice", "size": [4, 4, 3]}, "dataset": {"name": "crossgrid", **dataset}}


def test_a_config_checks_itself_against_the_other_tables(cross_host):
    host, calls = cross_host
    assert validate(spec(), plugins=host).name("dataset") == "crossgrid"
    with pytest.raises(SpecError) as err:
        validate(spec(size=[4, 4, 4]), "<cross>", plugins=host)
    (problem,) = err.value.problems
    assert problem.path == "geometry.size" and "dataset.size = [4, 4, 4]" in problem.message
    assert calls() == ["lattice", "lattice"]
    from aa_core.builtins.configs import MLPCellConfig

    assert isinstance(MLPCellConfig(), CrossCheckedConfig) is False
    assert isinstance(host.get("dataset", "crossgrid").component.config(), CrossCheckedConfig)


def test_it_runs_only_once_every_table_is_valid_on_its_own(cross_host):
    host, calls = cross_host
    with pytest.raises(SpecError) as err:
        validate({**spec(size=[9, 9, 9], features=0), "cell": {"name": "mlp", "channels": "x"}}, plugins=host)
    assert sorted(p.path for p in err.value.problems) == ["cell.channels", "dataset.features"]  # the table problems, alone
    assert calls() == []


@pytest.mark.parametrize("config", [dict(size=[40, 1, 1]), dict(size=[10, 7, 3], scale_factor=0.35), dict(size=[5, 6, 7], scale_factor=0.5)])
def test_the_lattice_config_knows_its_size_and_faces_without_building(config):
    cfg = LatticeConfig(**config)
    built = Lattice(cfg)
    assert cfg.lattice_size() == built.size
    for face in ("x0", "y1", "z0"):
        assert cfg.face_shape(face) == built.face_shape(face)


# -- the CA tasks and aa-digits: refused by `aa check` and `aa run` before any data is read or anything written ---------------

def _where(tmp: Path) -> list[str]:
    return ["--set", f"run.checkpoint_dir={json.dumps(str(tmp / 'ck'))}", "--set", f"run.output_dir={json.dumps(str(tmp / 'runs'))}"]


REFUSED = {  # spec, overrides, plugin → words the one problem must hold (both keys it relates)
    "mnist1d": ("examples/ca/mnist1d.toml", ["geometry.size=[39,1,1]"], "aa_ca",
                ["geometry.size: [39, 1, 1] (39 cells", "mnist1d", "40 positions"]),
    "mnist1d-face": ("examples/ca/mnist1d.toml", ["geometry.size=[8,4,2]", 'pipeline.place="input_face"'], "aa_ca",
                     ["geometry.size: [8, 4, 2], whose input face z0 has 8×4 = 32 cells", "mnist1d"]),
    "mnist1d-mlp": ("examples/ca/mnist1d_mlp.toml", ["pipeline.inputs=39"], "aa_ca", ["pipeline.inputs: is 39", "mnist1d"]),
    "digits": ("examples/ca/self_classify.toml", ["geometry.size=[8,8,2]"], "aa_ca", ["geometry.size: [8, 8, 2] (128 cells", '"digits"', "64"]),
    "arc1d-features": ("examples/ca/arc1d.toml", ['pipeline.write="linear"', "pipeline.in_features=3"], "aa_ca",
                       ["pipeline.in_features: is 3", "arc1d", "10 features"]),
    "emoji": ("examples/ca/emoji_growth.toml", ["geometry.size=[40,40,1]"], "aa_ca",
              ["geometry.size: is [40, 40, 1]", "48×48 plane (dataset.grid = 48)"]),
    "aa-digits": ("examples/digits.toml", ["geometry.size=[8,1,2]"], "aa_digits", ["geometry.size: [8, 1, 2]", "input face z0", "face_consensus"]),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize("command", ["check", "run"])
def test_a_shape_that_disagrees_with_the_geometry_exits_2_before_anything_is_read_or_written(case, command, aa, tmp_path):
    path, overrides, plugin, words = REFUSED[case]
    pytest.importorskip(plugin)
    r = aa(command, str(REPO / path), *[a for o in overrides for a in ("--set", o)], *_where(tmp_path), cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "1 problem in spec" in r.stderr and "Traceback" not in r.stderr
    for word in words:
        assert word in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []  # no run folder, and no data read: MNIST-1D would be cached in ./.aa_cache
    assert r.stdout == ""  # refused before the model was built and described


def test_the_unchanged_examples_pass(aa, tmp_path):
    pytest.importorskip("aa_ca")
    for path, overrides in (("examples/ca/mnist1d.toml", ["geometry.size=[41,1,1]"]), ("examples/ca/self_classify.toml", []),
                            ("examples/ca/mnist1d.toml", ["geometry.size=[10,4,2]", 'pipeline.place="snake"'])):
        r = aa("check", str(REPO / path), *[a for o in overrides for a in ("--set", o)], cwd=tmp_path)
        assert r.returncode == 0, r.stderr


@pytest.mark.skipif(not ARC_DATA.is_dir(), reason="the 1D-ARC data is not beside the repository")
def test_a_1d_arc_row_longer_than_the_line_is_refused_when_the_data_is_read_before_the_run_folder(aa, tmp_path):
    """The row length is the task's data, so the dataset checks it when it is built: still before a model or a folder exists."""
    pytest.importorskip("aa_ca")
    r = aa("run", str(REPO / "examples/ca/arc1d.toml"), "--set", "geometry.size=[20,1,1]", *_where(tmp_path), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "geometry.size = [20, 1, 1] (20 cells" in r.stderr and "longest row of 1D-ARC task 1d_move_1p ([dataset] task)" in r.stderr
    assert list(tmp_path.iterdir()) == []
