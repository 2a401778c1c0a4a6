"""Start-up, API keys and shutdown of a real `aa serve` process."""
from __future__ import annotations

import threading
import time

import httpx


def test_binding_beyond_loopback_needs_an_api_key(aa_serve, checkpoints, tmp_path):
    r = aa_serve("--checkpoint", str(checkpoints["a"]), "--host", "0.0.0.0", env={"AA_SERVE_API_KEY": ""})
    assert r.returncode == 2 and "API key" in r.stderr and "Traceback" not in r.stderr
    empty = tmp_path / "key"
    empty.write_text("\n")
    r = aa_serve("--checkpoint", str(checkpoints["a"]), "--host", "0.0.0.0", "--api-key-file", str(empty))
    assert r.returncode == 2 and "empty" in r.stderr


def test_bad_checkpoint_and_settings_exit_2_before_binding(aa_serve, tmp_path):
    r = aa_serve("--checkpoint", str(tmp_path / "missing"))
    assert r.returncode == 2 and "no such directory" in r.stderr and "Traceback" not in r.stderr
    r = aa_serve("--checkpoint", str(tmp_path), "--max-batch", "0")
    assert r.returncode == 2 and "--max-batch" in r.stderr


def test_a_taken_port_exits_2(aa_serve, checkpoints):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        r = aa_serve("--checkpoint", str(checkpoints["a"]), "--port", str(taken.getsockname()[1]))
    assert r.returncode == 2 and "cannot listen" in r.stderr and "Traceback" not in r.stderr


def test_ready_after_loading_api_key_and_graceful_shutdown(start_service, checkpoints, tmp_path):
    key = tmp_path / "key"
    key.write_text("s3cret-key\n")
    s = start_service(["--checkpoint", str(checkpoints["a"]), "--api-key-file", str(key), "--max-wait-ms", "1500"])
    try:
        s.wait_listening()
        # Listening, but the model is still loading: alive, not ready, answers refused with 503.
        assert httpx.get(s.url + "/health/live").status_code == 200
        r = httpx.get(s.url + "/health/ready")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        s.wait_ready()

        auth = {"Authorization": "Bearer s3cret-key"}
        assert httpx.get(s.url + "/v1/models").status_code == 401
        r = httpx.get(s.url + "/v1/models", headers={"Authorization": "Bearer s3cret-kez"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert httpx.get(s.url + "/v1/models", headers=auth).status_code == 200
        assert httpx.get(s.url + "/v1/models", headers={"X-API-Key": "s3cret-key"}).status_code == 200
        assert httpx.get(s.url + "/metrics").status_code == 401
        assert httpx.get(s.url + "/").status_code == 200  # the demo page asks for the key itself

        # SIGTERM while a request waits in the batcher (1.5 s): it is answered, then the process exits 0.
        result: dict = {}

        def ask() -> None:
            result["r"] = httpx.post(s.url + "/v1/answer", json={"question": "What is overfitting?"}, headers=auth, timeout=60)

        t = threading.Thread(target=ask)
        t.start()
        time.sleep(0.5)
        code = s.stop()
        t.join(60)
        assert result["r"].status_code == 200 and result["r"].json()["answer"]
        assert code == 0
    finally:
        s.stop()


def test_a_model_that_fails_to_load_ends_the_service_with_2(aa_serve, checkpoints, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(checkpoints["old"], broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # metadata still reads: the failure comes while loading
    r = aa_serve("--checkpoint", str(broken), "--port", "0")
    assert r.returncode == 2 and "listening on" in r.stderr and "truncated" in r.stderr and "Traceback" not in r.stderr
