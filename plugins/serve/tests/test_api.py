"""The REST API of a real `aa serve` subprocess: answers, batches, versions, abstention, limits, metrics."""
from __future__ import annotations

import asyncio

import httpx
import pytest

OFF_TOPIC = "Who won the 1998 world cup?"
QUESTIONS = ["What is overfitting?", "Why do we use a validation set?", "How does dropout help a neural network?", OFF_TOPIC]


def post(service, path: str, body) -> httpx.Response:
    return httpx.post(service.url + path, json=body, timeout=60)


@pytest.fixture(scope="module")
def models(service) -> dict[str, dict]:
    r = httpx.get(service.url + "/v1/models", timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert body["default"] == "a"
    return {m["id"]: m for m in body["models"]}


@pytest.fixture(scope="module")
def reference(checkpoints):
    """Answers computed in this process through the one restore path, per checkpoint."""
    from aa_qa.ask import answer, restore_for_answers

    return {k: answer(*restore_for_answers(checkpoints[k]), QUESTIONS) for k in ("a", "b")}


def test_models_describe_versions_metrics_data_and_abstention(models, checkpoints):
    import json

    from aa_serve.models import tensors_sha256

    assert set(models) == {"a", "b", "old"}
    for key in ("a", "b"):
        m = models[key]
        folder = checkpoints[key] / (checkpoints[key] / "best").read_text().strip()
        meta = json.loads((folder / "metadata.json").read_text())
        assert m["status"] == "ready"
        assert m["checkpoint_hash"] == meta["weights"]["sha256"]  # the file; the version hashes its tensors
        assert m["version"] == m["weights_hash"][:12] == tensors_sha256(folder / "model.safetensors")[:12]
        assert m["data_hash"] == meta["dataset_hash"] and m["metrics"]["val_mrr"] == meta["metrics"]["val_mrr"]
        assert m["components"]["cell"] == "gmlp" and m["plugins"]["aa-gmlp"]
        assert 0 < m["abstention"]["threshold"] < 1 and m["abstention"]["n"] == meta["data_sizes"]["validation"]
    assert models["a"]["version"] != models["b"]["version"]
    assert models["old"]["abstention"]["threshold"] is None and "never marked abstained" in models["old"]["abstention"]["note"]


def test_answer_fields_match_the_checkpoint(service, models, reference):
    for (question, text, score) in reference["a"]:
        r = post(service, "/v1/answer", {"question": question, "top_k": 2})
        assert r.status_code == 200, r.text
        a = r.json()
        assert a["question"] == question and a["answer"] == text and a["confidence"] == pytest.approx(score, abs=1e-5)
        assert a["model"] == {"id": "a", "version": models["a"]["version"]}
        assert len(a["alternatives"]) == 2 and all(alt["answer"] != text for alt in a["alternatives"])
        assert a["alternatives"][0]["score"] >= a["alternatives"][1]["score"]
        assert a["threshold"] == models["a"]["abstention"]["threshold"]
        assert a["abstained"] == (a["confidence"] < a["threshold"])
        assert a["time_ms"] > 0 and a["batch_size"] >= 1


def test_off_topic_question_abstains_but_keeps_its_best_guess(service):
    a = post(service, "/v1/answer", {"question": OFF_TOPIC}).json()
    assert a["abstained"] is True and a["answer"]
    assert post(service, "/v1/answer", {"question": "What is overfitting?"}).json()["abstained"] is False


def test_two_versions_are_routed_by_id_version_and_id_at_version(service, models, reference):
    question, text_b, score_b = reference["b"][0]
    vb = models["b"]["version"]
    for key in ("b", vb, f"b@{vb}", vb[:8]):
        a = post(service, "/v1/answer", {"question": question, "model": key}).json()
        assert a["model"] == {"id": "b", "version": vb}, key
        assert a["answer"] == text_b and a["confidence"] == pytest.approx(score_b, abs=1e-5)
    a = post(service, "/v1/answer", {"question": question}).json()
    assert a["model"]["id"] == "a" and a["confidence"] == pytest.approx(reference["a"][0][2], abs=1e-5)
    r = post(service, "/v1/answer", {"question": question, "model": f"a@{vb}"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_model"


def test_old_checkpoint_serves_without_abstention(service):
    a = post(service, "/v1/answer", {"question": OFF_TOPIC, "model": "old"}).json()
    assert a["threshold"] is None and a["abstained"] is False and a["answer"]


def test_batch_keeps_order_and_matches_single_answers(service, reference):
    r = post(service, "/v1/answer/batch", {"questions": QUESTIONS, "model": "b", "top_k": 0})
    assert r.status_code == 200
    body = r.json()
    assert [a["question"] for a in body["answers"]] == QUESTIONS
    assert [a["answer"] for a in body["answers"]] == [t for _, t, _ in reference["b"]]
    assert all(a["alternatives"] == [] for a in body["answers"]) and body["model"]["id"] == "b"


def test_concurrent_requests_share_forward_passes(service):
    async def burst() -> list[dict]:
        async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
            rs = await asyncio.gather(*(client.post("/v1/answer", json={"question": f"What is regularisation, case {i}?"}) for i in range(24)))
        return [r.json() for r in rs]

    answers = asyncio.run(burst())
    assert max(a["batch_size"] for a in answers) > 1
    metrics = httpx.get(service.url + "/metrics").text
    assert 'aa_serve_batch_size_bucket{le="1.0",model="a"}' in metrics
    count = next(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith('aa_serve_batch_size_count{model="a"}'))
    total = next(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith('aa_serve_batch_size_sum{model="a"}'))
    assert total > count  # more questions than forward passes


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("/v1/answer", {"question": ""}, 422, "invalid_request"),
    ("/v1/answer", {"question": "   \n"}, 422, "invalid_request"),
    ("/v1/answer", {"question": "x" * 1001}, 422, "invalid_request"),
    ("/v1/answer", {"question": "ok", "top_k": 21}, 422, "invalid_request"),
    ("/v1/answer", {"question": "ok", "surprise": 1}, 422, "invalid_request"),
    ("/v1/answer", {"question": "ok", "model": "nope"}, 404, "unknown_model"),
    ("/v1/answer", [1, 2], 422, "invalid_request"),
    ("/v1/answer/batch", {"questions": []}, 422, "invalid_request"),
    ("/v1/answer/batch", {"questions": ["q"] * 65}, 422, "invalid_request"),
    ("/v1/answer/batch", {"questions": ["fine", ""]}, 422, "invalid_request"),
    ("/v1/answer/batch", {"questions": ["x" * 300] * 60}, 200, None),
    ("/v1/nothing", {}, 404, "not_found"),
])
def test_client_mistakes_get_4xx_json(service, path, body, status, code):
    r = post(service, path, body)
    assert r.status_code == status, r.text
    if code:
        err = r.json()["error"]
        assert err["code"] == code and err["status"] == status and err["message"]


def test_malformed_bodies_oversize_and_wrong_method(service):
    url = service.url + "/v1/answer"
    r = httpx.post(url, content=b'{"question": ', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = httpx.post(url, content=b'{"question": "\\ud800 lone"}', headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = httpx.post(url, content=b"\xff\xfe not utf-8", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = httpx.post(url, content=b"x" * (256 * 1024 + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    def chunks():
        for _ in range(300):
            yield b"y" * 1024

    r = httpx.post(url, content=chunks(), headers={"content-type": "application/json"})  # no content-length: counted while read
    assert r.status_code == 413
    r = httpx.get(url)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_health_metrics_and_no_cors_by_default(service):
    assert httpx.get(service.url + "/health/live").json()["status"] == "live"
    ready = httpx.get(service.url + "/health/ready")
    assert ready.status_code == 200 and ready.json()["models"] == {"a": "ready", "b": "ready", "old": "ready"}
    r = httpx.get(service.url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    for name in ("aa_serve_requests_total", "aa_serve_errors_total", "aa_serve_request_duration_seconds_bucket",
                 "aa_serve_batch_size_bucket", "aa_serve_forward_seconds_bucket", 'aa_serve_model_ready{model="b"} 1.0'):
        assert name in r.text, name
    r = httpx.options(service.url + "/v1/answer", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    r = httpx.get(service.url + "/v1/models", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    assert httpx.get(service.url + "/openapi.json").json()["paths"].keys() >= {"/v1/answer", "/v1/answer/batch", "/v1/models"}


def test_inspect_returns_the_lattice_picture_of_the_routed_model(service):
    import io

    from PIL import Image

    r = post(service, "/v1/inspect", {"question": "What is overfitting?", "model": "b"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(r.content))
    assert image.format == "PNG" and image.width >= 600 and image.height >= 400
    assert sum(1 for count in image.convert("L").histogram() if count) > 16  # a drawn figure, not a blank canvas
    assert post(service, "/v1/inspect", {"question": "What is overfitting?", "model": "nope"}).status_code == 404
    bad = post(service, "/v1/inspect", {"question": "   "})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


def test_api_docs_render_from_local_assets(service):
    for page_path, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        page = httpx.get(service.url + page_path, timeout=30)
        assert page.status_code == 200 and f"/docs-assets/{asset}" in page.text
        assert "cdn" not in page.text.lower()  # nothing fetched from a CDN: the page works offline
        assert httpx.get(service.url + f"/docs-assets/{asset}", timeout=30).status_code == 200
    assert httpx.get(service.url + "/docs-assets/swagger-ui.css", timeout=30).status_code == 200
