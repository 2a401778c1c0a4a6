"""Checkpoints: round trip across processes, and refusal (exit 2, clear message) of bad ones."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from safetensors.torch import load_file, save_file

from aa_core import UserError
from aa_core.assemble import build_model
from aa_core.checkpoint import (
    CheckpointWarning,
    build_from_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from aa_core.spec import validate

SPEC = {"architecture": "3d_cellular@1.0", "geometry": {"size": [4, 4, 4]}, "cell": {"hidden": 16}, "propagator": {"steps": 3},
        "tokenizer": {"name": "teacher"}, "pipeline": {"name": "direct_embedding"}}


@pytest.fixture
def saved(tmp_path):
    """A small trained-looking model (random weights, not the init) saved to tmp/ckpt."""
    torch.manual_seed(1)
    spec = validate(SPEC)
    model, ctx = build_model(spec)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    model.eval()
    directory = save_checkpoint(
        tmp_path / "ckpt",
        model=model,
        spec=spec,
        metadata={"dataset_hash": "d" * 64, "training_time_s": 1.5, "hyper_parameters": {"lr": 0.01}, "metrics": {"cosine": 0.5}},
        extra_tensors={"bank": torch.arange(6.0).view(2, 3)},
        extra_json={"texts": ["a", "b"]},
    )
    return directory, model, ctx


def test_files_and_metadata(saved):
    directory, model, _ = saved
    assert sorted(p.name for p in directory.iterdir()) == ["extra.json", "metadata.json", "model.safetensors"]  # no temp files left
    meta = json.loads((directory / "metadata.json").read_text())
    assert meta["architecture"]["key"] == "3d_cellular@1.0" and len(meta["architecture"]["hash"]) == 64
    assert meta["spec"]["cell"]["hidden"] == 16 and meta["spec"]["cell"]["channels"] == 16  # resolved spec
    assert meta["plugins"]["aa-core"] and meta["metrics"] == {"cosine": 0.5} and meta["dataset_hash"] == "d" * 64
    assert meta["params"] == sum(p.numel() for p in model.parameters())
    with open(directory / "model.safetensors", "rb") as f:
        assert f.read(1) != b"\x80"  # not a pickle
    assert set(load_file(str(directory / "model.safetensors"))) == set(model.state_dict()) | {"extra/bank"}


def test_load_in_process_matches(saved):
    directory, model, ctx = saved
    ckpt = load_checkpoint(directory)
    assert ckpt.architecture == "3d_cellular@1.0" and ckpt.extra_json == {"texts": ["a", "b"]}
    assert torch.equal(ckpt.extra_tensors["bank"], torch.arange(6.0).view(2, 3))
    assert ckpt.spec.model_hash() == ckpt.metadata["model_hash"]
    again, _ = build_from_checkpoint(ckpt)
    x = torch.randn(3, ctx.embedding_dim)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))


def test_fresh_process_gives_identical_outputs(saved, tmp_path):
    directory, model, ctx = saved
    x = torch.randn(5, ctx.embedding_dim)
    save_file({"x": x}, str(tmp_path / "x.safetensors"))
    code = textwrap.dedent(
        f"""
        import torch
        from safetensors.torch import load_file, save_file
        from aa_core.checkpoint import load_checkpoint, build_from_checkpoint
        torch.set_num_threads(1)  # one thread: a fixed summation order in both processes
        model, _ = build_from_checkpoint(load_checkpoint({str(directory)!r}))
        x = load_file({str(tmp_path / 'x.safetensors')!r})["x"].clone()  # clone: 64-byte aligned like the parent's x
        with torch.no_grad():
            save_file({{"y": model(x)}}, {str(tmp_path / 'y.safetensors')!r})
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # with several threads, a loaded machine may change BLAS's split
    try:
        with torch.no_grad():
            expected = model(x)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(load_file(str(tmp_path / "y.safetensors"))["y"], expected)


def _refused(aa, directory, *needles):
    """`aa ask --checkpoint` verifies the checkpoint before anything else: exit 2, no traceback."""
    r = aa("ask", "--checkpoint", str(directory), "what is a lattice?")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in r.stderr, r.stderr
    return r.stderr


