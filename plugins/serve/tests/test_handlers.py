"""Tasks plug into `aa serve` through the aa_serve_handlers hook: a second, non-Q→A handler from a real
plugin (tests/echo_plugin, installed through a dist-info folder on PYTHONPATH) serves its checkpoint
beside a Q→A one, and a checkpoint no handler claims is refused with exit 2 before binding."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from aa_serve import ServeHandler

ECHO_PLUGIN = Path(__file__).resolve().parent / "echo_plugin"


def retagged(source: Path, dest: Path, dataset: str) -> Path:
    """A copy of the checkpoint folder ``source`` whose spec says it was trained on ``dataset``."""
    shutil.copytree(source, dest)
    meta = json.loads((dest / "metadata.json").read_text())
    meta["spec"]["dataset"] = {"name": dataset}
    (dest / "metadata.json").write_text(json.dumps(meta))
    return dest


@pytest.fixture(scope="module")
def echo_env(tmp_path_factory) -> dict[str, str]:
    """The environment in which the echo plugin is installed (an aa.plugins entry point)."""
    root = tmp_path_factory.mktemp("echo_dist")
    info = root / "aa_serve_echo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: aa-serve-echo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[aa.plugins]\necho = aa_serve_echo\n")
    path = os.pathsep.join(p for p in (str(root), str(ECHO_PLUGIN), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}


def test_a_handler_claims_by_dataset_and_older_checkpoints_by_section():
    qa = ServeHandler("qa", "x:Y", datasets=("qa_pairs",), sections=("data",))
    assert qa.claims({"spec": {"dataset": {"name": "qa_pairs"}, "data": {}}})
    assert not qa.claims({"spec": {"dataset": {"name": "digits8x8"}, "data": {}}})  # the dataset decides when there is one
    assert qa.claims({"spec": {"data": {}, "cell": {"name": "gmlp"}}})  # saved before the dataset kind
    assert not qa.claims({"spec": {"cell": {"name": "gmlp"}}}) and not qa.claims({})


def test_a_second_task_contributes_its_route_and_serves_its_checkpoint(start_service, checkpoints, echo_env, tmp_path):
    echo_ckpt = retagged(checkpoints["old"], tmp_path / "echo", "echo_rows")
    s = start_service(["--checkpoint", f"a={checkpoints['a']}", "--checkpoint", f"e={echo_ckpt}"], env=echo_env)
    try:
        s.wait_listening()
        s.wait_ready()
        models = {m["id"]: m for m in httpx.get(s.url + "/v1/models", timeout=30).json()["models"]}
        assert models["a"]["task"] == "qa" and models["e"]["task"] == "echo"
        tensors = json.loads((echo_ckpt / "metadata.json").read_text())["weights"]["tensors"]
        assert models["e"]["echo"] == {"tensors": tensors} and "abstention" not in models["e"]  # each task describes its own
        assert models["a"]["abstention"]["threshold"] is not None and "echo" not in models["a"]

        r = httpx.post(s.url + "/v1/echo", json={"text": "lattice"}, timeout=60)  # default: the first echo model
        assert r.status_code == 200, r.text
        assert r.json() == {"reversed": "ecittal", "tensors": tensors, "model": "e", "batch_size": 1}
        assert httpx.post(s.url + "/v1/answer", json={"question": "What is overfitting?"}, timeout=60).json()["model"]["id"] == "a"
        for path, body in (("/v1/answer", {"question": "What is overfitting?", "model": "e"}), ("/v1/echo", {"text": "x", "model": "a"})):
            r = httpx.post(s.url + path, json=body, timeout=60)
            assert r.status_code == 422 and r.json()["error"]["code"] == "wrong_task", r.text
        assert httpx.get(s.url + "/openapi.json").json()["paths"].keys() >= {"/v1/echo", "/v1/answer", "/v1/models"}
        assert 'endpoint="/v1/echo"' in httpx.get(s.url + "/metrics").text
    finally:
        assert s.stop() == 0


def test_an_unclaimed_checkpoint_exits_2_naming_it_and_the_handlers(aa_serve, checkpoints, echo_env, tmp_path):
    orphan = retagged(checkpoints["old"], tmp_path / "orphan", "nobody_serves_this")
    r = aa_serve("--checkpoint", str(orphan), "--port", "0", env=echo_env)
    assert r.returncode == 2, r.stderr
    assert str(orphan) in r.stderr and "no installed plugin serves it" in r.stderr and "'nobody_serves_this'" in r.stderr
    assert "'qa' of aa-qa" in r.stderr and "'echo' of aa-serve-echo" in r.stderr
    assert "Traceback" not in r.stderr and "listening on" not in r.stderr
    r = aa_serve("--checkpoint", str(orphan), "--port", "0")  # without the echo plugin: only aa-qa's handler is listed
    assert r.returncode == 2 and "'qa' of aa-qa" in r.stderr and "echo" not in r.stderr
