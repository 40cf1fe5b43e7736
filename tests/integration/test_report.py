"""Each version's report: report.json and report.png listed and hashed in the manifest, the
headline figures in ``versions`` and ``GET /api/model``, the picture written by ``report``, and
a damaged report costing the figures only, never a prediction."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from genre_model.contract import REPORT_FILE, REPORT_PICTURE, Headline
from genre_model.store.protocol import sha256
from tests.helpers import TrainedModel, good_answer, invoke, make_event, train_model

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def own_model(
    tmp_path: Path, predict_sqlite: Path, monkeypatch: pytest.MonkeyPatch
) -> TrainedModel:
    """A private copy of the spec model (its files may be damaged), served by predict."""
    model = train_model(tmp_path / "own", predict_sqlite, "spec", 42)
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(model.path))
    return model


def cli(args: list[str], model: TrainedModel, cwd: Path) -> subprocess.CompletedProcess:
    env = {"MODELO_GENERO_ENTRENADO": str(model.path), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "genre_model", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rewrite(model: TrainedModel, name: str, data: bytes, *, rehash: bool) -> None:
    """Replace one file of the version; ``rehash``: and its manifest hash (hash-correct)."""
    (model.version_dir / name).write_bytes(data)
    if rehash:
        manifest_path = model.version_dir / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        manifest["files"][name] = {"sha256": sha256(data), "bytes": len(data)}
        manifest_path.write_text(json.dumps(manifest))


def test_report_files_are_listed_with_their_hash(spec_model: TrainedModel) -> None:
    files = spec_model.files()
    listed = spec_model.manifest["files"]
    for name in (REPORT_FILE, REPORT_PICTURE):
        assert listed[name]["sha256"] == sha256(files[name])
        assert listed[name]["bytes"] == len(files[name])
    assert files[REPORT_PICTURE].startswith(PNG)
    report = json.loads(files[REPORT_FILE])
    head = Headline.from_report(report, spec_model.version)
    holdout = spec_model.manifest["metrics"]["holdout"]
    assert head.holdout["model_accuracy"] == holdout["model_accuracy"]
    assert head.holdout["baseline_accuracy"] == holdout["baseline_accuracy"]
    assert head.labelled_customers == spec_model.manifest["rows"]["labelled"]
    labels = report["confusion_matrix"]["labels"]
    assert labels == list(spec_model.manifest["classes"])
    assert sum(map(sum, report["confusion_matrix"]["matrix"])) == report["sample"]["test"]
    assert set(report["feature_importances"]) == set(spec_model.manifest["feature_columns"])
    assert report["history"][-1]["version"] == spec_model.version


def test_model_answer_has_the_live_headline(own_model: TrainedModel, predict_handler) -> None:
    answer = invoke(predict_handler, make_event(None, method="GET", path="/api/model"))
    assert answer.status == 200, answer.raw
    report = json.loads(own_model.files()[REPORT_FILE])
    assert answer.body["headline"] == report["headline"]
    assert answer.body["headline_unavailable"] is None


@pytest.mark.parametrize(
    ("data", "rehash", "reason"),
    [
        (b'{"format": "genre-model-report/1"', False, "SHA-256 mismatch"),
        (b"[1, 2, 3]", True, "not a JSON object"),
        (b'{"format": "genre-model-report/1", "version": "x"}', True, "names version"),
        (None, True, "must be a number from 0 to 1"),  # hash-correct, accuracy 7
    ],
)
def test_a_damaged_report_costs_the_figures_not_the_model(
    own_model: TrainedModel, predict_handler, data: bytes | None, rehash: bool, reason: str
) -> None:
    if data is None:
        report = json.loads(own_model.files()[REPORT_FILE])
        report["headline"]["holdout"]["model_accuracy"] = 7
        data = json.dumps(report).encode()
    rewrite(own_model, REPORT_FILE, data, rehash=rehash)
    assert good_answer(predict_handler).status == 200
    answer = invoke(predict_handler, make_event(None, method="GET", path="/api/model"))
    assert answer.status == 200, answer.raw
    assert answer.body["version"] == own_model.version
    assert answer.body["headline"] is None
    assert reason in answer.body["headline_unavailable"]


def test_a_version_without_report_serves_and_says_so(
    own_model: TrainedModel, predict_handler
) -> None:
    manifest_path = own_model.version_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["files"][REPORT_FILE], manifest["files"][REPORT_PICTURE]
    manifest_path.write_text(json.dumps(manifest))
    assert good_answer(predict_handler).status == 200
    answer = invoke(predict_handler, make_event(None, method="GET", path="/api/model"))
    assert answer.body["headline"] is None
    assert "published without report.json" in answer.body["headline_unavailable"]


def test_versions_shows_headline_figures(own_model: TrainedModel, tmp_path: Path) -> None:
    done = cli(["versions"], own_model, tmp_path)
    assert done.returncode == 0, done.stderr
    (row,) = [line for line in done.stdout.splitlines() if own_model.version in line]
    holdout = own_model.manifest["metrics"]["holdout"]
    cv = own_model.manifest["metrics"]["cross_validation"]
    assert row.startswith("* ")
    for model_figure, baseline_figure in (
        (holdout["model_accuracy"], holdout["baseline_accuracy"]),
        (holdout["model_macro_f1"], holdout["baseline_macro_f1"]),
        (cv["model_accuracy"], cv["baseline_accuracy"]),
    ):
        assert f"{model_figure:.3f} / {baseline_figure:.3f}" in row
    assert row.endswith("yes")


def test_report_writes_the_verified_picture_and_never_overwrites(
    own_model: TrainedModel, tmp_path: Path
) -> None:
    out = tmp_path / "picture.png"
    done = cli(["report", own_model.version, "--out", str(out)], own_model, tmp_path)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == own_model.files()[REPORT_PICTURE]
    out.write_bytes(b"mine")
    again = cli(["report", own_model.version, "--out", str(out)], own_model, tmp_path)
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1
    assert "refusing to overwrite" in again.stderr
    assert out.read_bytes() == b"mine"
    default = cli(["report", own_model.version], own_model, tmp_path)
    assert default.returncode == 0, default.stderr
    assert (tmp_path / f"{own_model.version}.report.png").read_bytes().startswith(PNG)


@pytest.mark.parametrize(
    ("version", "damage", "message"),
    [
        ("../../etc/passwd", None, "is not a version name"),
        (None, "tamper", "SHA-256 mismatch"),
        (None, "not-png", "is not a PNG picture"),
    ],
)
def test_report_refuses_with_one_line(
    own_model: TrainedModel, tmp_path: Path, version: str | None, damage: str | None, message: str
) -> None:
    if damage == "tamper":
        rewrite(own_model, REPORT_PICTURE, b"\x89PNG\r\n\x1a\nother", rehash=False)
    elif damage == "not-png":
        rewrite(own_model, REPORT_PICTURE, b"<svg/>", rehash=True)
    done = cli(["report", version or own_model.version], own_model, tmp_path)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.glob("*.png"))