def _refused_here(directory, *needles):
    """The same verification in-process (cheaper than a subprocess per case)."""
    with pytest.raises(UserError) as info:
        load_checkpoint(directory)
    text = info.value.render()
    for n in needles:
        assert n in text, text


def test_other_architecture_hash_is_refused(saved, aa):
    directory, _, _ = saved
    meta = json.loads((directory / "metadata.json").read_text())
    meta["architecture"]["hash"] = "0" * 64
    (directory / "metadata.json").write_text(json.dumps(meta))
    _refused(aa, directory, "architecture hash mismatch for 3d_cellular@1.0", "0000000000000000", "registry defines")


def test_truncated_weights_are_refused(saved, aa):
    directory, _, _ = saved
    path = directory / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _refused(aa, directory, "model.safetensors is truncated")
    path.write_bytes(data[:5])  # cut inside the 8-byte length
    _refused_here(directory, "truncated")
    path.write_bytes(data[:100])  # cut inside the JSON header
    _refused_here(directory, "truncated")


def test_pickle_renamed_to_safetensors_is_refused(saved, aa, tmp_path):
    directory, model, _ = saved
    path = directory / "model.safetensors"
    torch.save(model.state_dict(), path)  # zip-based torch pickle
    _refused(aa, directory, "not a safetensors file", "pickle")
    path.write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=4))  # plain pickle
    _refused_here(directory, "is a Python pickle", "arbitrary code")


def test_modified_weights_and_edited_spec_are_refused(saved):
    directory, _, _ = saved
    path = directory / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, one flipped byte in the last tensor
    path.write_bytes(bytes(data))
    _refused_here(directory, "sha256", "modified or replaced")
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    meta = json.loads((directory / "metadata.json").read_text())
    meta["spec"]["cell"]["hidden"] = 32
    (directory / "metadata.json").write_text(json.dumps(meta))
    _refused_here(directory, "model hash mismatch")


def test_missing_files_are_refused(saved, tmp_path):
    directory, _, _ = saved
    _refused_here(tmp_path / "nothing-here", "no such directory")
    (directory / "metadata.json").unlink()
    _refused_here(directory, "metadata.json is missing")


def test_a_missing_extra_json_is_named_not_taken_for_no_component_state(saved):
    directory, _, _ = saved
    (directory / "extra.json").unlink()
    _refused_here(directory, "extra.json is missing", "the checkpoint is incomplete")


def test_a_pointer_to_a_deleted_checkpoint_folder_is_named(saved):
    import shutil

    directory, _, _ = saved
    run = directory.parent / "run"
    run.mkdir()
    shutil.copytree(directory, run / "epoch-0002")
    (run / "best").write_text("final\n")  # final/ deleted
    (run / "last").write_text("epoch-0002\n")
    _refused_here(run, f"run folder {run}: its 'best' pointer names final/, which is missing", str(run / "epoch-0002"))
    assert load_checkpoint(run / "epoch-0002").path == run / "epoch-0002"


def test_plugin_version_change_warns(saved):
    directory, _, _ = saved
    meta = json.loads((directory / "metadata.json").read_text())
    meta["plugins"]["aa-core"] = "0.0.1"
    (directory / "metadata.json").write_text(json.dumps(meta))
    with pytest.warns(CheckpointWarning, match=r"aa-core 0\.0\.1 → "):
        load_checkpoint(directory)


def test_weights_that_do_not_fit_are_listed(saved):
    directory, _, _ = saved
    ckpt = load_checkpoint(directory)
    ckpt.state_dict.pop(next(iter(ckpt.state_dict)))
    with pytest.raises(UserError) as info:
        build_from_checkpoint(ckpt)
    assert "missing from the checkpoint" in info.value.render()


