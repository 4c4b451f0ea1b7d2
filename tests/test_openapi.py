"""The OpenAPI document tells the truth: errors are problem details, raw bodies are binary in their real
media types, and a 405 lists every method of the path."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_every_api_operation_documents_its_errors_as_problems(app: FastAPI) -> None:
    document = app.openapi()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "errors" in document["components"]["schemas"]["Problem"]["properties"]
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("404", "422", "503"):
                assert responses[status]["content"] == PROBLEM, (method, path, status)
            if operation.get("security"):
                assert responses["401"]["content"] == PROBLEM, (method, path)


def test_raw_bodies_are_binary_in_their_real_media_types(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    csv = paths["/api/v1/imports/{kind}"]["post"]["requestBody"]["content"]
    assert csv == {"text/csv": {"schema": {"type": "string", "format": "binary"}}}
    photo = paths["/api/v1/photos/{photo_id}"]["put"]["requestBody"]["content"]
    assert {"image/jpeg", "image/png", "image/webp", "image/heic"} <= set(photo)
    tus = [p for p in paths["/api/v1/uploads/"]["post"]["parameters"] if p["name"] == "tus-resumable"]
    assert tus[0]["required"] and tus[0]["schema"]["enum"] == ["1.0.0"]


def test_a_405_lists_every_method_of_the_path(client: TestClient) -> None:
    answer = client.request("OPTIONS", "/api/v1/borrowers")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    assert answer.headers["content-type"] == "application/problem+json"


def test_what_is_created_links_to_what_comes_next(app: FastAPI) -> None:
    created = app.openapi()["paths"]["/api/v1/visits"]["post"]["responses"]["201"]["links"]
    assert created["GetVisit"] == {
        "operationRef": "#/paths/~1api~1v1~1visits~1{visit_id}/get",
        "parameters": {"visit_id": "$response.body#/id"},
    }


def test_the_api_docs_page_is_served_from_our_own_files(client: TestClient) -> None:
    """Swagger UI comes from the npm registry through `make`, never from a CDN a bank's network may block."""
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "https://" not in page.text and "//cdn" not in page.text
    assert "/openapi.json" in page.text
    for asset in re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page.text):
        answer = client.get(asset)
        assert answer.status_code == 200, asset
    assert (
        client.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
    )
    assert client.get("/redoc").status_code == 404  # FastAPI's ReDoc page loads from a CDN: not offered


def test_answers_derived_from_a_table_always_carry_every_field(app: FastAPI) -> None:
    """Shapes that derive from a table's base (SQLModel family) inherit the table's defaults; the answer
    still carries every field, and the document says so (api.db.PUBLIC)."""
    schemas = app.openapi()["components"]["schemas"]
    derived = ["BorrowerPublic", "FacilityPublic", "MilestonePublic", "DeclarationPublic", "UserPublic",
               "BranchPublic", "DiscrepancyPublic", "TaskComment", "ReviewPublic", "VersionSummary"]  # fmt: skip
    for name in derived:
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name


def test_every_schema_has_a_name_of_its_own(app: FastAPI) -> None:
    """Two models of one name get module-path names (api__visits__record__TrendPoint), and generated clients
    (openapi-python-client) then drop whatever refers to them: every schema name must be unique."""
    names = app.openapi()["components"]["schemas"]
    assert [name for name in names if name.startswith("api__")] == []
