"""Evidence for the reviewer and reference images for NCB staff (analysts read, admins too).

A device never reaches these routes (403): it gets only its own answer, with the candidate's
thumbnail. Every read here is audited (who, why, what). Images are served decrypted with
``Cache-Control: no-store`` so no browser or proxy keeps a copy. JSON shape: docs/PRIVACY.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from gateway.checks.models import Check
from gateway.deps import AnalystDep, RuntimeDep, SessionDep
from gateway.errors import Invalid, NotFound
from gateway.openapi_problems import body_answer
from gateway.privacy import images
from gateway.privacy.access import ReasonDep, audit_read
from gateway.privacy.crypto import ImageKeyUnavailable, Keyring
from gateway.privacy.models import ProbeImage, ReferenceImage
from gateway.privacy.retention import evidence_deadline
from gateway.privacy.schemas import Evidence
from gateway.privacy.service import (
    HELD_TYPE,
    ImageBounds,
    open_probe,
    open_reference,
    probes_of,
    references_of,
    settle_held,
)
from gateway.runtime import Runtime
from gateway.watchlist.cache import visible_to
from gateway.watchlist.models import Subject

router = APIRouter(tags=["privacy"])
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _keyring(runtime: Runtime) -> Keyring:
    if runtime.keyring is None:
        raise ImageKeyUnavailable("this gateway runs without image keys")
    return runtime.keyring


def _image_view(row: ReferenceImage | ProbeImage, url: str) -> dict[str, Any]:
    shown_type = "image/png" if row.content_type == "image/x-wsq" else row.content_type
    return {"id": row.id, "kind": row.kind, "position": row.position,
            "content_type": shown_type, "width": row.width, "height": row.height, "url": url}


def _settle(session: SessionDep, runtime: Runtime, check: Check) -> None:
    """A check under review whose capture was held for central (a hit central raised): turn the
    capture into evidence images now (the caller's audit entry commits it). A held capture of a
    check not under review (still waiting for central) is not evidence and is never shown."""
    if check.review_status is not None and any(p.content_type == HELD_TYPE
                                               for p in probes_of(session, check.id)):
        settle_held(session, _keyring(runtime), check_id=check.id,
                    bounds=ImageBounds.from_settings(runtime.settings))
        session.flush()


def evidence_view(session: SessionDep, runtime: Runtime, check: Check) -> Evidence:
    """The one renderer of a check's evidence (the API and the console's review page)."""
    country = runtime.settings.country
    _settle(session, runtime, check)
    probe = [_image_view(p, f"/v1/checks/{check.id}/evidence/images/{p.id}")
             for p in probes_of(session, check.id) if p.content_type != HELD_TYPE]
    candidates = []
    for cand in check.response.get("candidates", []):
        subject = session.get(Subject, cand.get("subject_id"))
        if subject is None or not visible_to(subject, country):
            # Erased, or no longer shared with this country: nothing of it is shown.
            candidates.append({"subject_id": cand.get("subject_id"), "available": False,
                               "reference_images": []})
            continue
        refs = [r for r in references_of(session, subject.id) if r.kind != "face_thumb"]
        candidates.append({
            "subject_id": subject.id, "available": True, "name": subject.name,
            "category": subject.category, "decision": cand.get("decision"),
            "scores": cand.get("scores"), "fused_score": cand.get("fused_score"),
            "reference_images": [
                _image_view(r, f"/v1/subjects/{subject.id}/images/{r.id}") for r in refs
            ],
        })
    deadline = evidence_deadline(check, runtime.settings)
    # Validated from the dict so absent stays absent (an unavailable candidate has no name).
    return Evidence.model_validate({
        "check_id": check.id,
        "created_at": check.created_at.isoformat() if check.created_at else None,
        "decision": check.decision,
        "purpose": check.purpose,
        "device_id": check.device_id,
        "review": {"status": check.review_status, "comment": check.review_comment,
                   "reviewed_by": check.reviewed_by,
                   "reviewed_at": check.reviewed_at.isoformat() if check.reviewed_at else None},
        "probe": {"images": probe, "quality": check.response.get("quality", {})},
        "candidates": candidates,
        "central": check.response.get("central"),
        "retention": {"probe_images_deleted_after": deadline.isoformat() if deadline else None},
    })


@router.get("/v1/checks/{check_id}/evidence",
            summary="A hit's probe and candidates' reference images side by side (NCB staff)",
            response_model=Evidence, response_model_exclude_unset=True)
def get_evidence(check_id: str, runtime: RuntimeDep, session: SessionDep, actor: AnalystDep,
                 reason: ReasonDep) -> Evidence:
    check = session.get(Check, check_id)
    if check is None:
        raise NotFound(f"no check with id {check_id!r}", field="check_id")
    view = evidence_view(session, runtime, check)
    audit_read(session, actor=actor, action="evidence.read", target_type="check",
               target_id=check_id, reason=reason, device_id=check.device_id,
               shown={"probe_images": [i.id for i in view.probe.images],
                      "subjects": [c.subject_id for c in view.candidates if c.available]})
    return view


def _image_response(data: bytes, content_type: str, fmt: str) -> Response:
    if content_type == "image/x-wsq" and fmt != "original":
        return Response(images.wsq_to_png(data), media_type="image/png", headers=NO_STORE)
    return Response(data, media_type=content_type, headers=NO_STORE)


FormatQuery = Annotated[str, Query(pattern="^(display|original)$",
                                   description="display (PNG for prints) or original (WSQ)")]


@router.get("/v1/checks/{check_id}/evidence/images/{image_id}", response_class=Response,
            responses=body_answer("image/jpeg", "image/png",
                                  description="The image (prints as PNG), Cache-Control: no-store"),
            summary="One probe image of a check under review (decrypted; NCB staff)")
def get_probe_image(check_id: str, image_id: str, runtime: RuntimeDep, session: SessionDep,
                    actor: AnalystDep, reason: ReasonDep) -> Response:
    check = session.get(Check, check_id)
    if check is not None:
        _settle(session, runtime, check)
    row = session.get(ProbeImage, image_id)
    if row is None or row.check_id != check_id or row.content_type == HELD_TYPE:
        raise NotFound(f"check {check_id} keeps no image {image_id!r} (purged or never kept)",
                       field="image_id")
    data = open_probe(_keyring(runtime), row)
    audit_read(session, actor=actor, action="evidence.image.read", target_type="check",
               target_id=check_id, reason=reason, shown={"image": image_id, "kind": row.kind})
    return _image_response(data, row.content_type, "display")


@router.get("/v1/subjects/{subject_id}/images/{image_id}", response_class=Response,
            responses=body_answer("image/jpeg", "image/png", "image/x-wsq",
                                  description="The image (prints as PNG, or WSQ with "
                                  "format=original), Cache-Control: no-store"),
            summary="One reference image of a watchlist subject (decrypted; NCB staff)")
def get_reference_image(subject_id: str, image_id: str, runtime: RuntimeDep,
                        session: SessionDep, actor: AnalystDep, reason: ReasonDep,
                        format: FormatQuery = "display") -> Response:
    subject = session.get(Subject, subject_id)
    row = session.get(ReferenceImage, image_id)
    if (subject is None or not visible_to(subject, runtime.settings.country) or row is None
            or row.subject_id != subject_id):
        raise NotFound(f"subject {subject_id} has no image {image_id!r}", field="image_id")
    if format == "original" and row.content_type != "image/x-wsq":
        raise Invalid("format=original is for WSQ prints", field="format",
                      fix="omit format for photos")
    data = open_reference(_keyring(runtime), row)
    audit_read(session, actor=actor, action="subject.image.read", target_type="subject",
               target_id=subject_id, reason=reason, shown={"image": image_id, "kind": row.kind})
    return _image_response(data, row.content_type, format)
