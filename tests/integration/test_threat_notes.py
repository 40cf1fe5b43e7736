"""infra/deploy.md's threat notes stay true: every test and template line they cite exists, and
the claims no other test covers are checked here."""

from __future__ import annotations

import http.client
import re
import ssl
from pathlib import Path

from devtools.cfn_template import load_template
from genre_model.config import SignedGet
from genre_model.store.s3_get import S3Getter

ROOT = Path(__file__).resolve().parents[2]
NOTES = (ROOT / "infra/deploy.md").read_text().split("## Threat notes", 1)[1].split("\n## ", 1)[0]
RESOURCES = load_template()["Resources"]


def test_every_cited_test_exists() -> None:
    cited = set(re.findall(r"(tests/[\w/]+\.py)::(\w+)", NOTES))
    assert len(cited) >= 20
    for path, name in sorted(cited):
        source = (ROOT / path).read_text()
        assert re.search(rf"^def {name}\(", source, re.M), f"{path}::{name} is cited but missing"


def test_every_cited_template_line_exists() -> None:
    cited = re.findall(r"`template\.yaml`\s+((?:`[\w.]+`(?:,\s+| statement )?)+)", NOTES)
    names = [n for group in cited for n in re.findall(r"`([\w.]+)`", group)]
    assert len(names) >= 6
    statements = [s.get("Sid") for r in RESOURCES.values() for s in _statements(r)]
    for name in names:
        resource, _, prop = name.partition(".")
        if resource in RESOURCES:
            assert not prop or prop in RESOURCES[resource]["Properties"], name
        else:
            assert resource in statements, f"{name} is cited but not in template.yaml"


def _statements(resource: dict) -> list[dict]:
    document = resource.get("Properties", {}).get("PolicyDocument", {})
    return list(document.get("Statement", [])) if isinstance(document, dict) else []


def test_artifacts_and_dead_letters_are_encrypted_at_rest() -> None:
    (rule,) = RESOURCES["ModelBucket"]["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms"}
    assert rule["BucketKeyEnabled"] is True
    assert RESOURCES["TrainDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True


def test_predicts_s3_get_is_verified_https() -> None:
    """Inside Lambda (no endpoint override) the standard-library GET speaks verified TLS."""
    for bucket in ("models", "models.with.dots"):
        getter = S3Getter(bucket, SignedGet("AKIDEXAMPLE", "secret", None, "eu-west-1"))
        conn = getter._connection(1.0)
        assert isinstance(conn, http.client.HTTPSConnection)
        assert conn.host.endswith(".amazonaws.com")
        context = conn._context  # type: ignore[attr-defined]
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True


def test_every_database_wait_fits_in_the_train_functions_deadline() -> None:
    """Each socket wait (connect; each read or write, TLS handshake included) and the secret
    read with its retries end well before Lambda stops the function."""
    from genre_model.config import load_settings
    from genre_model.train import db_connect as c

    props = RESOURCES["TrainFunction"]["Properties"]
    env = {k: v for k, v in props["Environment"]["Variables"].items() if isinstance(v, str)}
    db = load_settings(env).database
    secret_read = c.SECRET_ATTEMPTS * (c.SECRET_CONNECT_TIMEOUT + c.SECRET_READ_TIMEOUT)
    assert secret_read + db.connect_timeout + db.read_timeout < props["Timeout"]
