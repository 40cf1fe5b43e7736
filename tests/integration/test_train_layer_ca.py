"""The pinned RDS CA bundle ships in the train layer only, and only as pinned (its SHA-256)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from genre_model.train.db_connect import RDS_CA_BUNDLE

ROOT = Path(__file__).resolve().parents[2]
SHA_FILE = RDS_CA_BUNDLE.with_name(RDS_CA_BUNDLE.name + ".sha256")
_LAYERS = {"genre_model": "GenreModelLayer", "train_deps": "TrainDepsLayer"}


def _bundle() -> bytes:
    return RDS_CA_BUNDLE.read_bytes()


def _make(directory: Path, layer: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (out / "python").mkdir(parents=True)  # what pip's --target would create
    return subprocess.run(
        ["make", "-s", "-C", str(directory), f"build-{layer}", f"ARTIFACTS_DIR={out}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _build(layer: str, out: Path, *args: str) -> Path:
    done = _make(ROOT / "layers" / layer, _LAYERS[layer], out, *args)
    assert done.returncode == 0, done.stderr
    return out / "python"


def test_the_bundle_ships_with_training_only(tmp_path: Path) -> None:
    domain = _build("genre_model", tmp_path / "domain")
    assert (domain / "genre_model/train/db_connect.py").is_file()
    assert not list(domain.rglob("*.pem*"))  # the layer predict uses too
    # The train layer's own build with pip left out (PIP=true): what it adds besides the wheels.
    train = _build("train_deps", tmp_path / "train", "PIP=true")
    shipped = train / "genre_model/train/rds-ca-bundle.pem"
    assert shipped.read_bytes() == _bundle()
    assert [p.relative_to(train).as_posix() for p in train.rglob("*") if p.is_file()] == [
        "genre_model/train/rds-ca-bundle.pem"
    ]


def test_the_train_layer_refuses_a_bundle_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    """A bundle edited without `make rds-ca-bundle` (its hash not recorded) fails the build."""
    fake = tmp_path / "layers"
    for part in ("train_deps", "genre_model/python/genre_model/train"):
        (fake / part).mkdir(parents=True)
    (fake / "train_deps/Makefile").write_text((ROOT / "layers/train_deps/Makefile").read_text())
    (fake / "wheels.mk").write_text((ROOT / "layers/wheels.mk").read_text())
    pinned = fake / "genre_model/python/genre_model/train"
    (pinned / "rds-ca-bundle.pem").write_bytes(_bundle() + b"\n")
    (pinned / "rds-ca-bundle.pem.sha256").write_text(SHA_FILE.read_text())
    done = _make(fake / "train_deps", "TrainDepsLayer", tmp_path / "out", "PIP=true")
    assert done.returncode != 0
    assert "FAILED" in done.stdout + done.stderr
    assert not (tmp_path / "out/python/genre_model/train/rds-ca-bundle.pem").exists()
