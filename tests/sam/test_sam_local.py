"""The built bundles, run by `sam local` on Python 3.13: the proof that the layers are complete.

Train reads MariaDB's Chinook (through the forwarder on the podman bridge) and publishes to the
moto server; predict serves the model from that moto server; start-api answers the spec's curl.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
SPEC_CURL_BODY = '{"total_spent": 125.75, "total_tracks_bought": 42, "genre_spending_ratio": 0.4}'


def _s3(url: str):
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _publish(moto_server, bucket: str, chinook_sqlite: Path, monkeypatch) -> str:
    """Train in-process on the Chinook SQLite file and publish to the moto server."""
    from genre_model.config import load_settings
    from genre_model.train.pipeline import run_training
    from genre_model.train.sources import SQLiteSource

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    settings = replace(load_settings({"MODEL_BUCKET": bucket}))
    return run_training(settings, source=SQLiteSource(chinook_sqlite)).version


def _assert_spec_shape(body: dict) -> None:
    assert body["status"] == "OK"
    probabilities = body["prediction"]["all_probabilities"]
    assert body["prediction"]["genre"] == next(iter(probabilities))
    assert body["prediction"]["confidence"] == max(probabilities.values())
    assert list(probabilities.values()) == sorted(probabilities.values(), reverse=True)
    assert abs(sum(probabilities.values()) - 1) < 1e-9


def test_train_function_publishes_from_mariadb(sam_invoke, model_bucket, moto_server):
    summary = sam_invoke("TrainFunction", "events/scheduled-event.json")

    assert summary["promoted"] is True
    assert summary["labelled_customers"] == 59  # the real Chinook in MariaDB
    assert 0 < summary["baseline_accuracy"] <= 1
    latest = json.loads(
        _s3(moto_server.url)
        .get_object(Bucket=model_bucket, Key="models/genre/latest.json")["Body"]
        .read()
    )
    assert latest["version"] == summary["version"]


def test_predict_function_answers_in_spec_shape(
    sam_invoke, model_bucket, moto_server, chinook_sqlite, monkeypatch
):
    version = _publish(moto_server, model_bucket, chinook_sqlite, monkeypatch)

    result = sam_invoke("PredictFunction", "events/predict-genre.json")

    assert result["statusCode"] == 200, result
    body = json.loads(result["body"])
    _assert_spec_shape(body)
    assert body["customer_profile"] == {
        "total_spent": 45.5,
        "total_tracks_bought": 15,
        "genre_spending_ratio": 0.6,
    }
    assert result["headers"]["X-Model-Version"] == version


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_start_api_answers_the_spec_curl(
    sam_local, sam_built, model_bucket, moto_server, chinook_sqlite, monkeypatch, tmp_path
):
    _publish(moto_server, model_bucket, chinook_sqlite, monkeypatch)
    port = _free_port()
    log = (tmp_path / "start-api.log").open("w")
    api = subprocess.Popen(
        [
            str(sam_local.sam), "local", "start-api", "--skip-pull-image",
            "-t", str(sam_built), "--env-vars", str(ROOT / "env.json"),
            "--port", str(port), "--warm-containers", "LAZY",
        ],
        cwd=ROOT, env=sam_local.env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert api.poll() is None, (tmp_path / "start-api.log").read_text()[-3000:]
            time.sleep(0.5)
        curl = subprocess.run(
            [
                "curl", "-s", "-w", "\n%{http_code}", "-X", "POST",
                f"http://localhost:{port}/api/predict-genre",
                "-H", "Content-Type: application/json", "-d", SPEC_CURL_BODY,
            ],
            capture_output=True, text=True, timeout=180, check=True,
        )  # fmt: skip
        body, status = curl.stdout.rsplit("\n", 1)
        assert status == "200", curl.stdout + (tmp_path / "start-api.log").read_text()[-3000:]
        _assert_spec_shape(json.loads(body))
        batch = subprocess.run(
            [
                "curl", "-s", "-w", "\n%{http_code}", "-X", "POST",
                f"http://localhost:{port}/api/predict-genre/batch",
                "-H", "Content-Type: application/json",
                "-d", f'{{"items": [{SPEC_CURL_BODY}, {{"total_spend": 1}}]}}',
            ],
            capture_output=True, text=True, timeout=180, check=True,
        )  # fmt: skip
        batch_body, batch_status = batch.stdout.rsplit("\n", 1)
        assert batch_status == "200", batch.stdout
        first, second = json.loads(batch_body)["results"]
        assert first == json.loads(body)  # the same answer as the single endpoint's
        assert second["status"] == "ERROR"
        assert second["errors"] == [{"field": "total_spend", "reason": "unknown field"}]
    finally:
        api.terminate()
        try:
            api.wait(timeout=30)
        except subprocess.TimeoutExpired:
            api.kill()
        log.close()
        if os.environ.get("SAM_LOCAL_KEEP_LOG"):
            print((tmp_path / "start-api.log").read_text())
