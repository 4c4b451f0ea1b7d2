"""The OpenAPI document, made to tell the truth about errors and bodies.

FastAPI documents a 422 of its own shape and nothing else, while every failure here is an RFC 9457
problem (`application/problem+json`) with a stable `code`. After FastAPI builds the document, each
operation gets the statuses it can really answer, all with the `Problem` schema, and raw bodies (CSV,
photos, tus chunks) are declared as binary in their real media types, so generated clients handle them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from api.errors import PROBLEM_JSON


class FieldProblem(BaseModel):
    field: str = Field(description="Where: `body.answers.x`, `query.status`, `body.line 7`…")
    message: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details. `title` and `detail` are Chinese unless `Accept-Language` prefers English."""

    type: str
    title: str
    status: int
    code: str = Field(description="Stable, machine-readable; e.g. `not_found`, `validation_failed`.")
    instance: str
    detail: str | None = None
    errors: list[FieldProblem] | None = Field(None, description="Each invalid field (422).")


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
DESCRIPTIONS = {
    "400": "Bad request (problem details)",
    "401": "Not signed in, or the token is invalid, expired or signed out",
    "403": "Signed in, but this role may not do this",
    "404": "No such record — or one outside your branch, which answers exactly the same",
    "409": "Conflicts with the record's current state",
    "410": "tus: the bytes received for this upload are gone (`upload_lost`); create a new upload",
    "412": "tus: send `Tus-Resumable: 1.0.0`",
    "413": "Body too large",
    "415": "Unsupported content type",
    "422": "Validation failed: `errors` lists each field",
    "429": "Too many attempts; see Retry-After",
    "503": "Database or photo storage unavailable (`database_unavailable`, `storage_unavailable`); nothing "
    "was stored; see Retry-After",
    "507": "Storage full; nothing was stored; see Retry-After",
}
WRITES = {"post", "put", "patch", "delete"}
BINARY = {"type": "string", "format": "binary"}
RAW_BODIES: dict[tuple[str, str], list[str]] = {
    ("/api/v1/imports/{kind}", "post"): ["text/csv"],
    ("/api/v1/photos/{photo_id}", "put"): [
        "image/jpeg", "image/png", "image/webp", "image/heic", "image/heif",
    ],
    ("/api/v1/uploads/{upload_id}", "patch"): ["application/offset+octet-stream"],
    ("/api/v1/cases/{case_id}/attachments/{attachment_id}", "put"): [
        "application/pdf", "image/jpeg", "image/png", "image/webp", "image/heic", "image/heif",
    ],
}  # fmt: skip


# OpenAPI links from what an operation creates to what may be done with it next: integrators see the
# flow, and schemathesis follows them in its stateful phase.
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, str]]] = {
    ("/api/v1/borrowers", "post", "201"): {
        "GetBorrower": ("/api/v1/borrowers/{borrower_id}", "get", "borrower_id"),
    },
    ("/api/v1/facilities", "post", "201"): {
        "GetFacility": ("/api/v1/facilities/{facility_id}", "get", "facility_id"),
        "ListCollateral": ("/api/v1/facilities/{facility_id}/collateral", "get", "facility_id"),
    },
    ("/api/v1/templates", "post", "201"): {
        "GetTemplateVersion": ("/api/v1/template-versions/{version_id}", "get", "version_id"),
        "PublishTemplateVersion": ("/api/v1/template-versions/{version_id}/publish", "post", "version_id"),
    },
    ("/api/v1/exports/jobs", "post", "202"): {
        "GetExportJob": ("/api/v1/exports/jobs/{job_id}", "get", "job_id"),
    },
    ("/api/v1/visits", "post", "201"): {
        "GetVisit": ("/api/v1/visits/{visit_id}", "get", "visit_id"),
        "CancelVisit": ("/api/v1/visits/{visit_id}/cancel", "post", "visit_id"),
        "ListSubmissions": ("/api/v1/visits/{visit_id}/submissions", "get", "visit_id"),
    },
}


def _operation_ref(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    if not path.startswith("/api/v1/"):
        return ["503"]
    # 404 everywhere: a record named in the path, the query or the body may not exist (or be out of scope).
    codes = ["400", "404", "422", "503"]
    if operation.get("security") or path.startswith("/api/v1/auth/"):
        codes += ["401", "403"]
    if method in WRITES:
        codes.append("409")
    if path == "/api/v1/auth/token":
        codes.append("429")
    if (path, method) in RAW_BODIES or path.startswith("/api/v1/uploads"):
        codes += ["413", "415", "507"]
    if path.startswith("/api/v1/uploads"):
        codes.append("412")
        if method in ("head", "patch"):
            codes.append("410")
    if path == "/api/v1/exports/jobs/{job_id}/file":
        codes.append("401")  # a link whose signature does not match: no token, but not authentic
    return sorted(set(codes))


def build(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, schema in schemas["Problem"].pop("$defs", {}).items():
        schemas[name] = schema
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for path, methods in document.get("paths", {}).items():
        for method, operation in methods.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code in _statuses(path, method, operation):
                entry = responses.setdefault(code, {"description": DESCRIPTIONS[code]})
                entry["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
                if code == "422":
                    entry["description"] = DESCRIPTIONS["422"]
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "header" and parameter.get("name") == "tus-resumable":
                    # Any other version is refused with 412, as tus says.
                    parameter["required"] = True
                    parameter["schema"] = {"type": "string", "enum": ["1.0.0"]}
            for status, response in responses.items():
                links = LINKS.get((path, method, status))
                if links:
                    response["links"] = {
                        name: {
                            "operationRef": _operation_ref(target, target_method),
                            "parameters": {parameter: "$response.body#/id"},
                        }
                        for name, (target, target_method, parameter) in links.items()
                    }
            media = RAW_BODIES.get((path, method))
            if media:
                operation["requestBody"] = {
                    "required": True,
                    "content": {kind: {"schema": BINARY} for kind in media},
                }
    return document


# Swagger UI from the npm registry (package.json, installed by `make`), served by us: FastAPI's default
# page loads it from a CDN, which a bank's network may block and which we do not control.
SWAGGER_UI = Path(__file__).resolve().parent.parent / "node_modules" / "swagger-ui-dist"
DOCS_ASSETS = "/docs/assets"


def install(app: FastAPI) -> None:
    """The post-processed document at /openapi.json and Swagger UI at /docs (create the app with
    docs_url=None and redoc_url=None)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if SWAGGER_UI.is_dir():
        app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI), name="api-docs-assets")

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> Response:
        if not SWAGGER_UI.is_dir():
            return HTMLResponse(
                "<p>接口文档的页面文件未安装（请运行 make run）。The API documentation page is not installed "
                "(run make run). 接口说明 / OpenAPI: <a href=/openapi.json>/openapi.json</a></p>",
                status_code=503,
            )
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )
