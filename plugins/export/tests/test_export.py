"""aa export: the ONNX step equals AA's step (onnxruntime, 64 steps from the seed, the same fire masks), the
Distill weight format reads back within its quantisation bound, unsupported pipelines exit 2, and the
/live routes hand out the page, the model and the runtime."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from aa_core.plugin import UserError
from aa_export.distill import distill_layers, layers_of, pack_layer, reference_step, unpack_layer
from aa_export.onnx_step import compare, onnx_bytes, ort_steps, session
from aa_export.step import Exportable, aa_steps, fire_masks, load

REPO = Path(__file__).resolve().parents[3]
EQUAL = 1e-5  # the exported step vs AA's, max abs difference over 64 steps
QUANTISED = 0.05  # one step of the uint8 Distill weights vs AA's float step, max abs difference (measured: see the test)


def run_aa(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aa_core.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def alive_cells(state: torch.Tensor | np.ndarray, channel: int) -> int:
    return int((np.asarray(state)[..., channel] > 0.1).sum())


def check_equal(exp: Exportable, record: dict) -> None:
    model = onnx_bytes(exp)
    import onnx

    proto = onnx.load_from_string(model)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    X, Y, Z = exp.shape
    dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert dims == {"state": [1, X, Y, Z, exp.channels], "fire": [1, X, Y, Z, 1]}  # static shapes
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["aa.live"])
    assert meta["shape"] == [X, Y, Z] and meta["fire_rate"] == exp.fire_rate
    diff = compare(exp, model, 64, seed=11)
    record["max_abs_diff_64_steps"] = diff
    print(f"{exp.name}: max |ONNX − AA| over 64 steps = {diff:.3g}")
    assert diff <= EQUAL
    # not a trivial comparison: the pattern grows and the fire masks differ from step to step
    states = aa_steps(exp, exp.seed(), 64, seed=11)
    c = int(exp.propagator.config.alive_channel)
    assert alive_cells(states[-1], c) > alive_cells(exp.seed(), c) + 10
    masks = fire_masks(exp.shape, exp.fire_rate, 2, seed=11)
    assert 0.3 < float(masks[0].mean()) < 0.7 and not torch.equal(masks[0], masks[1])


def test_onnx_step_equals_aa_step_emoji(emoji_export):
    check_equal(emoji_export, {})


def test_onnx_step_equals_aa_step_voxel(voxel_checkpoint):
    check_equal(load(voxel_checkpoint), {})


def test_fire_masks_are_torchs_mt19937_stream():
    """The live page draws its fire masks with MT19937 and torch.rand's 24-bit floats (live.js); this is the same stream in Python."""
    def mt19937(seed: int):
        mt, i = [seed & 0xFFFFFFFF], 624
        for k in range(1, 624):
            mt.append((1812433253 * (mt[-1] ^ (mt[-1] >> 30)) + k) & 0xFFFFFFFF)
        while True:
            if i >= 624:
                for k in range(624):
                    y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7FFFFFFF)
                    mt[k] = mt[(k + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
                i = 0
            y = mt[i]
            i += 1
            y ^= y >> 11
            y ^= (y << 7) & 0x9D2C5680
            y ^= (y << 15) & 0xEFC60000
            yield y ^ (y >> 18)

    shape = (6, 7, 2)
    masks = fire_masks(shape, 0.5, 3, seed=1234)
    stream = mt19937(1234)
    ours = [torch.tensor([((next(stream) & 0xFFFFFF) / 2**24) < 0.5 for _ in range(84)]).float().view(1, *shape, 1) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(masks, ours))


def test_distill_format_reads_back_within_its_bound(emoji_export):
    exp = emoji_export
    layers, notes = distill_layers(exp)
    assert notes == []  # fire rate 0.5, alpha alive at 0.1: the demo's own settings
    C, H = exp.channels, exp.propagator.cell.layers[0].out_features
    assert [(lay["in_ch"], lay["out_ch"], lay["type"]) for lay in layers] == [(3 * C, H, "uint8"), (H, C, "uint8")]
    assert set(layers[0]) == {"data_b64", "in_ch", "out_ch", "weight_scale", "bias_scale", "type"}
    json.dumps(layers)
    for layer, (w, b) in zip(layers, layers_of(exp)):
        dw, db = unpack_layer(layer)
        assert np.abs(dw - w).max() <= layer["weight_scale"] / 510 + 1e-6
        assert np.abs(db - b).max() <= layer["bias_scale"] / 510 + 1e-6
        assert layer["weight_scale"] == pytest.approx(2 * np.abs(w).max())
    # the format's perception order and axes: the unquantised weights through the Distill model's step equal AA's step
    grown = aa_steps(exp, exp.seed(), 48, seed=3)[-1]  # [1, X, Y, 1, C]
    fire = fire_masks(exp.shape, 0.5, 1, seed=99)[0]
    image = grown[0, :, :, 0].permute(1, 0, 2).numpy()  # lattice [x, y] → image [row = y, column = x]
    mask = fire[0, :, :, 0, 0].T.numpy()
    step = exp.step()
    with torch.no_grad():
        aa_next = step(grown, fire)[0, :, :, 0].permute(1, 0, 2).numpy()
    exact = reference_step(layers_of(exp), image, mask)
    assert np.abs(exact - aa_next).max() < 1e-4
    decoded = reference_step(layers, image, mask)
    diff = float(np.abs(decoded - aa_next).max())
    print(f"one step of the uint8 Distill weights vs AA's step: max |difference| = {diff:.3g} (scales {[lay['weight_scale'] for lay in layers]})")
    assert 0 < diff <= QUANTISED


def test_pack_layer_edge_cases():
    zero = pack_layer(np.zeros((4, 8)), np.zeros(8))
    assert zero["weight_scale"] == 0.0 and zero["bias_scale"] == 0.0
    w, b = unpack_layer(zero)
    assert not w.any() and not b.any()
    extreme = unpack_layer(pack_layer(np.array([[1.0, -1.0, 0.5, 0.0]] * 4), np.array([2.0, -2.0, 0.0, 1.0])))
    assert extreme[0][0, 0] == pytest.approx(1.0) and extreme[0][0, 1] == pytest.approx(-1.0) and extreme[1][1] == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="divisible by 4"):
        pack_layer(np.zeros((3, 8)), np.zeros(8))


def test_aa_export_writes_every_format(emoji_checkpoint, tmp_path):
    for fmt, name in (("onnx", "m.onnx"), ("distill", "m.json"), ("html", "m.html")):
        r = run_aa("export", "--checkpoint", str(emoji_checkpoint), "--format", fmt, "--out", str(tmp_path / name))
        assert r.returncode == 0, r.stderr[-2000:]
        assert f"wrote {tmp_path / name}" in r.stdout and "4," in r.stdout  # the parameter count
        assert r.stderr == "", r.stderr[-2000:]
    assert "equal to AA's step within" in r.stdout
    onnx = (tmp_path / "m.onnx").read_bytes()
    exp = load(emoji_checkpoint)
    states = ort_steps(session(onnx), exp.seed(), fire_masks(exp.shape, exp.fire_rate, 8, seed=0))
    assert np.abs(states[-1] - aa_steps(exp, exp.seed(), 8, seed=0)[-1].numpy()).max() <= EQUAL
    layers = json.loads((tmp_path / "m.json").read_text())
    assert [lay["in_ch"] for lay in layers] == [48, 64]
    html = (tmp_path / "m.html").read_text()
    assert 'id="aa-wasm"' in html and 'id="aa-onnx"' in html and "http://" not in html.split("<main>")[1].split("</main>")[0]
    assert "src=" not in html  # nothing loaded from elsewhere: every script is inline


def test_voxel_exports_onnx_but_not_distill(voxel_checkpoint, tmp_path):
    exp = load(voxel_checkpoint)
    assert exp.display()["kind"] == "classes" and exp.display()["names"][0] == "air"
    with pytest.raises(UserError, match="Growing-NCA-shaped models only.*perception = 'learned'.*one z-plane"):
        distill_layers(exp)
    r = run_aa("export", "--checkpoint", str(voxel_checkpoint), "--format", "distill", "--out", str(tmp_path / "v.json"))
    assert r.returncode == 2 and "Use --format onnx" in r.stderr and not (tmp_path / "v.json").exists()
    r = run_aa("export", "--checkpoint", str(voxel_checkpoint), "--format", "onnx", "--out", str(tmp_path / "v.onnx"), "--verify-steps", "64")
    assert r.returncode == 0 and "over 64 steps" in r.stdout, r.stderr[-2000:]


SCHEDULE_SPEC = """
[dataset]
name = "emoji_growth"
size = 8
grid = 12
pool_size = 4

[geometry]
name = "lattice"
size = [12, 12, 1]

[cell]
name = "growing_nca"
channels = 16
hidden = [16]

[propagator]
name = "schedule"
steps = ["nca:2", "mamba"]

[propagator.nca]
fire_rate = 0.5
alive_threshold = 0.1
alive_channel = 3

[propagator.mamba]
layers = 1
d_state = 4

[pipeline]
name = "growth"
steps = [3, 3]
eval_steps = 3

[train]
steps = 1
eval_every = 1
batch_size = 2
threads = 1

[run]
tasks = ["train"]
"""


def test_a_mamba_schedule_is_refused_with_exit_2(tmp_path):
    pytest.importorskip("aa_mamba")
    emoji = pytest.importorskip("aa_ca.emoji")
    if emoji.find_font() is None:
        pytest.skip("needs Debian's fonts-noto-color-emoji (the emoji_growth target)")
    spec = tmp_path / "schedule.toml"
    spec.write_text(SCHEDULE_SPEC)
    r = run_aa("run", str(spec), "--set", f"run.checkpoint_dir={tmp_path / 'ck'}", "--set", f"run.output_dir={tmp_path / 'runs'}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    (run,) = (tmp_path / "ck").iterdir()
    for fmt in ("onnx", "html", "distill"):
        r = run_aa("export", "--checkpoint", str(run), "--format", fmt, "--out", str(tmp_path / f"s.{fmt}"))
        assert r.returncode == 2, r.stderr
        assert "cannot export this pipeline" in r.stderr and "Mamba" in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / f"s.{fmt}").exists()


def test_bad_arguments_exit_2(emoji_checkpoint, tmp_path):
    r = run_aa("export", "--checkpoint", str(tmp_path / "nothing"), "--format", "onnx")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run_aa("export", "--checkpoint", str(emoji_checkpoint), "--format", "onnx", "--out", str(tmp_path / "no" / "m.onnx"))
    assert r.returncode == 2 and "does not exist" in r.stderr


# ---- /live (aa serve's page hook), without a browser ---------------------------------------------------

def test_live_shows_growth_checkpoints_only():
    from aa_export.live import LivePage, shows

    assert shows({"spec": {"pipeline": {"name": "growth"}}})
    assert not shows({"spec": {"pipeline": {"name": "direct_embedding"}}}) and not shows({})

    class Model:
        id, version, path, metadata, loaded = "qa", "0" * 12, Path("."), {"spec": {"pipeline": {"name": "direct_embedding"}}}, None

    from fastapi import FastAPI

    app = FastAPI()
    before = len(app.routes)
    assert LivePage().register_routes(app, None, [Model()]) == [] and len(app.routes) == before


def test_live_routes_of_aa_serve(emoji_checkpoint, live_service):
    import httpx

    service = live_service
    if True:
        page = httpx.get(service.url + "/live", timeout=60)
        assert page.status_code == 200 and 'src="/live/assets/live.js"' in page.text and "//" not in page.text.split("<script")[1].split(">")[0]
        meta = httpx.get(service.url + "/live/model.json", timeout=120).json()
        assert meta["name"] == "lizard" and meta["shape"] == [32, 32, 1] and meta["display"] == {"kind": "rgba"}
        assert meta["params"] == 4176 and meta["verified_max_abs_diff"] <= 1e-4 and len(meta["seed"]) == 1
        onnx = httpx.get(service.url + "/live/model.onnx", timeout=60).content
        exp = load(emoji_checkpoint)
        assert compare(exp, onnx, 8) <= EQUAL
        for name in ("live.js", "live.css", "ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm.gz", "three.min.mjs"):
            r = httpx.get(service.url + "/live/assets/" + name, timeout=60)
            assert r.status_code == 200 and len(r.content) > 1000, name
        assert httpx.get(service.url + "/live/assets/..%2Fpage.py", timeout=60).status_code == 404
        r = httpx.get(service.url + "/live/model.json?model=nope", timeout=60)
        assert r.status_code == 404 and "lizard" in r.json()["error"]["message"]
        assert httpx.post(service.url + "/v1/predict", json={"inputs": [{"steps": 2}]}, timeout=60).status_code == 200  # the generic handler still serves it


def test_vendored_runtime_is_intact():
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "vendor_web.py"), "--check"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((REPO / "plugins" / "export" / "aa_export" / "web" / "vendor" / "VENDORED.json").read_text())
    assert {p["license"] for p in manifest["packages"].values()} == {"MIT"}
    assert os.path.getsize(REPO / "plugins" / "export" / "aa_export" / "web" / "vendor" / "ort-wasm-simd-threaded.wasm.gz") < 6_000_000


def test_the_plugin_loads_with_and_without_aa_serve():
    """`pip install aa-export` alone: its /live page hook (specified by aa-serve) is optional, so the plugin still loads."""
    from aa_core.run import PluginHost, PluginInfo

    alone = PluginHost([PluginInfo("aa_export._plugin", "aa_export._plugin", "aa-export", "0.1.0", ())])
    assert alone.load_all() == {} and "aa_serve_pages" not in alone.hook_names
    both = PluginHost([PluginInfo("aa_export._plugin", "aa_export._plugin", "aa-export", "0.1.0", ()),
                       PluginInfo("aa_serve._plugin", "aa_serve._plugin", "aa-serve", "0.1.0", ())])
    assert both.load_all() == {}
    assert [(page.name, p.distribution) for page, p in both.collect("aa_serve_pages")] == [("live", "aa-export")]
