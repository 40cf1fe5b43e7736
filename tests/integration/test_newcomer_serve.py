"""What a newcomer meets around `make demo` and `make serve`: the model served with nothing set
(and said at start-up), a busy port found before any work, health saying why no model is
loaded, a local rollback reaching the running server within seconds, one picture per store."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools import demo_models
from devtools.server import LOCAL_REFRESH_SECONDS, choose_model
from genre_model.cli import main
from tests.helpers import ROOT, TrainedModel, local_server


def _demo_copy(model: TrainedModel, demo_dir: Path, folder: str) -> Path:
    """``model`` where a `make demo` run would have written it (``demo_dir/folder``)."""
    shutil.copytree(model.path.parent, demo_dir / folder, symlinks=True)
    return demo_dir / folder / demo_models.MODEL_NAME


def test_nothing_set_serves_the_newest_demo_model(tmp_path, spec_model, spec_model_v2):
    older, newer = sorted([spec_model, spec_model_v2], key=lambda m: m.version)
    _demo_copy(newer, tmp_path, "assets-mysql-root-127-0-0-1-3306-Chinook")
    _demo_copy(older, tmp_path, "assets")
    env: dict[str, str] = {}
    said = choose_model(env, tmp_path)
    assert env["MODELO_GENERO_ENTRENADO"] == str(
        tmp_path / "assets-mysql-root-127-0-0-1-3306-Chinook" / demo_models.MODEL_NAME
    )
    assert newer.version in said
    assert "assets-mysql-root-127-0-0-1-3306-Chinook" in said
    assert env["MODEL_REFRESH_SECONDS"] == LOCAL_REFRESH_SECONDS


def test_nothing_set_and_no_demo_model_says_what_to_run(tmp_path):
    env: dict[str, str] = {}
    said = choose_model(env, tmp_path)
    assert "make demo" in said
    assert "MODELO_GENERO_ENTRENADO" in said
    assert "MODEL_BUCKET" in said
    # the plain demo's path, so a later `make demo` is picked up by the running server
    assert env["MODELO_GENERO_ENTRENADO"] == str(tmp_path / "assets" / demo_models.MODEL_NAME)


def test_a_model_in_the_environment_is_kept(tmp_path, spec_model):
    _demo_copy(spec_model, tmp_path, "assets")
    env = {"MODEL_BUCKET": "my-bucket", "MODEL_REFRESH_SECONDS": "60"}
    said = choose_model(env, tmp_path)
    assert env == {"MODEL_BUCKET": "my-bucket", "MODEL_REFRESH_SECONDS": "60"}
    assert "s3://my-bucket/" in said
    assert "60 s" in said


def test_health_says_why_no_model_is_loaded(tmp_path, monkeypatch):
    env: dict[str, str] = {}
    choose_model(env, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with local_server() as server:
        health = server.request("GET", "/api/health")
        predict = server.request("POST", "/api/predict-genre", b"{}")
    assert health.status == 200
    assert health.body["model_loaded"] is False
    assert health.body["reason"] == "nothing published yet: train a model first"
    assert str(tmp_path) not in health.raw.decode()  # an open probe names no path
    assert predict.status == 503


def test_health_without_any_location_names_the_settings(monkeypatch):
    with local_server() as server:
        health = server.request("GET", "/api/health")
    assert health.body["reason"] == "no model location: set MODEL_BUCKET or MODELO_GENERO_ENTRENADO"


def test_a_local_rollback_reaches_the_running_server_within_seconds(
    tmp_path, monkeypatch, spec_model, spec_model_v2, capsys
):
    """The server runs with the local interval `make serve` sets (2 s); the default 300 s would
    not switch within the minute this waits (a loaded machine may take more than 2 s)."""
    path = _demo_copy(spec_model, tmp_path, "assets")
    shutil.copytree(
        spec_model_v2.version_dir, path.with_name(path.stem + ".versions") / spec_model_v2.version
    )
    env: dict[str, str] = {}
    choose_model(env, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with local_server() as server:
        assert server.request("GET", "/api/health").body["model_version"] == spec_model.version
        assert main(["rollback", spec_model_v2.version, "--model-path", str(path)]) == 0
        said = capsys.readouterr().out
        assert "2 s under make serve" in said
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            served = server.request("GET", "/api/health").body["model_version"]
            if served == spec_model_v2.version:
                break
            time.sleep(0.2)
    assert served == spec_model_v2.version


def test_each_store_has_its_own_report_picture_and_model():
    synthetic = demo_models.report_picture("")
    other = demo_models.report_picture("../shared/chinook/Chinook_Sqlite.sqlite")
    assert synthetic.name == "training-report.png"
    assert other != synthetic
    assert other.parent == synthetic.parent
    assert demo_models.model_path("mysql://root@h/Chinook") != demo_models.model_path("")


@pytest.fixture
def busy_port():
    """A port something else listens on."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_serve_on_a_busy_port_says_so_in_one_line(busy_port):
    done = _run(["-m", "devtools", "serve", "--port", str(busy_port)], {})
    assert done.returncode == 1
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, done.stderr
    assert str(busy_port) in lines[0]
    assert "already in use" in lines[0]
    assert "SERVE_PORT" in lines[0]
    assert "Serving" not in done.stdout + done.stderr


def test_demo_on_a_busy_port_fails_before_any_work(busy_port, tmp_path):
    done = _run(["-m", "devtools.demo"], {"DEMO_PORT": str(busy_port), "DEMO_ONCE": "1"})
    assert done.returncode == 1
    assert "Generating" not in done.stdout  # nothing was generated or trained
    assert "Training" not in done.stdout
    errors = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(errors) == 1, done.stderr
    assert f"127.0.0.1:{busy_port} is already in use" in errors[0]
    assert "DEMO_PORT" in errors[0]


def test_versions_without_a_location_says_where_it_looked(capsys):
    assert main(["versions"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    for name in ("--model-path", "MODELO_GENERO_ENTRENADO", "MODEL_BUCKET"):
        assert name in err


def test_train_says_first_what_it_reads_and_where_it_publishes(
    tmp_path, synthetic_sqlite, fast_forest, capsys, monkeypatch
):
    monkeypatch.setenv("DB_PASSWORD", "s3cr3t-pw")
    target = tmp_path / "m.pkl"
    assert main(["train", "--db", str(synthetic_sqlite), "--model-path", str(target)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"Training from sqlite:{synthetic_sqlite}, publishing to {target}"


def test_train_names_a_mysql_source_without_its_password(capsys, tmp_path):
    """No database needed: the first line is printed before connecting."""
    url = "mysql://reader:pa:ss@127.0.0.1:1/Chinook"  # port 1: nothing listens
    status = main(["train", "--db", url, "--model-path", str(tmp_path / "m.pkl")])
    out, err = capsys.readouterr()
    assert status == 1
    assert out.splitlines()[0].startswith("Training from mysql://reader@127.0.0.1:1/Chinook, ")
    assert "pa:ss" not in out + err


def test_the_cli_is_a_console_script_in_the_venv():
    script = Path(sys.executable).parent / "genre-model"
    assert script.exists(), "make install puts genre-model in the venv ([project.scripts])"
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert "rollback" in done.stdout
