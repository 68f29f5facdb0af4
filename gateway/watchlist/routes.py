"""Watchlist HTTP routes (NCB admins): subjects and their biometrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile

from gateway.deps import AdminDep, AnalystDep, RuntimeDep, SessionDep
from gateway.errors import Invalid
from gateway.openapi_problems import problem_responses
from gateway.privacy.access import ReasonDep, audit_read
from gateway.privacy.service import (
    Prepared,
    prepare_face,
    prepare_finger,
    reference_images_public,
    store_reference,
)
from gateway.watchlist import service
from gateway.watchlist.models import BiometricTemplate
from gateway.watchlist.positions import parse_position, parse_ppi
from gateway.watchlist.schemas import SubjectCreate, SubjectPublic, SubjectUpdate, TemplatePublic
from matchers.errors import UnusableCapture

router = APIRouter(prefix="/v1/subjects", tags=["watchlist"])
# The subject as the API shows it; `reference_images` only where the route adds them.
SUBJECT: dict[str, Any] = {"response_model": SubjectPublic, "response_model_exclude_unset": True}


def _commit_and_sync(runtime: RuntimeDep, session: SessionDep) -> None:
    session.commit()
    runtime.cache.sync(session)


@router.post("", status_code=201, summary="Create a watchlist subject",
             responses=problem_responses(409), **SUBJECT)
def create_subject(
    body: SubjectCreate, runtime: RuntimeDep, session: SessionDep, actor: AdminDep
) -> dict:
    subject = service.create_subject(
        session, data=body, actor=actor, country=runtime.settings.country
    )
    _commit_and_sync(runtime, session)
    return service.subject_public(subject)


@router.get("/{subject_id}", summary="A subject with its biometrics (quality shown)", **SUBJECT)
def get_subject(subject_id: str, runtime: RuntimeDep, session: SessionDep, actor: AnalystDep,
                reason: ReasonDep) -> dict:
    """NCB admins and analysts (read only); each read is audited (``subject.read``)."""
    subject = service.get_visible_subject(
        session, subject_id=subject_id, country=runtime.settings.country
    )
    view = service.subject_public(subject, service.templates_of(session, subject_id))
    view["reference_images"] = reference_images_public(session, subject_id)
    audit_read(session, actor=actor, action="subject.read", target_type="subject",
               target_id=subject_id, reason=reason,
               shown={"fields": "record, biometrics, reference image list"})
    return view


@router.patch("/{subject_id}", summary="Update a subject (only the fields sent)",
              responses=problem_responses(409), **SUBJECT)
def update_subject(
    subject_id: str, body: SubjectUpdate, runtime: RuntimeDep, session: SessionDep,
    actor: AdminDep,
    reason: Annotated[str | None, Query(max_length=2000, description=(
        "why the record is changed, kept in the audit trail (subject.update); the console "
        "always asks for one"))] = None,
) -> dict:
    return edit_subject(subject_id, body, runtime, session, actor, reason=reason)


def edit_subject(
    subject_id: str, body: SubjectUpdate, runtime: RuntimeDep, session: SessionDep,
    actor: AdminDep, *, reason: str | None, reason_required: bool = False,
) -> dict:
    """The update, committed and synced: the API's route and the console's form (which
    requires the reason) both go through here."""
    subject = service.update_subject(
        session, subject_id=subject_id, data=body, actor=actor, country=runtime.settings.country,
        reason=reason, reason_required=reason_required,
    )
    _commit_and_sync(runtime, session)
    return service.subject_public(subject, service.templates_of(session, subject_id))


@router.delete("/{subject_id}", status_code=204, summary="Delete a subject (reason required)")
def delete_subject(
    subject_id: str,
    reason: Annotated[str, Query(min_length=1, max_length=2000, description="why it goes")],
    runtime: RuntimeDep, session: SessionDep, actor: AdminDep,
) -> None:
    service.delete_subject(
        session, subject_id=subject_id, reason=reason, actor=actor,
        country=runtime.settings.country,
    )
    _commit_and_sync(runtime, session)


def _read_upload(upload: UploadFile, field: str) -> bytes:
    # Sync routes run in the thread pool; the form is already spooled, this reads the file.
    data = upload.file.read()
    if not data:
        raise Invalid(f"the file in '{field}' is empty", field=field, fix="attach the image file")
    return data


# Enrolment routes are plain ``def``: FastAPI runs them in its thread pool, so the extraction
# (seconds) and the database work never run on the event loop, and the session lives on one
# thread from its first query to its commit. The write comes after the extraction and is
# committed at once, so the database's write turn is held for milliseconds.
@router.post("/{subject_id}/faces", status_code=201, summary="Enrol a face photo",
             response_model=TemplatePublic)
def add_face(
    subject_id: str, runtime: RuntimeDep, session: SessionDep, actor: AdminDep,
    image: Annotated[UploadFile, File(description="JPEG/PNG photo with one face")],
) -> dict:
    data = _read_upload(image, "image")
    # Check the subject first so a bad id costs no extraction.
    service.get_visible_subject(session, subject_id=subject_id, country=runtime.settings.country)
    template, quality = _named("image", service.extract_face, data, pool=runtime.extraction,
                               budget_s=runtime.settings.extract_budget_s)
    images = prepare_face(data, runtime.settings)
    tpl = service.add_template(
        session, subject_id=subject_id, modality="face", position=0, data=template,
        quality=quality, actor=actor, country=runtime.settings.country,
    )
    _keep_reference(runtime, session, tpl, images)
    _commit_and_sync(runtime, session)
    return service.template_public(tpl)


def _keep_reference(runtime: RuntimeDep, session: SessionDep, tpl: BiometricTemplate,
                    images: Prepared) -> None:
    """The enrolled image, sealed, in the template's transaction (re-extraction, review)."""
    if runtime.keyring is not None:
        session.flush()  # the template row first: the image refers to it
        store_reference(session, runtime.keyring, subject_id=tpl.subject_id,
                        template_id=tpl.id, prepared=images)


