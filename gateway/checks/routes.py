"""Check routes: devices submit captures and read their answers; adapters' raw formats too."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from device_adapters.textpolicy import check_capture_text
from gateway.auth.service import Principal
from gateway.checks import service
from gateway.checks.answer import AdapterInfo, CheckAnswer, answer_dict
from gateway.checks.models import Check
from gateway.console.languages import officer_language
from gateway.deps import DeviceDep, PrincipalDep, RuntimeDep, SessionDep
from gateway.errors import NotFound
from gateway.observability.metrics import check_modality
from gateway.openapi_problems import problem_responses
from gateway.privacy.access import ReasonDep, audit_read
from gateway.privacy.service import with_thumbnails
from gateway.runtime import Runtime

router = APIRouter(tags=["checks"])

_FINGER_PROPS = {
    f"finger_{i}": {"type": "string", "format": "binary",
                    "description": f"fingerprint image at ANSI/NIST position {i}"
                    + (" (unknown position)" if i == 0 else "")}
    for i in range(11)
}
CHECK_FORM_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "face": {"type": "string", "format": "binary", "description": "face photo"},
                        **_FINGER_PROPS,
                        "ppi": {"type": "integer", "description":
                                "sensor resolution of the finger images; when absent, each "
                                "image's own (PNG pHYs, TIFF, JPEG JFIF), else 500"},
                        "device_id": {"type": "string"},
                        "purpose": {"type": "string", "description": "required: one of "
                                    "FIELDCHECK_CHECK_PURPOSES, e.g. 'port entry'"},
                        "mrz": {"type": "string", "description": "MRZ lines, newline-separated"},
                    },
                }
            }
        },
    }
}


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


async def _run(adapter_name: str, request: Request, runtime: Runtime,
               principal: Principal) -> dict[str, Any]:
    adapter = runtime.adapters.get(adapter_name)
    if adapter is None:
        raise NotFound(
            f"no device adapter named {adapter_name!r}", field="name",
            fix="GET /v1/adapters lists the adapters",
        )
    started = time.perf_counter()
    body = await request.body()
    headers = _headers(request)
    # For device formats without a purpose field: the calling app names it in the URL.
    purpose = request.query_params.get("purpose")

    def parse_check_store() -> dict[str, Any]:
        # All the CPU and database work in one worker call, with a session of its own that
        # opens, writes and commits on this one thread: nothing here may run on the event loop
        # (the wait for an admission slot included).
        capture = adapter.parse(body, headers)
        if purpose:
            capture.purpose = purpose
        check_capture_text(capture)  # one text policy whatever the format
        priority = capture.document is not None or principal.name in runtime.settings.urgent_devices
        with runtime.admission.admit(priority=priority), Session(
            runtime.engine, expire_on_commit=False
        ) as session:
            language = officer_language(
                session, token_id=principal.token_id,
                accept_language=headers.get("accept-language"),
                default=runtime.settings.default_language,
            )
            check = service.run_check(runtime, session, principal=principal, capture=capture,
                                      language=language)
            if runtime.metrics is not None:
                runtime.metrics.observe_check(check_modality(capture), check.local_decision,
                                              time.perf_counter() - started)
            return _answer(check, runtime, session)

    return await run_in_threadpool(parse_check_store)


def _answer(check: Check, runtime: Runtime, session: Session) -> dict[str, Any]:
    """The rendered answer (``answer.render``) with the candidates' reference thumbnails."""
    return with_thumbnails(answer_dict(check), session, runtime.keyring, runtime.settings)


# Every check route answers a CheckAnswer; what a check lacks is left out, not null.
ANSWER: dict[str, Any] = {
    "response_model": CheckAnswer, "response_model_exclude_unset": True,
}
# A device format the adapter cannot read (415), or a capture over the upload limit (413).
UPLOAD_PROBLEMS = problem_responses(413, 415)


@router.post("/v1/checks", summary="Check a capture against the watchlist",
             openapi_extra=CHECK_FORM_SCHEMA, responses=UPLOAD_PROBLEMS, **ANSWER)
async def create_check(request: Request, runtime: RuntimeDep,
                       principal: DeviceDep) -> dict[str, Any]:
    """Multipart form: `face`, `finger_1`..`finger_10` (or `finger_0`), `ppi`, `device_id`,
    `purpose` (required, from FIELDCHECK_CHECK_PURPOSES), `mrz`. Answers hit / possible /
    no_hit / recapture with candidates (hit/possible: with the reference thumbnail) and
    quality."""
    return await _run("multipart", request, runtime, principal)


@router.get("/v1/adapters", tags=["adapters"], summary="Device payload formats accepted",
            response_model=list[AdapterInfo])
def list_adapters(runtime: RuntimeDep, principal: PrincipalDep) -> list[AdapterInfo]:
    return [
        AdapterInfo(name=a.name, content_types=list(a.content_types), description=a.description)
        for a in runtime.adapters
    ]


@router.post("/v1/adapters/{name}/checks", tags=["adapters"],
             summary="Check a raw device payload through the named adapter",
             responses=UPLOAD_PROBLEMS, **ANSWER)
async def create_adapter_check(
    name: str, request: Request, runtime: RuntimeDep, principal: DeviceDep,
    purpose: Annotated[str | None, Query(
        description="the check's purpose when the payload carries none (it wins over the "
        "payload's)")] = None,
) -> dict[str, Any]:
    return await _run(name, request, runtime, principal)


@router.get("/v1/checks/{check_id}", summary="A check's answer, with central and review state",
            **ANSWER)
def read_check(check_id: str, runtime: RuntimeDep, session: SessionDep,
               principal: PrincipalDep, reason: ReasonDep) -> dict[str, Any]:
    """Every role may read checks; a device only its own (others look absent to it). Each read
    is audited (``check.read``; reason from ``X-Access-Reason``)."""
    check = service.get_check(session, check_id=check_id, principal=principal)
    audit_read(session, actor=principal, action="check.read", target_type="check",
               target_id=check.id, reason=reason, device_id=check.device_id,
               shown={"decision": check.decision,
                      "candidates": [c.get("subject_id") for c in
                                     check.response.get("candidates", [])]})
    return _answer(check, runtime, session)
