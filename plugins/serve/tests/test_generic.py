"""The generic handler through a real `aa serve`: any checkpoint whose dataset describes its inputs and
predictions (aa_core.protocols.ServableDataset) answers ``POST /v1/predict`` without task code — an
aa-digits image gets a class (the same as the model gives in this process), MNIST-1D a class, 1D-ARC a
row, self-classifying digits per-cell classes, voxel and emoji growth the grown pattern; a malformed
input is a 422 naming its JSON path; two weight files holding the same tensors are one version. Also the
task-neutral settings: handler options (``--option``) and the deprecated Q→A flags."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data"
DIGITS_SPEC = REPO / "examples" / "digits.toml"
# a small version of examples/digits.toml (as aa-digits' own tests train it)
DIGITS_SMALL = ["geometry.size=[4,4,2]", "propagator.steps=2", "cell.channels=6", "cell.hidden=16", "dataset.split=[0.4,0.1,0.5]",
                "train.epochs=2", "train.lr=0.03", "train.patience=10", "run.progress=false"]


def aa_run(folder: Path, spec: Path, *overrides: str) -> Path:
    """``aa run SPEC`` (train only) into ``folder``; the run's checkpoint folder."""
    folder.mkdir(parents=True, exist_ok=True)
    sets = [*overrides, "run.progress=false", 'run.tasks=["train"]', f"run.output_dir={json.dumps(str(folder / 'runs'))}",
            f"run.checkpoint_dir={json.dumps(str(folder / 'ckpt'))}"]
    r = subprocess.run([sys.executable, "-m", "aa_core.cli", "run", str(spec), *[a for s in sets for a in ("--set", s)]], cwd=REPO,
                       capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    (run,) = [p for p in (folder / "ckpt").iterdir() if p.is_dir()]
    return run


def best(run: Path) -> Path:
    return run / (run / "best").read_text().strip()


def twin(run: Path, dest: Path) -> Path:
    """A copy of ``run``'s best checkpoint whose weights file holds the same tensors in another file: other
    header metadata, the tensors written in reverse order (so the file's sha256 differs)."""
    from safetensors.torch import load_file, save_file

    from aa_core.plugin import file_sha256

    shutil.copytree(best(run), dest)
    weights = dest / "model.safetensors"
    tensors = load_file(str(weights))
    save_file(dict(reversed(list(tensors.items()))), str(weights), metadata={"format": "pt", "saved_by": "another run"})
    meta = json.loads((dest / "metadata.json").read_text())
    meta["weights"].update(sha256=file_sha256(weights), bytes=weights.stat().st_size)
    (dest / "metadata.json").write_text(json.dumps(meta))
    return dest


def predict(service, inputs, model: str | None = None, **extra) -> httpx.Response:
    body = {"inputs": inputs, **({"model": model} if model else {}), **extra}
    return httpx.post(service.url + "/v1/predict", json=body, timeout=120)


def start(start_service, *checkpoints: tuple[str, Path], extra: tuple[str, ...] = ()):
    args = [a for name, path in checkpoints for a in ("--checkpoint", f"{name}={path}")]
    s = start_service([*args, "--max-wait-ms", "20", *extra])
    s.wait_listening()
    s.wait_ready(timeout=300)
    return s


# -- aa-digits: the must-show check, in the default suite ------------------------------------------------

@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    pytest.importorskip("aa_digits")
    return aa_run(tmp_path_factory.mktemp("digits"), DIGITS_SPEC, *DIGITS_SMALL)


def test_aa_digits_checkpoint_answers_predict_with_a_class(start_service, digits_run, tmp_path):
    import torch
    from sklearn.datasets import load_digits

    from aa_core.run import restore

    images = load_digits().images[:3] / 16.0  # three 8×8 images, pixels in [0, 1]
    r_model = restore(digits_run).model
    with torch.no_grad():
        expected = r_model(torch.tensor(images, dtype=torch.float32).reshape(3, 64)).softmax(-1)
    same = twin(digits_run, tmp_path / "twin")
    s = start(start_service, ("digits", digits_run), ("twin", same))
    try:
        models = {m["id"]: m for m in httpx.get(s.url + "/v1/models", timeout=30).json()["models"]}
        assert models["digits"]["task"] == "predict" and models["digits"]["dataset"] == "digits8x8"
        # two files, one set of tensors: one version (the version hashes the tensors, not the file)
        assert models["digits"]["checkpoint_hash"] != models["twin"]["checkpoint_hash"]
        assert models["digits"]["version"] == models["twin"]["version"] and models["digits"]["weights_hash"] == models["twin"]["weights_hash"]

        inputs = [images[0].tolist(), images[1].reshape(64).tolist(), images[2].tolist()]  # 8 rows of 8, or 64 numbers
        r = predict(s, inputs)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == {"id": "digits", "version": models["digits"]["version"]}
        assert len(body["predictions"]) == 3 and body["batch_sizes"] == [3, 3, 3]  # one forward pass
        for p, e in zip(body["predictions"], expected):
            assert p["class"] == int(e.argmax()) and 0 <= p["class"] <= 9
            assert p["probabilities"] == pytest.approx(e.tolist(), abs=1e-5) and sum(p["probabilities"]) == pytest.approx(1, abs=1e-4)
        assert predict(s, inputs, model="twin").json()["predictions"] == body["predictions"]

        schema = httpx.get(s.url + "/v1/predict/schema", timeout=30).json()
        assert schema["dataset"] == "digits8x8" and "8×8" in schema["input_schema"]["description"]

        # malformed inputs: 422, each named by its JSON path
        bad = [images[0].tolist()[:7] + [images[0].tolist()[7][:7]], [0.5] * 63 + [2.0], "an image"]
        r = predict(s, [inputs[0], *bad])
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "invalid_input" and "3 of the 4 inputs" in err["message"]
        assert [d["loc"] for d in err["details"]] == [["inputs", 1, 7], ["inputs", 2, 63], ["inputs", 3]]
        assert "inputs[1][7]: has 7 items; at least 8 are expected" in err["message"]
        assert "inputs[2][63]: 2.0 is greater than the maximum of 1" in err["message"] and "8×8 image" in err["message"]
        for body_, code in (({"inputs": []}, "invalid_request"), ({"inputs": [inputs[0]], "options": {"top_k": 2}}, "unknown_option"),
                            ({"inputs": [inputs[0]], "model": "nobody"}, "unknown_model")):
            r = httpx.post(s.url + "/v1/predict", json=body_, timeout=60)
            assert r.status_code in (404, 422) and r.json()["error"]["code"] == code, r.text
        assert 'endpoint="/v1/predict"' in httpx.get(s.url + "/metrics").text
    finally:
        assert s.stop() == 0


def test_handler_options_and_limits_are_checked_before_binding(aa_serve, digits_run):
    r = aa_serve("--checkpoint", str(digits_run), "--option", "top_k=2", "--port", "0")
    assert r.returncode == 2 and "--option top_k" in r.stderr and "predict: none" in r.stderr and "listening" not in r.stderr
    r = aa_serve("--checkpoint", str(digits_run), "--max-inputs", "0", "--port", "0")
    assert r.returncode == 2 and "--max-inputs" in r.stderr


def test_the_q_and_a_flags_of_0_1_still_work_with_a_deprecation_warning(capsys):
    from aa_serve.app import handler_options
    from aa_serve.cli import add_parser
    from aa_serve.settings import settings_from_args

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["serve", "--checkpoint", "x", "--max-questions", "8", "--top-k", "5", "--max-question-chars", "300",
                              "--option", "top_k=7"])
    with pytest.warns(DeprecationWarning, match="--top-k is deprecated"):
        s = settings_from_args(args)
    assert "aa serve: warning: --max-questions is deprecated" in capsys.readouterr().err
    assert s.max_inputs == 8 and s.options == {"top_k": "7", "max_question_chars": "300"}  # --option wins over the old flag
    with pytest.warns(DeprecationWarning, match="settings.max_questions"):
        assert s.max_questions == 8

    class QA:  # a handler declaring aa-qa's options
        def options(self):
            from aa_qa.serving import OPTIONS

            return list(OPTIONS)

    pytest.importorskip("aa_qa")
    assert handler_options({"qa": QA(), "predict": object()}, s.options) == {"qa": {"top_k": 7, "max_question_chars": 300}, "predict": {}}
    from aa_core.plugin import UserError

    with pytest.raises(UserError, match="out of range"):
        handler_options({"qa": QA()}, {"top_k": "21"})
    with pytest.raises(UserError, match="did you mean"):
        handler_options({"qa": QA()}, {"top_kk": "2"})


