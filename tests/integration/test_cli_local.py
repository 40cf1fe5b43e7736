"""The local MODELO_GENERO_ENTRENADO path: CLI train/versions/rollback and the seed command."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import joblib
import numpy as np
import pytest

from genre_model import contract
from genre_model.cli import main
from genre_model.contract import pack_arrays, unpack_arrays
from genre_model.serve.predictor import Predictor, load_payload

ROOT = Path(__file__).resolve().parents[2]
COMPANIONS = ("predictor.joblib", "manifest.json", "metrics.json", "customers.joblib")


def run(args: list[str], model: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "MODELO_GENERO_ENTRENADO": str(model), "RF_N_ESTIMATORS": "10", **env}
    return subprocess.run(
        args, cwd=cwd, env=environ, capture_output=True, text=True, timeout=120, check=False
    )


def companion(model: Path, name: str) -> Path:
    return model.with_name(f"{model.stem}.{name}")


def test_train_writes_the_pickle_at_exactly_the_path(
    tmp_path: Path, synthetic_sqlite: Path
) -> None:
    model = tmp_path / "tmp" / "modelo.pkl"
    result = run(
        [sys.executable, "-m", "genre_model", "train", "--db", str(synthetic_sqlite)],
        model,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "baseline" in result.stdout
    assert "Traceback" not in result.stderr
    assert model.is_file()
    saved = joblib.load(model)
    assert isinstance(saved, dict)
    encoder = saved["label_encoders"]["genre"]
    assert saved["genre_classes"] == list(encoder.classes_)
    assert list(saved["model"].classes_) == list(range(len(encoder.classes_)))
    assert saved["feature_columns"] == [
        "total_spent",
        "total_tracks_bought",
        "genre_spending_ratio",
    ]
    code = saved["model"].predict(np.array([[20.0, 20.0, 0.6]]))[0]
    assert encoder.inverse_transform([code])[0] in saved["genre_classes"]
    for name in COMPANIONS:
        assert companion(model, name).is_file(), name
    manifest = json.loads(companion(model, "manifest.json").read_text())
    assert manifest["version"] == saved["version"]
    assert manifest["version"] in result.stdout
    metrics = json.loads(companion(model, "metrics.json").read_text())
    assert "baseline" in metrics["holdout"]
    cv = metrics["cross_validation"]
    assert cv["estimates"] == cv["folds"] * cv["repeats"] >= 10
    assert f"Cross-validation: {cv['estimates']} estimates" in result.stdout
    assert manifest["metrics"]["cross_validation"]["estimates"] == cv["estimates"]
    assert manifest["metrics"]["beats_baseline"] == cv["beats_baseline"]
    predictor = Predictor(joblib.load(companion(model, "predictor.joblib")))
    X = np.array([[20.0, 20.0, 0.6], [3.0, 3.0, 1.0]])
    assert np.array_equal(predictor.predict_proba(X), saved["model"].predict_proba(X))


def empty_sqlite(path: Path) -> Path:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER)")
        conn.commit()
    return path


@pytest.mark.parametrize("db", ["missing.sqlite", "empty.sqlite"])
def test_failing_run_exits_1_with_one_error_line(tmp_path: Path, db: str) -> None:
    path = tmp_path / db
    if db == "empty.sqlite":
        empty_sqlite(path)
    model = tmp_path / "out" / "modelo.pkl"
    result = run([sys.executable, "-m", "genre_model", "train", "--db", str(path)], model, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert lines[-1] == errors[0]
    assert str(path) in errors[0] or "Chinook" in errors[0]
    assert not model.exists()
    assert not any(companion(model, name).exists() for name in COMPANIONS)
    # Only the first line, said before any work: what it reads and where it would publish.
    assert result.stdout.splitlines() == [f"Training from sqlite:{path}, publishing to {model}"]


def test_failing_run_keeps_the_previous_model(tmp_path: Path, synthetic_sqlite: Path) -> None:
    model = tmp_path / "modelo.pkl"
    cmd = [sys.executable, "-m", "genre_model", "train", "--db"]
    assert run([*cmd, str(synthetic_sqlite)], model, tmp_path).returncode == 0
    before = {p.name: p.read_bytes() for p in tmp_path.glob("modelo*") if p.is_file()}
    failed = run([*cmd, str(empty_sqlite(tmp_path / "e.sqlite"))], model, tmp_path)
    assert failed.returncode == 1
    after = {p.name: p.read_bytes() for p in tmp_path.glob("modelo*") if p.is_file()}
    assert after == before


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_forest: None) -> Path:
    """MODELO_GENERO_ENTRENADO (a fresh local path) for the in-process CLI; ten trees."""
    path = tmp_path / "modelo.pkl"
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(path))
    return path


def test_versions_and_rollback(
    synthetic_sqlite: Path,
    capsys: pytest.CaptureFixture[str],
    model: Path,
) -> None:
    assert main(["train", "--db", str(synthetic_sqlite), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["summary"]["version"]
    first_bytes = model.read_bytes()
    assert main(["train", "--db", str(synthetic_sqlite), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)["summary"]["version"]
    assert second != first
    assert joblib.load(model)["version"] == second

    assert main(["versions"]) == 0
    listing = capsys.readouterr().out
    assert first in listing
    assert second in listing
    marked = [line for line in listing.splitlines() if line.startswith("* ")]
    assert len(marked) == 1
    assert second in marked[0]

    assert main(["rollback", first]) == 0
    assert f"latest -> {first}" in capsys.readouterr().out
    assert model.read_bytes() == first_bytes
    assert json.loads(companion(model, "manifest.json").read_text())["version"] == first
    assert main(["versions"]) == 0
    marked = [line for line in capsys.readouterr().out.splitlines() if line.startswith("* ")]
    assert len(marked) == 1
    assert first in marked[0]

    assert main(["rollback", "19990101T000000Z-000000"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:")
    assert joblib.load(model)["version"] == first


def test_seed_command(tmp_path: Path, synthetic_sqlite: Path) -> None:
    model = tmp_path / "seed" / "modelo.pkl"
    result = run(
        [sys.executable, "app.py", "--app", "TrainModel", "--model-type", "genre"],
        model,
        ROOT,
        CHINOOK_SQLITE_PATH=str(synthetic_sqlite),
    )
    assert result.returncode == 0, result.stderr
    assert "baseline" in result.stdout
    saved = joblib.load(model)
    assert saved["genre_classes"] == list(saved["label_encoders"]["genre"].classes_)
    assert companion(model, "manifest.json").is_file()


def _reader_view(model: Path) -> dict[str, bytes]:
    """Every byte a reader of the model path sees, where the links lead, and the pointer."""
    view = {p.name: p.read_bytes() for p in model.parent.glob("modelo*") if p.is_file()}
    view["current"] = str(companion(model, "current").readlink()).encode()
    view["latest.json"] = (model.parent / "modelo.versions" / "latest.json").read_bytes()
    return view


def _damaged_copy(model: Path, damage: Callable[[dict, dict], None]) -> str:
    """A copy of the served version, re-hashed after ``damage(predictor, manifest)``."""
    versions = model.parent / "modelo.versions"
    served = json.loads((versions / "latest.json").read_text())["version"]
    bad = "20200101T000000Z-bad0bad"
    shutil.copytree(versions / served, versions / bad)
    predictor = load_payload((versions / bad / "predictor.joblib").read_bytes())
    manifest = json.loads((versions / bad / "manifest.json").read_text())
    damage(predictor, manifest)
    data = pickle.dumps(predictor)
    (versions / bad / "predictor.joblib").write_bytes(data)
    manifest["version"] = bad
    manifest["files"]["predictor.joblib"]["sha256"] = hashlib.sha256(data).hexdigest()
    (versions / bad / "manifest.json").write_text(json.dumps(manifest))
    return bad


def _nan_leaves(predictor: dict, _manifest: dict) -> None:
    arrays = unpack_arrays(predictor["arrays"])
    arrays["value"] = np.full_like(arrays["value"], np.nan)
    predictor["arrays"] = pack_arrays(arrays)


def _wrong_types(_predictor: dict, manifest: dict) -> None:
    manifest.update(classes=5, created={"a": 1}, rows="x", metrics=[1])


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_nan_leaves, "leaf probabilities must be finite"),
        (_wrong_types, "manifest.json of 20200101T000000Z-bad0bad unusable"),
    ],
)
def test_rollback_to_a_hash_correct_unservable_version_is_refused(
    synthetic_sqlite: Path,
    capsys: pytest.CaptureFixture[str],
    model: Path,
    damage: Callable[[dict, dict], None],
    reason: str,
) -> None:
    assert main(["train", "--db", str(synthetic_sqlite)]) == 0
    bad = _damaged_copy(model, damage)
    before = _reader_view(model)
    capsys.readouterr()
    assert main(["rollback", bad]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert err.startswith("error: ")
    assert reason in err
    assert _reader_view(model) == before


def test_training_never_promotes_a_forest_predict_would_refuse(
    synthetic_sqlite: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    model: Path,
) -> None:
    """Trees deeper than the contract's bound (here lowered to 3) are written, never promoted."""
    assert main(["train", "--db", str(synthetic_sqlite)]) == 0
    before = _reader_view(model)
    monkeypatch.setattr(contract, "MAX_TREE_DEPTH", 3)
    capsys.readouterr()
    assert main(["train", "--db", str(synthetic_sqlite)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "not published" in err
    assert "longer than 3 levels" in err
    assert _reader_view(model) == before