def _named(field: str, fn, *args, **kwargs):
    """Run an extraction; an unusable capture names the form field it came from."""
    try:
        return fn(*args, **kwargs)
    except UnusableCapture as exc:
        exc.field = field  # type: ignore[attr-defined]
        raise


@router.post("/{subject_id}/fingerprints", status_code=201, summary="Enrol a fingerprint",
             response_model=TemplatePublic)
def add_fingerprint(
    subject_id: str, runtime: RuntimeDep, session: SessionDep, actor: AdminDep,
    image: Annotated[UploadFile, File(description="fingerprint image (PNG, TIFF, JPEG, WSQ...)")],
    position: Annotated[str, Form(description="ANSI/NIST finger position 1-10")],
    ppi: Annotated[str | None, Form(
        description="sensor resolution; when absent the image's own (PNG/TIFF/JPEG header), "
        "else 500")] = None,
) -> dict:
    pos = parse_position(position)
    resolution = parse_ppi(ppi) if ppi else None
    data = _read_upload(image, "image")
    service.get_visible_subject(session, subject_id=subject_id, country=runtime.settings.country)
    template, quality = _named(
        "image", service.extract_fingerprint, data, position=pos, ppi=resolution,
        pool=runtime.extraction, budget_s=runtime.settings.extract_budget_s,
    )
    images = prepare_finger(data, position=pos, ppi=resolution)
    tpl = service.add_template(
        session, subject_id=subject_id, modality="finger", position=pos, data=template,
        quality=quality, actor=actor, country=runtime.settings.country,
    )
    _keep_reference(runtime, session, tpl, images)
    _commit_and_sync(runtime, session)
    return service.template_public(tpl)


@router.delete("/{subject_id}/biometrics/{template_id}", status_code=204,
               summary="Remove one face photo or fingerprint")
def delete_biometric(
    subject_id: str, template_id: str, runtime: RuntimeDep, session: SessionDep, actor: AdminDep
) -> None:
    service.delete_template(
        session, subject_id=subject_id, template_id=template_id, actor=actor,
        country=runtime.settings.country,
    )
    _commit_and_sync(runtime, session)
