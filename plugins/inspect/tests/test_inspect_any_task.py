"""aa inspect on a task that is not Q→A: a small classification dataset (tests/task_plugin, installed for the test
as a user installs one) trained by the core's `train` task, pictured by example index; bad input exits 2."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from aa_inspect.cli import summary
from aa_inspect.lattice_view import not_lattice_pipeline

# The core tests' task plugin (tests/task_plugin): four classes of random vectors (the class is where the
# largest of the first four features is); it owns its loss and metric (TaskObjective) and describes examples
# and predictions. Installed with pip into a folder of its own, as a user installs one.
TASK_PLUGIN = Path(__file__).resolve().parents[3] / "tests" / "task_plugin"

SPEC = '''
[dataset]
name = "toy_classes"

[geometry]
size = [3, 3, 3]

[cell]
name = "mlp"
channels = 4
hidden = 8

[propagator]
steps = 2

[adapter]
name = "linear"

[pipeline]
name = "direct_embedding"
embedding_dim = 8

[train]
epochs = 2
batch_size = 16
select_on = "val_accuracy"
mode = "max"
threads = 1

[run]
tasks = ["train"]
progress = false
'''


def _aa(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aa_core.cli", *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """(run folder, environment that sees the toy plugin, work folder) after `aa run` trained it."""
    tmp = tmp_path_factory.mktemp("toy")
    plugin = tmp / "site"
    shutil.copytree(TASK_PLUGIN, tmp / "src", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))  # built outside the repo
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(plugin),
                        str(tmp / "src")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (tmp / "toy.toml").write_text(SPEC)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    r = _aa("run", "toy.toml", "--set", f"run.checkpoint_dir={tmp / 'ckpt'}", "--set", f"run.output_dir={tmp / 'runs'}", env=env, cwd=tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    (run,) = list((tmp / "ckpt").iterdir())
    return run, env, tmp


PNG = b"\x89PNG\r\n\x1a\n"


def test_the_toy_dataset_pictures_its_examples_side_by_side(toy_run):
    """The toy dataset is a PicturedDataset: beside the lattice view, input | target | prediction and the prediction per step."""
    run, env, tmp = toy_run
    r = _aa("inspect", "--checkpoint", str(run), "--index", "14", "--examples", "4", "--out", str(tmp / "side.png"), env=env, cwd=tmp)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[2:] == [f"picture: {tmp / 'side.png'}", f"examples: {tmp / 'side_examples.png'}", f"steps: {tmp / 'side_steps.png'}",
                         f"steps animation: {tmp / 'side_steps.gif'}"]  # no voxels: no 3D class grid
    from PIL import Image

    with Image.open(tmp / "side_examples.png") as im:
        assert im.format == "PNG" and im.size[1] < 2 * im.size[0]  # examples 14 and 15: the test split has 16
    with Image.open(tmp / "side_steps.gif") as im:
        assert im.format == "GIF" and im.n_frames == 3  # propagator.steps = 2


def test_a_pipeline_that_is_no_lattice_pictures_the_examples_only(toy_run):
    """flat_mlp writes nothing onto a lattice: no lattice view, but the dataset's examples side by side."""
    run, env, tmp = toy_run
    (tmp / "mlp.toml").write_text(SPEC.split("[geometry]")[0] + '[pipeline]\nname = "flat_mlp"\n\n[train]' + SPEC.split("[train]")[1])
    r = _aa("run", "mlp.toml", "--set", f"run.checkpoint_dir={tmp / 'mlp_ckpt'}", "--set", f"run.output_dir={tmp / 'runs'}", env=env, cwd=tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    (mlp,) = list((tmp / "mlp_ckpt").iterdir())
    r = _aa("inspect", "--checkpoint", str(mlp), "--index", "0", "--out", str(tmp / "mlp.png"), env=env, cwd=tmp)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("test example 0: class ") and lines[1].startswith("predicted class ")
    assert lines[2:] == [f"examples: {tmp / 'mlp_examples.png'}"] and not (tmp / "mlp.png").exists()
    assert (tmp / "mlp_examples.png").read_bytes()[:8] == PNG
    text = _aa("inspect", "--checkpoint", str(mlp), "some text", env=env, cwd=tmp)
    assert text.returncode == 2 and "PicturedDataset" in text.stderr and "Traceback" not in text.stderr


def test_inspect_a_dataset_example_of_a_classification_checkpoint(toy_run):
    run, env, tmp = toy_run
    r = _aa("inspect", "--checkpoint", str(run), "--index", "0", "--out", str(tmp / "toy.png"), env=env, cwd=tmp)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stdout.strip().splitlines()
    truth = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))[16:32, :4].argmax(1)  # the toy test split
    assert lines[0] == f"test example 0: class {int(truth[0])}"
    m = re.fullmatch(r"predicted class (\d)", lines[1])
    assert m, lines
    assert lines[2] == f"picture: {tmp / 'toy.png'}"
    assert (tmp / "toy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp / "toy.png").stat().st_size > 20_000
    # the printed class is what the checkpoint's model predicts for that example
    check = subprocess.run([sys.executable, "-c", (
        "import sys, torch; from aa_core.run import restore; r = restore(sys.argv[1]); "
        "x = r.ctx.build('dataset').batch('test', torch.tensor([0]))['inputs']; print(int(r.model(x)[0, :4].argmax()))"), str(run)],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp)
    assert check.returncode == 0, check.stderr
    assert m.group(1) == check.stdout.strip()
    val = _aa("inspect", "--checkpoint", str(run), "--index", "3", "--split", "val", "--out", str(tmp / "val.png"), env=env, cwd=tmp)
    assert val.returncode == 0, val.stderr
    assert val.stdout.startswith("validation example 3: class ")


@pytest.mark.parametrize("args, message", [
    (["--index", "16"], r"--index 16 is out of range: the test split of checkpoint .* has 16 examples; give --index from 0 to 15"),
    (["--index", "-1"], r"--index -1: give an example number from 0 up"),
    (["some text"], r"its pipeline reads inputs 8 wide but its tokenizer gives \d+-wide embeddings, so it takes no text; "
                    r"picture one of its dataset's examples instead: --index N"),
    ([], r"give what to picture: --index N"),
    (["--index", "0", "--out", "p.jpg"], r"--out p.jpg: the picture is a PNG"),
    (["--index", "0", "--out", "no/such/dir/o.png"], r"--out no/such/dir/o.png: the folder no/such/dir does not exist; create it first"),
    (["--index", "0", "--animate", "toy.toml/a.gif"], r"--animate toy.toml/a.gif: the folder toy.toml is a file, not a folder"),
    (["--index", "0", "--examples", "0"], r"--examples 0: give how many examples to picture side by side, from 1 up"),
])
def test_bad_input_exits_2_with_one_message(toy_run, args, message):
    run, env, tmp = toy_run
    r = _aa("inspect", "--checkpoint", str(run), *args, env=env, cwd=tmp)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert re.search(message, r.stderr), r.stderr
    assert not (tmp / "no").exists()  # nothing made on the way


def test_a_layer_called_readout_is_not_a_lattice_readout():
    """A pipeline whose ``readout`` is a layer (not ``readout(state, inputs)``) is refused by name, not with a TypeError."""
    class LayerReadout(nn.Module):
        def __init__(self):
            super().__init__()
            self.geometry, self.propagator, self.channels = object(), object(), 4
            self.input_cells = torch.arange(3)
            self.readout = nn.Linear(4, 2)

        def initial_state(self, inputs):
            return inputs

    assert "readout" in not_lattice_pipeline(LayerReadout())


def test_an_undescribed_output_is_summarised():
    line = summary(torch.tensor([[0.5, 2.0, -1.0]]))
    assert line == "output: shape [1, 3], min -1, mean 0.5, max 2, largest at index 1"
