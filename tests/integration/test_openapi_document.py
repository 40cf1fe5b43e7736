"""The committed OpenAPI document is the one the API generates."""

from __future__ import annotations

import json

from tests.helpers import OPENAPI

REGENERATE = (
    '.venv/bin/python -c "from genre_model.serve.routes import openapi_document; '
    'print(openapi_document())" > docs/openapi.json'
)


def generated() -> dict:
    from genre_model.serve.routes import openapi_document

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
    """One implementation per route: the resolver registered the very functions in ``api``
    that the handler calls (the POSTs before routing), so the document describes them."""
    from genre_model.serve import api, routes

    registered = {(r.method, r.path): r.func for r in routes.app._static_routes}
    assert registered == {
        ("POST", "/api/predict-genre"): api.predict_genre,
        ("POST", "/api/predict-genre/batch"): api.predict_genre_batch,
        ("GET", "/api/health"): api.health,
        ("GET", "/api/model"): api.model_info,
    }