def test_saving_again_replaces_atomically(saved):
    directory, model, _ = saved
    spec = validate(SPEC)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    save_checkpoint(directory, model=model, spec=spec, metadata={"metrics": {"cosine": 0.9}})
    assert sorted(p.name for p in directory.iterdir()) == ["extra.json", "metadata.json", "model.safetensors"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ckpt = load_checkpoint(directory)
    assert ckpt.metadata["metrics"] == {"cosine": 0.9}
    assert torch.equal(ckpt.state_dict[next(iter(model.state_dict()))], next(iter(model.state_dict().values())))


def test_a_module_that_renames_its_old_keys_still_loads_and_real_mismatches_are_listed():
    import torch

    from aa_core.checkpoint._restore import load_weights

    class Renamed(torch.nn.Module):  # its layer was called `readout` in an older release
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(3, 2)

        def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
            for name in ("weight", "bias"):
                if prefix + "readout." + name in state_dict:
                    state_dict[prefix + "head." + name] = state_dict.pop(prefix + "readout." + name)
            super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    old = torch.nn.Linear(3, 2)
    m = Renamed()
    load_weights(m, {"readout.weight": old.weight.detach().clone(), "readout.bias": old.bias.detach().clone()})
    assert torch.equal(m.head.weight, old.weight) and torch.equal(m.head.bias, old.bias)
    with pytest.raises(UserError) as e:
        load_weights(Renamed(), {"readout.weight": old.weight.detach().clone(), "extra": torch.zeros(1)})
    text = e.value.render()
    assert "head.bias" in text and "missing from the checkpoint" in text and "extra" in text
    with pytest.raises(UserError, match="do not fit"):
        load_weights(Renamed(), {"readout.weight": torch.zeros(5, 3), "readout.bias": torch.zeros(2)})


def test_a_runs_output_folder_resolves_to_its_checkpoint(tmp_path):
    from aa_core.checkpoint import resolve_checkpoint

    run = tmp_path / "checkpoints" / "r1"
    (run / "final").mkdir(parents=True)
    (run / "final" / "metadata.json").write_text("{}")
    (run / "best").write_text("final")
    out = tmp_path / "runs" / "r1"
    out.mkdir(parents=True)
    (out / "metrics.json").write_text(json.dumps({"checkpoint_dir": str(run)}))
    assert resolve_checkpoint(out) == run / "final" == resolve_checkpoint(run)
    (out / "metrics.json").write_text("not json")
    assert resolve_checkpoint(out) == out  # unreadable: left to the caller's "not a checkpoint" error


@pytest.mark.parametrize("mark_best", [True, False])
def test_round_saver_keeps_the_rounds_its_pointers_name_with_the_training_state(tmp_path, mark_best):
    from aa_core.checkpoint import pointer, read_metadata
    from aa_core.train import Progress, round_saver
    from aa_core.train import state as train_state

    torch.manual_seed(0)
    spec = validate(SPEC)
    model, _ = build_model(spec)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    gen = torch.Generator().manual_seed(0)
    save = round_saver(tmp_path, model, spec, mark_best=mark_best, metadata=lambda p: {"epoch": p.epoch, "history": p.history})
    rounds = [(Progress(epoch=1, history=[{"val": 0.5}]), "epoch", True),
              (Progress(epoch=2, history=[{"val": 0.5}, {"val": 0.4}]), "epoch", False),
              (Progress(epoch=2, batch=3, history=[{"val": 0.5}, {"val": 0.4}]), "step", False)]
    written = [save(p, kind, improved, opt, sched, gen) for p, kind, improved in rounds]
    assert [f.name for f in written] == ["epoch-0001", "epoch-0002", "step-0003-0003"]
    assert pointer(tmp_path, "last") == written[2] and read_metadata(written[2])["epoch"] == 2
    assert (pointer(tmp_path, "best") == written[0]) is mark_best
    kept = {p.name for p in tmp_path.iterdir() if p.is_dir()}
    assert kept == ({"epoch-0001", "step-0003-0003"} if mark_best else {"step-0003-0003"})  # unnamed rounds pruned
    p = train_state.load(written[2], opt, sched, gen)
    assert (p.epoch, p.batch, p.history) == (2, 3, rounds[2][0].history)
