"""One version-name pattern wherever a version is read or written: ``rollback`` refuses a path
(even onto a complete planted version) with one line and changes nothing; listings skip folders
that are not versions."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from genre_model.cli import main
from tests.helpers import TrainedModel

NAMES = ["../../evil/v1", "../evil", "/etc", "20261126T020000Z-1a2b3c/../../x", "", "v1"]


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` and its SHA-256: 'nothing changed' is this staying equal."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def local_store(tmp_path: Path, spec_model: TrainedModel) -> Path:
    """A copy of a trained local model path, and a complete version planted OUTSIDE its
    versions folder at ``<versions>/../../evil/v1`` whose manifest names that path."""
    store = tmp_path / "store"
    shutil.copytree(spec_model.path.parent, store)
    evil = tmp_path / "evil" / "v1"
    shutil.copytree(spec_model.version_dir, evil)
    manifest = json.loads((evil / "manifest.json").read_text())
    (evil / "manifest.json").write_text(json.dumps({**manifest, "version": "../../evil/v1"}))
    return store / spec_model.path.name


@pytest.mark.parametrize("name", NAMES)
def test_rollback_to_a_path_is_one_line_and_changes_nothing(name, local_store, tmp_path, capsys):
    before = tree(tmp_path)
    assert main(["rollback", name, "--model-path", str(local_store)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error:")
    assert "not a version name" in lines[0]
    assert "Traceback" not in captured.err
    assert tree(tmp_path) == before


def test_rollback_to_a_path_on_s3_changes_nothing(monkeypatch, capsys):
    monkeypatch.setenv("MODEL_BUCKET", "genre-names")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="genre-names")
        pointer = b'{"version": "20261126T020000Z-1a2b3c"}'
        s3.put_object(Bucket="genre-names", Key="models/genre/latest.json", Body=pointer)
        s3.put_object(
            Bucket="genre-names", Key="models/genre/../../evil/v1/manifest.json", Body=b"{}"
        )
        assert main(["rollback", "../../evil/v1"]) == 1
        body = s3.get_object(Bucket="genre-names", Key="models/genre/latest.json")["Body"].read()
    assert body == pointer
    assert "not a version name" in capsys.readouterr().err


def test_versions_lists_only_version_folders(local_store, capsys, spec_model):
    versions = local_store.with_name(f"{local_store.stem}.versions")
    for junk in ("junk", "a/b", "20261126T020000Z-1a2b3c.bak"):
        (versions / junk).mkdir(parents=True)
        (versions / junk / "manifest.json").write_text("{}")
    assert main(["versions", "--model-path", str(local_store)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["version"])
    listed = [line.lstrip("* ").split()[0] for line in lines[header + 1 :]]
    assert listed == [spec_model.version]
