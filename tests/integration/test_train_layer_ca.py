"""The Amazon RDS CA bundle is a build input, never a file of this repository: `make rds-ca-bundle`
fetches it (here from a file:// URL: this machine has no AWS) and records its SHA-256, and the
train layer ships it only as recorded, or says in one line that there is none."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from genre_model.train.db_connect import RDS_CA_BUNDLE
from tests.private_mariadb import write_ca

# Interpreter-independent (the train layer's build, run by make):
# `make test-py313` does not run it again.
pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parents[2]
_LAYERS = {"genre_model": "GenreModelLayer", "train_deps": "TrainDepsLayer"}
NOT_FETCHED = (
    "RDS CA bundle not fetched: run `make rds-ca-bundle` before deploying to RDS, or set DB_TLS_CA"
)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _fetch(source: Path, into: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`make rds-ca-bundle` with the URL pointed at a local file."""
    url = f"RDS_CA_URL={source.as_uri()}"
    return _run("make", "-s", "-C", str(ROOT), "rds-ca-bundle", url, f"RDS_CA_DIR={into}", *args)


def _fetched(tmp_path: Path) -> Path:
    """A generated CA, fetched as the bundle: the folder the train layer ships it from."""
    _, _, ca = write_ca(tmp_path, "stand-in-rds-ca")
    done = _fetch(ca, tmp_path / "rds-ca")
    assert done.returncode == 0, done.stderr
    return tmp_path / "rds-ca"


def _contents(into: Path) -> tuple[bytes, str]:
    return (into / "global-bundle.pem").read_bytes(), (
        into / "global-bundle.pem.sha256"
    ).read_text()


def _make(layer: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (out / "python").mkdir(parents=True)  # what pip's --target would create
    directory = ROOT / "layers" / layer
    return _run(
        "make", "-s", "-C", str(directory), f"build-{_LAYERS[layer]}", f"ARTIFACTS_DIR={out}", *args
    )


def _build(layer: str, out: Path, *args: str) -> tuple[Path, str]:
    done = _make(layer, out, *args)
    assert done.returncode == 0, done.stderr
    return out / "python", done.stdout + done.stderr


def _files(tree: Path) -> list[str]:
    return sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())


def test_the_repository_ships_no_ca_bundle() -> None:
    listed = _run("git", "-C", str(ROOT), "ls-files")
    assert listed.returncode == 0, listed.stderr
    tracked = listed.stdout.splitlines()
    assert "layers/genre_model/python/genre_model/train/db_connect.py" in tracked
    assert not [name for name in tracked if name.endswith((".pem", ".pem.sha256", ".crt"))]
    # A bundle a developer drops where the layer puts it is git-ignored, never committed.
    ignored = _run("git", "-C", str(ROOT), "check-ignore", "-q", str(RDS_CA_BUNDLE))
    assert ignored.returncode == 0


def test_the_fetch_records_the_bundles_sha256(tmp_path: Path) -> None:
    bundle = _fetched(tmp_path) / "global-bundle.pem"
    recorded, name = (bundle.parent / "global-bundle.pem.sha256").read_text().split()
    assert name == "global-bundle.pem"
    assert recorded == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert bundle.read_bytes() == (tmp_path / "stand-in-rds-ca.pem").read_bytes()


def test_the_fetch_refuses_a_bundle_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    into = _fetched(tmp_path)
    kept = _contents(into)
    _, _, other = write_ca(tmp_path, "another-ca")
    done = _fetch(other, into, f"RDS_CA_SHA256={hashlib.sha256(kept[0]).hexdigest()}")
    assert done.returncode != 0
    assert "not RDS_CA_SHA256=" in done.stderr
    assert "refused" in done.stderr
    assert _contents(into) == kept  # nothing replaced
    assert sorted(p.name for p in into.iterdir()) == [
        "global-bundle.pem",
        "global-bundle.pem.sha256",
    ]
    # The right pin (any case) is accepted.
    pin = hashlib.sha256(other.read_bytes()).hexdigest().upper()
    assert _fetch(other, into, f"RDS_CA_SHA256={pin}").returncode == 0
    assert (into / "global-bundle.pem").read_bytes() == other.read_bytes()


def test_the_fetch_refuses_what_is_not_a_pem_bundle(tmp_path: Path) -> None:
    page = tmp_path / "error.html"
    page.write_text("<html>403 Forbidden</html>\n")
    done = _fetch(page, tmp_path / "rds-ca")
    assert done.returncode != 0
    assert "not a PEM certificate bundle" in done.stderr
    assert not list((tmp_path / "rds-ca").iterdir())


def test_the_bundle_ships_with_training_only(tmp_path: Path) -> None:
    fetched = _fetched(tmp_path)
    domain, _ = _build("genre_model", tmp_path / "domain", f"RDS_CA_DIR={fetched}")
    assert (domain / "genre_model/train/db_connect.py").is_file()
    assert not list(domain.rglob("*.pem*"))  # the layer predict uses too
    # The train layer's own build with pip left out (PIP=true): what it adds besides the wheels.
    train, output = _build("train_deps", tmp_path / "train", "PIP=true", f"RDS_CA_DIR={fetched}")
    assert _files(train) == ["genre_model/train/rds-ca-bundle.pem"]
    shipped = train / "genre_model/train/rds-ca-bundle.pem"
    assert shipped.read_bytes() == (fetched / "global-bundle.pem").read_bytes()
    assert NOT_FETCHED not in output


def test_without_a_fetched_bundle_the_build_says_so_and_ships_none(tmp_path: Path) -> None:
    nothing = tmp_path / "rds-ca"  # not even the folder
    train, output = _build("train_deps", tmp_path / "train", "PIP=true", f"RDS_CA_DIR={nothing}")
    assert _files(train) == []
    assert output.strip() == NOT_FETCHED


def test_the_train_layer_refuses_a_bundle_that_is_not_the_fetched_one(tmp_path: Path) -> None:
    """A bundle edited after `make rds-ca-bundle` (its hash not recorded) fails the build."""
    fetched = _fetched(tmp_path)
    with (fetched / "global-bundle.pem").open("ab") as bundle:
        bundle.write(write_ca(tmp_path, "slipped-in-ca")[2].read_bytes())
    done = _make("train_deps", tmp_path / "out", "PIP=true", f"RDS_CA_DIR={fetched}")
    assert done.returncode != 0
    assert "FAILED" in done.stderr
    assert not (tmp_path / "out/python/genre_model").exists()
    # A bundle without its recorded SHA-256 (copied in by hand) fails the same way.
    (fetched / "global-bundle.pem.sha256").unlink()
    done = _make("train_deps", tmp_path / "again", "PIP=true", f"RDS_CA_DIR={fetched}")
    assert done.returncode != 0
    assert "no recorded SHA-256: FAILED" in done.stderr
    assert not (tmp_path / "again/python/genre_model").exists()
