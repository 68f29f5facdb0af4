"""Every 2xx answer in the OpenAPI document has a schema: JSON a typed model (a ``$ref`` to an
object with properties, or an array of them), any other body its real content type."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.app import create_app
from gateway.settings import Settings

JSON = "application/json"
# The non-JSON answers and the content types they are sent with.
NON_JSON = {
    ("get", "/v1/audit.csv"): {"text/csv"},
    ("get", "/v1/audit"): {JSON, "text/csv"},
    ("get", "/v1/watchlist/export"): {"application/vnd.fieldcheck.snapshot"},
    ("get", "/v1/checks/{check_id}/evidence/images/{image_id}"): {"image/jpeg", "image/png"},
    ("get", "/v1/subjects/{subject_id}/images/{image_id}"): {
        "image/jpeg", "image/png", "image/x-wsq"},
    ("get", "/v1/checks/{check_id}/events"): {"text/event-stream"},
    ("get", "/metrics"): {"text/plain"},
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("openapi")
    settings = Settings(database_url=f"sqlite:///{data / 'gw.db'}", data_dir=data)
    return create_app(settings).openapi()


def _typed(schema: dict[str, Any], spec: dict[str, Any]) -> bool:
    """A schema that says what is in the answer (not ``{}``, nor a free-form object)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _typed(spec["components"]["schemas"][name], spec)
    if schema.get("type") == "array":
        return _typed(schema.get("items") or {}, spec)
    if "anyOf" in schema:
        return all(_typed(s, spec) for s in schema["anyOf"])
    return schema.get("type") == "object" and bool(schema.get("properties"))


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in spec["paths"].items()
            for method, op in item.items()]


def test_every_json_answer_is_a_typed_model(spec: dict[str, Any]) -> None:
    untyped = []
    for method, path, op in _operations(spec):
        for code, response in op["responses"].items():
            if not code.startswith("2") or code == "204":
                continue
            content = response.get("content") or {}
            if not content:
                untyped.append(f"{method.upper()} {path} {code}: no content")
            if JSON in content and not _typed(content[JSON].get("schema") or {}, spec):
                untyped.append(f"{method.upper()} {path} {code}: {content[JSON].get('schema')}")
    assert not untyped, "2xx answers without a typed schema:\n" + "\n".join(untyped)
    assert len(_operations(spec)) >= 39


def test_non_json_answers_declare_their_content_types(spec: dict[str, Any]) -> None:
    for method, path, op in _operations(spec):
        ok = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        declared = {media for r in ok.values() for media in r.get("content", {})}
        wanted = NON_JSON.get((method, path), {JSON} if "204" not in ok else set())
        assert declared == wanted, (method, path, declared)
        for response in ok.values():
            for media, body in response.get("content", {}).items():
                if media != JSON:
                    assert body["schema"]["type"] == "string", (method, path, media)


def test_a_204_has_no_body(spec: dict[str, Any]) -> None:
    for method, path, op in _operations(spec):
        if "204" in op["responses"]:
            assert not op["responses"]["204"].get("content"), (method, path)


# Objects inside the typed answers whose keys are open, each for a reason; a new one must be
# added here on purpose (or, better, typed).
FREE_FORM = {
    "AuditEntryPublic.before", "AuditEntryPublic.after",  # the audited record, of any type
    "CentralResult.candidates[]", "CentralResult.document",  # central's own answer, as sent
    "UpstreamState.result",  # central's answer or the link's error
    "DocumentCheck.notices[]",  # the notices' nominal data, as the list holds it
    "TemplatePublic.quality",  # a face's detector measurements or a print's NFIQ 2/minutiae
    "SnapshotLoadPublic.summary",  # stored at load time by every version of the code
    "Readiness.watchlist",  # the cache's counts and state
}


def _free_form(name: str, schema: dict[str, Any], where: str, found: set[str]) -> None:
    if schema.get("type") == "object" and not schema.get("properties") and \
            schema.get("additionalProperties") in (True, None, {}):
        found.add(f"{name}.{where}")
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            _free_form(name, option, where, found)
    if "items" in schema:
        _free_form(name, schema["items"], where + "[]", found)
    if isinstance(schema.get("additionalProperties"), dict):
        _free_form(name, schema["additionalProperties"], where + "{}", found)
    for prop, sub in (schema.get("properties") or {}).items():
        _free_form(name, sub, f"{where}.{prop}" if where else prop, found)


def test_open_objects_inside_answers_are_only_the_known_ones(spec: dict[str, Any]) -> None:
    found: set[str] = set()
    for name, schema in spec["components"]["schemas"].items():
        if name != "Problem":  # extra members by RFC 9457
            _free_form(name, schema, "", found)
    assert found == FREE_FORM
