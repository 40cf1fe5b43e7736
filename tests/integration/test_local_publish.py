"""Local publishing to MODELO_GENERO_ENTRENADO: one atomic step, special files refused untouched,
failures leave every reader path as it was, concurrent runs end consistent."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from genre_model.contract import MANIFEST, Manifest
from genre_model.serve.model_cache import ModelCache
from genre_model.store.local import LocalModelPath
from genre_model.store.protocol import ArtifactError
from genre_model.store.registry import new_version

NAMES = ("model.joblib", "predictor.joblib", "customers.joblib", "metrics.json")


def files_for(version: str) -> dict[str, bytes]:
    return {name: f"{name} of {version}".encode() for name in NAMES}


def publish(local: LocalModelPath, version: str | None = None) -> str:
    """Write and promote one version the way a training run does."""
    version = version or new_version()
    manifest = local.registry.write_version(
        Manifest(version, created="now", classes=("Jazz", "Rock"), rows={"labelled": 100}),
        files_for(version),
    )
    local.registry.check_promotion(manifest, 1)
    local.registry.promote(version)
    return version


def reader_view(local: LocalModelPath) -> dict[str, bytes]:
    """What a reader of the model path sees, through each companion name."""
    view = {name: local.companion(name).read_bytes() for name in (*NAMES, MANIFEST)}
    view["latest.json"] = (local.versions / "latest.json").read_bytes()
    return view


def assert_serves(local: LocalModelPath, version: str) -> None:
    view = reader_view(local)
    assert json.loads(view["latest.json"])["version"] == version
    assert json.loads(view[MANIFEST])["version"] == version
    for name in NAMES:
        assert view[name] == files_for(version)[name], name


def test_publish_switches_every_reader_path(tmp_path: Path) -> None:
    local = LocalModelPath(tmp_path / "modelo.pkl")
    first = publish(local)
    assert_serves(local, first)
    second = publish(local)
    assert_serves(local, second)
    assert os.readlink(local.current) == f"modelo.versions/{second}"
    for name in NAMES:  # the reader paths are links that never change; only .current moves
        assert os.readlink(local.companion(name)) == f"modelo.current/{name}"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def special(kind: str, path: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    elif kind == "device":
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # like /dev/null
        except PermissionError:
            pytest.skip("creating a device needs root")
    elif kind == "foreign symlink":
        path.symlink_to("/dev/null")


KINDS = ["fifo", "directory", "socket", "device", "foreign symlink"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("where", ["modelo.pkl", "modelo.predictor.joblib", "modelo.current"])
def test_special_file_refused_and_left_untouched(tmp_path: Path, kind: str, where: str) -> None:
    local = LocalModelPath(tmp_path / "modelo.pkl")
    first = publish(local)
    target = tmp_path / where
    target.unlink()
    special(kind, target)
    mode = target.lstat().st_mode
    version = new_version()
    local.registry.write_version(
        Manifest(version, classes=("a", "b"), rows={"labelled": 100}), files_for(version)
    )
    outcome: list[BaseException] = []

    def promote() -> None:  # in a thread: opening a FIFO for writing would block forever
        try:
            local.registry.promote(version)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=promote, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "promote blocked: it opened the special file"
    assert len(outcome) == 1
    assert isinstance(outcome[0], ArtifactError)
    assert str(target) in str(outcome[0])
    assert "\n" not in str(outcome[0])
    assert target.lstat().st_mode == mode  # the very same kind of file, not replaced
    assert json.loads((local.versions / "latest.json").read_bytes())["version"] == first
    if where != "modelo.current":
        assert os.readlink(local.current) == f"modelo.versions/{first}"
    with pytest.raises(ArtifactError):
        local.check()  # and training refuses before it starts


def test_path_under_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    local = LocalModelPath(tmp_path / "file" / "sub" / "modelo.pkl")
    with pytest.raises(ArtifactError, match="is not a directory"):
        local.check()
    with pytest.raises(ArtifactError, match="Not a directory"):  # when written without check
        publish(local)
    assert (tmp_path / "file").read_text() == "x"


def failing_replace(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """``os.replace`` onto ``name`` fails as on a full disk; every other rename works."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("failing", ["modelo.current", "latest.json", "modelo.manifest.json"])
@pytest.mark.parametrize("layout", ["links", "copied files"])
def test_failed_step_leaves_everything_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, layout: str
) -> None:
    local = LocalModelPath(tmp_path / "modelo.pkl")
    first = publish(local)
    if layout == "copied files":  # what earlier releases left: regular copies, no .current
        view = reader_view(local)
        local.current.unlink()
        for name in (*NAMES, MANIFEST):
            local.companion(name).unlink()
            local.companion(name).write_bytes(view[name])
    before = reader_view(local)
    version = new_version()
    local.registry.write_version(
        Manifest(version, classes=("a", "b"), rows={"labelled": 100}), files_for(version)
    )
    failing_replace(monkeypatch, failing)
    if failing == "modelo.manifest.json" and layout == "links":
        local.registry.promote(version)  # links already in place: that rename is never needed
        assert_serves(local, version)
        return
    with pytest.raises(ArtifactError, match="No space left"):
        local.registry.promote(version)
    assert reader_view(local) == before
    assert_serves(local, first)
    monkeypatch.undo()
    local.registry.promote(version)  # and the same version publishes once the disk has room
    assert_serves(local, version)


