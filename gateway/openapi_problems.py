"""The OpenAPI document says what the API answers: problem+json for every 4xx/5xx an operation
can give, one tag per domain, and examples for the check and enrolment calls.

Which errors an operation can answer follows from what stands in front of it, so it is derived
once here, not repeated on 39 routes:

- every ``/v1`` operation: 401 (no or revoked token), 403 (role), 422 (a parameter or body
  field: the same problem+json as every other refusal, never FastAPI's validation schema), 503
  (database unavailable or busy, at capacity: Retry-After);
- an operation with a path parameter: 404;
- an operation that takes a body (POST, PUT, PATCH): 413 (``FIELDCHECK_MAX_UPLOAD_MB``); one
  with a JSON body: 400 (``boundary.InputGuard``: not UTF-8 JSON at all);
- what only some operations answer (409, 415) is declared on the route with
  ``responses=problem_responses(409)``; this module gives those the problem+json body too.

Every 2xx answer is typed: JSON by the route's ``response_model`` (one pydantic model per
resource), any other body by ``body_answer`` with its real content types (CSV, images, the
snapshot file); ``tests/gateway/test_openapi_contract.py`` fails on a 2xx without a schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import PROBLEM


class Problem(BaseModel):
    """An RFC 9457 problem: what was wrong and how to fix it."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["https://fieldcheck.dev/problems/invalid"])
    title: str = Field(examples=["Invalid request"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["purpose is required"])
    instance: str | None = Field(None, description="the request path")
    field: str | None = Field(None, description="the field, header or part that was wrong")
    fix: str | None = Field(None, description="what to send instead")
    reason: str | None = Field(None, description="a stable code (e.g. no_face, low_quality)")
    request_id: str | None = Field(None, description="as in X-Request-ID and the logs")


PROBLEM_TEXT = {
    400: "Malformed request",
    401: "No bearer token, or an unknown or revoked one (WWW-Authenticate: Bearer)",
    403: "The token's role may not do this",
    404: "No such resource (or not visible to this token)",
    409: "Conflicts with the current state",
    413: "Request body over FIELDCHECK_MAX_UPLOAD_MB, or an image too large to decode",
    415: "Content type the adapter does not read",
    422: "A field is wrong: `field` names it, `fix` says what to send",
    503: "Database unavailable or busy, or the gateway at capacity: retry after Retry-After",
}

TAGS = [
    {"name": "checks", "description": "Field checks: a capture in, a decision out"},
    {"name": "adapters", "description": "Device payload formats and checks in them"},
    {"name": "watchlist", "description": "Subjects, biometrics, imports, snapshots, feeds"},
    {"name": "review", "description": "NCB review of hits and possibles"},
    {"name": "central link", "description": "The link to the central databases"},
    {"name": "privacy", "description": "Evidence images and audited reads"},
    {"name": "audit", "description": "The append-only audit trail"},
    {"name": "auth", "description": "API tokens"},
    {"name": "health", "description": "Liveness, readiness, metrics"},
]


HIT_ANSWER = {
    "check_id": "chk_3f9a0c2e4b7d41a8b2c6", "decision": "hit", "local_decision": "hit",
    "candidates": [{
        "subject_id": "sub_7c1e2a9f4d", "name": "Jane Roe", "category": "red",
        "category_name": "INTERPOL Red Notice", "decision": "hit",
        "scores": {"face": {"score": 0.8123, "evidence": 6.1},
                   "finger_2": {"score": 0.4410, "evidence": 9.3}},
        "fused_score": 15.4, "expected_fpir": 2.1e-11,
        "handling_instructions": "Detain if lawful and contact the NCB at once.",
    }],
    "quality": {"face": {"status": "ok", "faces": 1, "inter_eye_px": 92.4, "sharpness": 41.0},
                "finger_2": {"status": "ok", "nfiq2": 61, "minutiae": 48, "ppi": 500},
                "finger_7": {"status": "unusable", "reason": "low_quality", "nfiq2": 4,
                             "minutiae": 12, "ppi": 500,
                             "detail": "NFIQ 2 quality 4 is below 10 needed for a check; clean "
                                       "the sensor and the finger and capture again"}},
    "watchlist_version": 1842,
    "message": "HIT: Jane Roe (INTERPOL Red Notice). Detain if lawful and contact the NCB at "
               "once.",
    "language": "en", "adapter": "multipart", "purpose": "port entry", "elapsed_ms": 412.7,
    "device_id": "HH-0042", "created_at": "2026-12-01T09:14:03.512000+00:00",
    "upstream": {"status": "queued", "result": None},
    "review": {"status": "pending", "comment": None, "reviewed_at": None},
}
ENROLLED = {"id": "tpl_5b2d8e1c0a", "subject_id": "sub_7c1e2a9f4d", "modality": "fingerprint",
            "position": 2, "quality": {"nfiq2": 58, "minutiae": 44, "ppi": 500,
                                       "ppi_source": "default"},
            "created_at": "2026-12-01T08:02:11.204000Z"}
ENROL_REFUSED = {
    "type": "https://fieldcheck.dev/problems/capture/too_few_minutiae",
    "title": "Unusable capture", "status": 422,
    "detail": "only 5 minutiae found; at least 8 are needed; press the whole finger pad on the "
    "sensor", "instance": "/v1/subjects/sub_7c1e2a9f4d/fingerprints", "field": "image",
    "fix": "capture again: only 5 minutiae found; at least 8 are needed; press the whole finger "
    "pad on the sensor", "reason": "too_few_minutiae",
    "quality": {"nfiq2": 33, "minutiae": 5, "ppi": 500, "ppi_source": "default"},
}
EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/checks"): {"200": HIT_ANSWER},
    ("post", "/v1/adapters/{name}/checks"): {"200": {**HIT_ANSWER, "adapter": "ansi-nist"}},
    ("get", "/v1/checks/{check_id}"): {"200": HIT_ANSWER},
    ("post", "/v1/subjects/{subject_id}/fingerprints"): {"201": ENROLLED, "422": ENROL_REFUSED},
    ("post", "/v1/subjects/{subject_id}/faces"): {
        "201": {**ENROLLED, "modality": "face", "position": 0,
                "quality": {"faces": 1, "inter_eye_px": 88.0, "sharpness": 37.5}},
        "422": {**ENROL_REFUSED, "type": "https://fieldcheck.dev/problems/capture/no_face",
                "instance": "/v1/subjects/sub_7c1e2a9f4d/faces", "field": "image",
                "detail": "no face found in the photo", "reason": "no_face",
                "fix": "capture again: no face found in the photo", "quality": {"faces": 0}},
    },
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` for the errors only it answers (the body is added here)."""
    return {code: {"description": PROBLEM_TEXT[code]} for code in codes}


def body_answer(*media_types: str, description: str, text: bool = False,
                code: int = 200) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` for a non-JSON answer (CSV, images, a snapshot file): its real
    content types, a text or a binary body. A JSON ``response_model`` beside it stays."""
    schema = {"type": "string"} if text else {"type": "string", "format": "binary"}
    return {code: {"description": description,
                   "content": {media: {"schema": dict(schema)} for media in media_types}}}


def _problem(code: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or PROBLEM_TEXT.get(code, "Error"),
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _codes(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    codes = {int(c) for c in operation.get("responses", {}) if c.isdigit() and int(c) >= 400}
    if path.startswith("/v1/"):
        codes |= {401, 403, 422, 503}
    if "{" in path:
        codes.add(404)
    if method in ("post", "put", "patch"):
        codes.add(413)  # BodyLimit stands in front of every body, declared or read raw
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        codes.add(400)  # InputGuard: a JSON body that is not UTF-8 JSON at all
    return codes


def document(spec: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a generated OpenAPI document as described in the module docstring."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for code in sorted(_codes(path, method, operation)):
                declared = responses.get(str(code), {})
                if declared.get("content") and "HTTPValidationError" not in str(declared):
                    continue  # a body of its own (e.g. /readyz's 503 is the readiness report)
                described = declared.get("description")
                if code == 422 or not described or described.startswith("Validation"):
                    described = None
                responses[str(code)] = _problem(code, described)
            # One tag per operation: its domain (the router's; adapter routes their own).
            tags = operation.get("tags") or []
            if tags:
                operation["tags"] = ["adapters"] if "adapters" in tags else tags[:1]
        for verb, op in item.items():
            for status, example in EXAMPLES.get((verb, path), {}).items():
                content = op["responses"].get(status, {}).get("content", {})
                for media in content.values():
                    media["example"] = example
    # The validation schemas FastAPI adds are no longer referenced.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    spec["tags"] = TAGS
    return spec


def install(app: FastAPI) -> None:
    """Serve the rewritten document at ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes, tags=None,
            ))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