# -- the CA suite: one service serving every task whose data is here ---------------------------------------

CA = REPO / "examples" / "ca"
TINY = ["train.steps=2", "train.eval_every=2"]
CA_RUNS = {  # model id → (spec, overrides, what it needs)
    "mnist1d": (CA / "mnist1d.toml", ["train.steps=20", "train.eval_every=10"], None),
    "arc": (CA / "arc1d.toml", [*TINY, f"dataset.path={json.dumps(str(DATA / '1d-arc' / 'dataset'))}", "dataset.augment=\"none\""],
            DATA / "1d-arc" / "dataset"),
    "voxel": (CA / "voxel_growth.toml", [*TINY, "pipeline.eval_steps=8", "pipeline.steps=[4,8]"],
              DATA / "voxel-artefacts" / "caterpillar_short.nbt"),
    "selfdigits": (CA / "self_classify.toml", [*TINY, "dataset.eval_steps=10", "dataset.pool_size=16"], None),
    "emoji": (CA / "emoji_growth.toml", [*TINY, "pipeline.eval_steps=8", "pipeline.steps=[4,8]", "dataset.pool_size=16"],
              Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")),
}


@pytest.fixture(scope="module")
def ca_service(tmp_path_factory, start_service):
    pytest.importorskip("aa_ca")
    root = tmp_path_factory.mktemp("ca")
    runs = {k: aa_run(root / k, spec, *sets) for k, (spec, sets, needs) in CA_RUNS.items() if needs is None or needs.exists()}
    s = start(start_service, *runs.items())
    yield s, runs
    assert s.stop() == 0


def need(runs: dict, key: str) -> None:
    if key not in runs:
        pytest.skip(f"{CA_RUNS[key][2]} is missing (../shared/data beside the repository, or the font)")


def test_mnist1d_checkpoint_answers_predict_with_a_class(ca_service):
    from aa_ca.mnist1d_task import generate

    s, runs = ca_service
    x = generate(42)["x_test"][:2]  # two MNIST-1D test sequences of 40 values
    r = predict(s, x.tolist(), model="mnist1d")
    assert r.status_code == 200, r.text
    for p in r.json()["predictions"]:
        assert 0 <= p["class"] <= 9 and len(p["probabilities"]) == 10 and p["class"] == max(range(10), key=lambda k: p["probabilities"][k])
    r = predict(s, [x[0].tolist()[:39]], model="mnist1d")
    assert r.status_code == 422 and "inputs[0]: has 39 items; at least 40 are expected" in r.json()["error"]["message"]


def test_arc1d_checkpoint_answers_predict_with_a_row(ca_service):
    s, runs = ca_service
    need(runs, "arc")
    r = predict(s, [[0, 3, 3, 3, 0, 0, 0], [0, 0, 5, 0]], model="arc")
    assert r.status_code == 200, r.text
    rows = [p["row"] for p in r.json()["predictions"]]
    assert [len(x) for x in rows] == [7, 4] and all(0 <= c <= 9 for x in rows for c in x)
    r = predict(s, [[0, 10, 3]], model="arc")
    assert r.status_code == 422 and "inputs[0][1]: 10 is greater than the maximum of 9" in r.json()["error"]["message"]


def test_voxel_growth_checkpoint_answers_predict_with_the_grown_grid(ca_service):
    s, runs = ca_service
    need(runs, "voxel")
    r = predict(s, [None, {"steps": 2}], model="voxel")
    assert r.status_code == 200, r.text
    grown, short = r.json()["predictions"]
    assert grown["shape"] == [8, 8, 27] and grown["classes"][0] == "minecraft:air"
    grid = grown["grid"]
    assert (len(grid), len(grid[0]), len(grid[0][0])) == (8, 8, 27)
    assert all(0 <= c < len(grown["classes"]) for plane in grid for line in plane for c in line)
    assert grown["occupied"] == sum(c != 0 for plane in grid for line in plane for c in line)
    assert set(grown["scores"]) >= {"iou_error", "class_accuracy"}
    r = predict(s, [{"steps": -1}, {"step": 3}], model="voxel")
    assert r.status_code == 422
    msg = r.json()["error"]["message"]
    assert "inputs[0].steps: -1 is less than the minimum of 0" in msg and "'step' was unexpected" in msg


def test_self_classifying_digits_and_emoji_growth_are_served_too(ca_service):
    s, runs = ca_service
    from sklearn.datasets import load_digits

    r = predict(s, [(load_digits().images[0] / 16.0).tolist()], model="selfdigits")
    assert r.status_code == 200, r.text
    p = r.json()["predictions"][0]
    assert 0 <= p["class"] <= 9 and len(p["cells"]) == 8 and sum(p["votes"]) == sum(c is not None for row in p["cells"] for c in row)
    need(runs, "emoji")
    r = predict(s, [None], model="emoji")
    assert r.status_code == 200, r.text
    p = r.json()["predictions"][0]
    assert p["shape"] == [48, 48, 4] and len(p["image"]) == 48 and len(p["image"][0][0]) == 4 and "mse" in p["scores"]


def test_the_toy_task_plugin_is_servable_and_passes_batches_through_the_pipeline(monkeypatch):
    """The tests' toy task (tests/task_plugin) in process: its schema checks inputs, the generic handler's
    forward groups the examples into passes and maps each output back to its input."""
    import torch
    from jsonschema.validators import validator_for

    from aa_core.protocols import ServableDataset
    from aa_serve.generic import GenericServing, Loaded, check_input

    monkeypatch.syspath_prepend(str(REPO / "tests" / "task_plugin"))
    from aa_toy_task import Toy, ToyConfig

    toy = Toy(ToyConfig(features=8))
    assert isinstance(toy, ServableDataset)
    schema = toy.input_schema()
    loaded = Loaded(torch.nn.Identity(), toy, schema, validator_for(schema)(schema))
    rows = [[0.0] * 8 for _ in range(3)]
    for i, row in enumerate(rows):
        row[i] = 1.0  # the largest of the first four features is the class
    examples = [check_input(loaded, r, ["inputs", i])[0] for i, r in enumerate(rows)]
    out = GenericServing().predict(loaded, examples, 0)
    assert [p["class"] for p in out] == [0, 1, 2] and all(len(p["probabilities"]) == 4 for p in out)
    _, problem = check_input(loaded, [1.0] * 7, ["inputs", 0])
    assert problem is not None and problem["loc"] == ["inputs", 0] and "at least 8" in problem["msg"]