def test_a_reader_never_mixes_versions(tmp_path: Path) -> None:
    local = LocalModelPath(tmp_path / "modelo.pkl")
    first = publish(local)
    store, keys = local.store()
    frozen = keys()  # resolved once, as one load of the model cache does
    second = publish(local)
    manifest = json.loads(store.get(frozen[MANIFEST]))
    assert manifest["version"] == first
    for name in ("predictor.joblib", "model.joblib", "customers.joblib"):
        data = store.get(frozen[name])
        assert hashlib.sha256(data).hexdigest() == manifest["files"][name]["sha256"]
    assert json.loads(store.get(keys()[MANIFEST]))["version"] == second


def test_model_cache_follows_a_publish(tmp_path: Path, synthetic_sqlite: Path) -> None:
    """The predict side reads a real model through .current and sees the next publish."""
    from dataclasses import replace

    from genre_model.config import Settings, load_settings
    from genre_model.train.pipeline import run_training

    model = tmp_path / "modelo.pkl"
    settings = load_settings({"CHINOOK_SQLITE_PATH": str(synthetic_sqlite), "RF_N_ESTIMATORS": "5"})
    first = run_training(replace(settings, model_path=str(model)), progress=lambda _m: None)
    cache = ModelCache(Settings(model_path=str(model), model_refresh_seconds=0))
    assert cache.get().version == first.version
    local = LocalModelPath(model)
    old = local.registry.manifest(first.version)
    again = new_version()
    files = {name: (local.versions / first.version / name).read_bytes() for name in old.files}
    manifest = local.registry.write_version(replace(old, version=again), files)
    local.registry.check_promotion(manifest, 1)
    local.registry.promote(again)
    assert cache.get().version == again
    assert cache.get().customers.lookup(1) is not None


PUBLISHER = """
import sys
from genre_model.store.local import LocalModelPath
from genre_model.store.registry import new_version
sys.path.insert(0, sys.argv[2])
from test_local_publish import publish
local = LocalModelPath(sys.argv[1])
for _ in range(int(sys.argv[3])):
    publish(local)
"""


def test_concurrent_publishers_end_consistent(tmp_path: Path) -> None:
    """Processes publishing at once while a reader checks every load is one version."""
    model = tmp_path / "modelo.pkl"
    local = LocalModelPath(model)
    publish(local)
    here = str(Path(__file__).parent)
    procs = [
        subprocess.Popen([sys.executable, "-c", PUBLISHER, str(model), here, "15"])
        for _ in range(3)
    ]
    store, keys = local.store()
    mixes = loads = 0
    while any(p.poll() is None for p in procs):
        k = keys()
        manifest = json.loads(store.get(k[MANIFEST]))
        for name in ("predictor.joblib", "model.joblib"):
            if hashlib.sha256(store.get(k[name])).hexdigest() != manifest["files"][name]["sha256"]:
                mixes += 1
        loads += 1
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    assert loads > 0
    assert mixes == 0
    pointer = json.loads((local.versions / "latest.json").read_bytes())["version"]
    assert_serves(local, pointer)
    assert os.readlink(local.current) == f"modelo.versions/{pointer}"
    assert len([p for p in local.versions.iterdir() if p.is_dir()]) == 46


def test_concurrent_training_runs_end_consistent(tmp_path: Path, synthetic_sqlite: Path) -> None:
    """Two real `train` processes at once, twice: pointer, link and every companion agree."""
    model = tmp_path / "modelo.pkl"
    env = {**os.environ, "RF_N_ESTIMATORS": "5"}
    command = [sys.executable, "-m", "genre_model", "train", "--db", str(synthetic_sqlite)]
    for _round in range(2):
        procs = [
            subprocess.Popen(
                [*command, "--model-path", str(model)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
        assert [status for status, _ in results] == [0, 0], results
    import joblib

    local = LocalModelPath(model)
    pointer = json.loads((local.versions / "latest.json").read_bytes())["version"]
    manifest = json.loads(local.companion(MANIFEST).read_bytes())
    assert manifest["version"] == pointer
    assert joblib.load(model)["version"] == pointer
    for name, entry in manifest["files"].items():
        digest = hashlib.sha256(local.companion(name).read_bytes()).hexdigest()
        assert digest == entry["sha256"], name
    assert len([p for p in local.versions.iterdir() if p.is_dir()]) == 4
