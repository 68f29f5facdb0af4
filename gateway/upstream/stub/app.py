"""The central stub: the central API (docs/UPSTREAM.md) over a synthetic population, with fault
injection and delivery counting for testers. A test tool: the admin endpoints take no token."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import random
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from gateway.upstream.stub.store import FACE_HIT, FACE_POSSIBLE, StubStore, request_hash, unit

log = logging.getLogger(__name__)


@dataclass
class Faults:
    outage: bool = False
    latency_ms: int = 0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    reject_rate: float = 0.0  # refuse the search as invalid (422): it can never succeed
    malformed_rate: float = 0.0  # answer with broken JSON (after acting)
    wrong_check_rate: float = 0.0  # answer with another check's id (after acting)
    hang_s: float = 60.0  # how long a "timeout" keeps the caller waiting


class StubError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": "central error", "status": status, "detail": detail},
        status_code=status, media_type="application/problem+json",
    )


def _b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise StubError(422, f"{field} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise StubError(422, f"{field} is not valid base64") from exc


def create_stub_app(
    data_dir: Path, *, seed: int = 1, subjects: int = 2000, documents: int = 5000,
    token: str | None = None,
) -> FastAPI:
    store = StubStore(Path(data_dir) / "central-stub.db", seed=seed, subjects=subjects,
                      documents=documents)
    faults = Faults()
    faults_lock = threading.Lock()
    app = FastAPI(title="FieldCheck central stub", version="1")
    app.state.store = store
    app.state.faults = faults

    @app.exception_handler(StubError)
    async def _stub_error(_request: Request, exc: StubError) -> JSONResponse:
        return _problem(exc.status, exc.detail)

    async def central_gate(request: Request) -> None:
        """Authentication, then the injected outage, latency and errors (before acting)."""
        if token and request.headers.get("authorization") != f"Bearer {token}":
            raise StubError(401, "central needs the gateway's bearer token")
        if faults.outage:
            raise StubError(503, "central is down (injected outage)")
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.error_rate and random.random() < faults.error_rate:
            raise StubError(500, "central failed (injected error)")
        if faults.reject_rate and random.random() < faults.reject_rate:
            raise StubError(422, "central refused the request (injected rejection)")

    async def after_acting(body: dict[str, Any]) -> Response | None:
        """Faults that strike after central has acted: the caller never sees the answer."""
        if faults.timeout_rate and random.random() < faults.timeout_rate:
            await asyncio.sleep(faults.hang_s)
        if faults.malformed_rate and random.random() < faults.malformed_rate:
            return Response('{"check_id": "', media_type="application/json")
        if faults.wrong_check_rate and random.random() < faults.wrong_check_rate:
            return JSONResponse({**body, "check_id": "chk_" + uuid.uuid4().hex[:12]})
        return None

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        if faults.outage:
            raise StubError(503, "central is down (injected outage)")
        return {"status": "ok", "subjects": len(store.faces), "seed": store.seed}

    @app.post("/v1/searches")
    async def search(request: Request) -> Response:
        await central_gate(request)
        key = request.headers.get("idempotency-key", "")
        if not key or len(key) > 200:
            raise StubError(400, "an Idempotency-Key header (1-200 characters) is required")
        try:
            body = await request.json()
        except ValueError as exc:
            raise StubError(400, "the body is not JSON") from exc
        if not isinstance(body, dict):
            raise StubError(422, "the body must be a JSON object")
        digest = request_hash(body)
        previous = await run_in_threadpool(store.replay, key, digest)
        if previous == "mismatch":
            raise StubError(422, "this Idempotency-Key was already used for another request")
        if isinstance(previous, dict):
            answer = previous
            replayed = True
        else:
            result = await run_in_threadpool(_search, store, body)
            answer = await run_in_threadpool(store.remember, key, digest, body["check_id"], result)
            replayed = False
        broken = await after_acting(answer)
        if broken is not None:
            return broken
        return JSONResponse(answer, headers={"Idempotent-Replayed": str(replayed).lower()})

    @app.post("/v1/documents/check")
    async def document_check(request: Request) -> dict[str, Any]:
        await central_gate(request)
        body = await request.json()
        if not isinstance(body, dict) or not body.get("document_number"):
            raise StubError(422, "document_number is required")
        return store.document_status(body.get("document_number"), body.get("issuing_state"))

    @app.post("/v1/nominal")
    async def nominal(request: Request) -> dict[str, Any]:
        await central_gate(request)
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("surname"), str):
            raise StubError(422, "surname is required")
        return {"candidates": store.nominal(body["surname"], body.get("given_names"),
                                            body.get("birth_date"))}

    @app.get("/v1/changes")
    async def changes(request: Request, since: int = 0, limit: int = 1000) -> dict[str, Any]:
        await central_gate(request)
        return await run_in_threadpool(store.changes, since, max(1, min(limit, 5000)))

    # -- test administration (no token: loopback test tool) ----------------------------------

    @app.get("/admin/faults")
    async def get_faults() -> dict[str, Any]:
        return asdict(faults)

    @app.post("/admin/faults")
    async def set_faults(request: Request) -> dict[str, Any]:
        body = await request.json()
        if not isinstance(body, dict):
            raise StubError(422, "send a JSON object of fault settings")
        with faults_lock:
            for name, value in body.items():
                if not hasattr(faults, name):
                    raise StubError(422, f"unknown fault {name!r}")
                kind = type(getattr(faults, name))
                try:
                    typed = kind(value)
                except (TypeError, ValueError) as exc:
                    raise StubError(422, f"{name} must be a {kind.__name__}") from exc
                if kind is float and name.endswith("_rate") and not 0.0 <= typed <= 1.0:
                    raise StubError(422, f"{name} must be between 0 and 1")
                setattr(faults, name, typed)
        log.info("central stub faults now %s", asdict(faults))
        return asdict(faults)

    @app.get("/admin/deliveries")
    async def deliveries() -> dict[str, int]:
        return store.deliveries()

    @app.delete("/admin/deliveries")
    async def reset_deliveries() -> dict[str, int]:
        store.reset_deliveries()
        return store.deliveries()

    @app.post("/admin/documents")
    async def add_document(request: Request) -> dict[str, Any]:
        body = await request.json()
        if body.get("status") not in ("stolen", "lost", "clear") or not body.get("document_number"):
            raise StubError(422, "need document_number, issuing_state, status stolen|lost|clear")
        store.add_document(body)
        return store.document_status(body["document_number"], body.get("issuing_state"))

    @app.post("/admin/subjects")
    async def add_subject(request: Request) -> dict[str, Any]:
        body = await request.json()
        subject_id = body.get("id") or "CX-" + uuid.uuid4().hex[:10]
        try:
            faces = [unit(np.frombuffer(_b64(f, "faces"), "<f4")) for f in body.get("faces", [])]
            fingers = {int(f["position"]): _b64(f["iso_19794_2"], "fingers")
                       for f in body.get("fingers", [])}
        except (KeyError, ValueError, TypeError) as exc:
            raise StubError(422, f"bad template: {exc}") from exc
        await run_in_threadpool(store.add_subject, {
            "id": subject_id, "surname": body.get("surname"), "given_names":
            body.get("given_names"), "birth_date": body.get("birth_date"),
            "nationality": body.get("nationality"), "category": body.get("category", "red"),
            "faces": faces, "fingers": fingers,
        })
        return {"id": subject_id}

    return app


def _search(store: StubStore, body: dict[str, Any]) -> dict[str, Any]:
    """Central's matching: faces by cosine similarity, fingers by exact template, document, name."""
    check_id = body.get("check_id")
    if not isinstance(check_id, str) or not 1 <= len(check_id) <= 80:
        raise StubError(422, "check_id must be a string of 1-80 characters")
    faces = body.get("faces") or []
    fingers = body.get("fingers") or []
    document = body.get("document")
    nominal = body.get("nominal")
    if not isinstance(faces, list) or not isinstance(fingers, list):
        raise StubError(422, "faces and fingers must be lists")
    if not (faces or fingers or document or nominal):
        raise StubError(422, "nothing to search: send faces, fingers, a document or a name")
    best: dict[str, dict[str, Any]] = {}

    def consider(subject_id: str, modality: str, score: float, strength: str) -> None:
        have = best.get(subject_id)
        rank = {"hit": 2, "possible": 1}
        if have is None or rank[strength] > rank[have["strength"]] or (
            rank[strength] == rank[have["strength"]] and modality == have["modality"]
            and score > have["score"]
        ):
            best[subject_id] = {"modality": modality, "score": round(score, 4),
                                "strength": strength}

    for i, face in enumerate(faces):
        try:
            raw = _b64(face, f"faces[{i}]")
            matches = store.faces.search(np.frombuffer(raw[: len(raw) // 4 * 4], "<f4"), k=5)
        except ValueError as exc:
            raise StubError(422, f"faces[{i}] is not a 128-d float32 embedding: {exc}") from exc
        for subject_id, score in matches:
            if score >= FACE_POSSIBLE:
                consider(subject_id, "face", score, "hit" if score >= FACE_HIT else "possible")
    for i, finger in enumerate(fingers):
        if not isinstance(finger, dict):
            raise StubError(422, f"fingers[{i}] must be an object")
        record = _b64(finger.get("iso_19794_2"), f"fingers[{i}]")
        if not record.startswith(b"FMR\x00"):
            raise StubError(422, f"fingers[{i}] is not an ISO/IEC 19794-2 record")
        for subject_id in store.fingers.search(record):
            consider(subject_id, "finger", 1.0, "hit")
    candidates = [
        {**store.subject_summary(subject_id), **found}
        for subject_id, found in sorted(best.items(), key=lambda kv: -kv[1]["score"])
    ]
    document_result = None
    if isinstance(document, dict) and document.get("document_number"):
        document_result = store.document_status(document.get("document_number"),
                                                document.get("issuing_state"))
    if isinstance(nominal, dict) and isinstance(nominal.get("surname"), str):
        for c in store.nominal(nominal["surname"], nominal.get("given_names"),
                               nominal.get("birth_date")):
            if c["subject_id"] not in best:
                candidates.append(c)
    if any(c["strength"] == "hit" for c in candidates) or (
        document_result is not None and document_result["hit"]
    ):
        decision = "hit"
    elif candidates:
        decision = "possible"
    else:
        decision = "no_hit"
    return {
        "check_id": check_id, "search_id": "srch_" + uuid.uuid4().hex[:16],
        "decision": decision, "candidates": candidates, "document": document_result,
        "searched_at": time.time(),
    }
