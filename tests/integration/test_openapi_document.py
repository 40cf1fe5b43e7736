"""The committed OpenAPI document is the one the API generates."""

from __future__ import annotations

import json

from tests.helpers import OPENAPI

REGENERATE = "make openapi"


def generated() -> dict:
    from genre_model.serve.openapi import openapi_document

    return json.loads(openapi_document())


def test_committed_openapi_matches_the_code():
    committed = json.loads(OPENAPI.read_text())
    assert generated() == committed, f"docs/openapi.json is stale; regenerate with: {REGENERATE}"


def test_openapi_documents_every_route_and_status():
    paths = generated()["paths"]
    batch = "/api/predict-genre/batch"
    assert set(paths) == {"/api/predict-genre", batch, "/api/health", "/api/model"}
    assert set(paths["/api/predict-genre"]) == {"post"}
    responses = set(paths["/api/predict-genre"]["post"]["responses"])
    assert {"200", "400", "404", "413", "415", "422", "503"} <= responses
    assert set(paths[batch]) == {"post"}
    assert {"200", "400", "413", "415", "422", "503"} <= set(paths[batch]["post"]["responses"])
    item = generated()["components"]["schemas"]["BatchRequest"]["properties"]["items"]
    # A PredictRequest, or anything else (answered with its error body, never a 4xx for all)
    assert item["items"]["anyOf"][0] == {"$ref": "#/components/schemas/PredictRequest"}
    assert "503" in paths["/api/model"]["get"]["responses"]


def test_openapi_request_schema_is_strict():
    schemas = generated()["components"]["schemas"]
    request = schemas["PredictRequest"]
    assert request.get("additionalProperties") is False
    assert set(request["properties"]) == {
        "total_spent",
        "total_tracks_bought",
        "genre_spending_ratio",
        "country",
        "customer_id",
        "explain",
    }
    assert not request.get("required")
    ratio = request["properties"]["genre_spending_ratio"]
    assert (ratio["minimum"], ratio["maximum"]) == (0, 1)
    assert request["properties"]["total_tracks_bought"]["type"] == "integer"
    assert request["examples"][0] == {
        "total_spent": 45.5,
        "total_tracks_bought": 15,
        "genre_spending_ratio": 0.6,
    }
    error = schemas["ErrorResponse"]
    assert set(error["properties"]) == {"status", "message", "errors"}


def test_the_document_describes_the_functions_that_answer() -> None:
    """One implementation per route: the document registers the very functions in ``api``
    that the route table calls (under their documented signatures), and every route of the
    table, no other."""
    from genre_model.serve import api, openapi, routes

    registered = {(r.method, r.path): r.func.__wrapped__ for r in openapi.resolver()._static_routes}
    assert registered == {
        ("POST", "/api/predict-genre"): api.predict_genre,
        ("POST", "/api/predict-genre/batch"): api.predict_genre_batch,
        ("GET", "/api/health"): api.health,
        ("GET", "/api/model"): api.model_info,
    }
    assert set(registered) == set(routes.ENTRIES)


def test_nothing_a_request_imports_builds_the_document() -> None:
    """pydantic and the resolver stay behind the document: a fresh interpreter that imports the
    predict path has neither."""
    import subprocess
    import sys

    code = (
        "import sys; import genre_model.serve.handler; "
        "print(sorted(m for m in ('pydantic', 'aws_lambda_powertools', 'genre_model.serve.schemas',"
        " 'genre_model.serve.openapi', 'boto3', 'numpy.typing') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
