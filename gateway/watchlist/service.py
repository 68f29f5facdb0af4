"""Watchlist service: subjects and their biometrics. Keyword-only, typed, no HTTP here.

Every change writes a ``WatchlistChange`` row (which bumps the watchlist version) and an audit
entry in the same transaction; callers commit and then ``cache.sync``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from device_adapters.wsq_sandbox import pixels_if_wsq
from gateway.audit.service import record
from gateway.auth.service import Principal
from gateway.errors import Conflict, Invalid, NotFound
from gateway.watchlist.cache import visible_to
from gateway.watchlist.categories import HANDLING, parse_category
from gateway.watchlist.countries import parse_country
from gateway.watchlist.models import (
    BiometricTemplate,
    Subject,
    SubjectScope,
    WatchlistChange,
    current_model,
)
from gateway.watchlist.schemas import SubjectCreate, SubjectPublic, SubjectUpdate, TemplatePublic
from matchers import face as face_matcher
from matchers import fingerprint as finger_matcher
from matchers.quality import Stage, finger_quality

if TYPE_CHECKING:  # the importer's workers load this module without the gateway's pool
    from gateway.extraction import ExtractionPool


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


# Any constant: the key of the PostgreSQL advisory lock that orders watchlist writes.
WATCHLIST_WRITE_LOCK = 0x46435754  # "FCWT"


def bump(session: Session, subject_id: str, op: str = "upsert") -> None:
    """Log a change (the new row's version is the watchlist version after it).

    Readers replay changes by version (``version > V``), so versions must become visible in
    commit order. SQLite serialises writers already; on PostgreSQL a sequence hands numbers out
    at insert time, so a slow transaction could commit version 1 after version 2 was read and be
    skipped for good. A transaction-scoped advisory lock makes watchlist writers take turns
    from their first change to their commit (watchlist writes are rare; checks never take it).
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WATCHLIST_WRITE_LOCK})
    session.add(WatchlistChange(subject_id=subject_id, op=op))
    if op == "upsert":
        _record_scope(session, subject_id)


def _record_scope(session: Session, subject_id: str) -> None:
    """Remember who may see the subject whenever that changes (see ``SubjectScope``)."""
    subject = session.get(Subject, subject_id)
    if subject is None:
        return
    last = session.exec(
        select(SubjectScope)
        .where(SubjectScope.subject_id == subject_id)
        .order_by(SubjectScope.id.desc())  # type: ignore[union-attr]
    ).first()
    if (
        last is not None
        and last.originating_country == subject.originating_country
        and (last.sharing or None) == (subject.sharing or None)
    ):
        return
    session.add(SubjectScope(subject_id=subject_id, originating_country=subject.originating_country,
                             sharing=subject.sharing))


def _validated(data: dict[str, Any], *, country: str) -> dict[str, Any]:
    out = dict(data)
    if "category" in out and out["category"] is not None:
        out["category"] = parse_category(out["category"]).value
    for key in ("nationality", "originating_country"):
        if out.get(key) is not None:
            out[key] = parse_country(out[key], field=key)
    if out.get("sharing") is not None:
        out["sharing"] = sorted({parse_country(c, field="sharing") for c in out["sharing"]})
    if "aliases" in out and out["aliases"] is not None:
        out["aliases"] = [a.strip() for a in out["aliases"] if a and a.strip()]
    if out.get("external_ref") is not None:
        out["external_ref"] = out["external_ref"].strip() or None
    return out


def subject_public(subject: Subject, templates: list[BiometricTemplate] | None = None) -> dict:
    default = HANDLING[parse_category(subject.category)]
    return SubjectPublic(
        id=subject.id, name=subject.name, category=subject.category,
        external_ref=subject.external_ref, aliases=subject.aliases or [],
        date_of_birth=subject.date_of_birth, nationality=subject.nationality,
        originating_country=subject.originating_country, sharing=subject.sharing,
        handling_instructions=subject.handling_instructions or default,
        handling_instructions_overridden=subject.handling_instructions is not None,
        expires_at=subject.expires_at, notes=subject.notes, created_at=subject.created_at,
        updated_at=subject.updated_at,
        biometrics=[template_public(t) for t in (templates or [])],
    ).model_dump(mode="json")


def template_public(tpl: BiometricTemplate) -> dict:
    return TemplatePublic(
        id=tpl.id, subject_id=tpl.subject_id, modality=tpl.modality, position=tpl.position,
        quality=tpl.quality, created_at=tpl.created_at,
    ).model_dump(mode="json")


def create_subject(
    session: Session, *, data: SubjectCreate, actor: Principal | None, country: str,
) -> Subject:
    values = _validated(data.model_dump(), country=country)
    values["originating_country"] = values.get("originating_country") or country
    if values.get("external_ref") and session.exec(
        select(Subject).where(Subject.external_ref == values["external_ref"])
    ).first():
        raise Conflict(
            f"a subject with external_ref {values['external_ref']!r} exists already",
            field="external_ref", fix="update that subject, or use another reference",
        )
    subject = Subject(id=new_id("sub"), **values)
    session.add(subject)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("the subject conflicts with an existing one", field="external_ref") from exc
    bump(session, subject.id)
    record(
        session, actor=actor, action="subject.create", target_type="subject",
        target_id=subject.id, after=subject_public(subject),
    )
    return subject


def get_visible_subject(session: Session, *, subject_id: str, country: str) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None or not visible_to(subject, country):
        raise NotFound(f"no subject with id {subject_id!r}", field="subject_id")
    return subject


# The audit entry's detail column (VARCHAR(2000)): a longer reason was a 500 on PostgreSQL,
# which enforces the size.
REASON_MAX_CHARS = 2000


def stated_reason(reason: str | None, *, required: bool, doing: str, fix: str) -> str | None:
    """The reason an NCB user gave for changing the watchlist (kept as the audit entry's
    detail), stripped; Invalid (422, field ``reason``) when required and empty, or longer than
    ``REASON_MAX_CHARS``. The API and the console both check it here."""
    text = reason.strip() if reason else ""
    if required and not text:
        raise Invalid(f"{doing} needs a reason", field="reason", fix=fix)
    if len(text) > REASON_MAX_CHARS:
        raise Invalid(f"the reason is {len(text)} characters long; at most {REASON_MAX_CHARS} "
                      "are kept", field="reason",
                      fix=f"shorten the reason to {REASON_MAX_CHARS} characters or fewer")
    return text or None


def update_subject(
    session: Session, *, subject_id: str, data: SubjectUpdate, actor: Principal | None,
    country: str, reason: str | None = None, reason_required: bool = False,
) -> Subject:
    """Change the fields sent; ``reason`` (why) goes into the ``subject.update`` audit entry.

    The API accepts an edit without one (scripts, older clients); the console requires it
    (``reason_required``), as deletion always does.
    """
    why = stated_reason(reason, required=reason_required, doing="changing a subject",
                         fix="say why the record is changed (e.g. the notice was updated)")
    subject = get_visible_subject(session, subject_id=subject_id, country=country)
    before = subject_public(subject)
    values = _validated(data.model_dump(exclude_unset=True), country=country)
    if "name" in values and not values["name"]:
        raise Invalid("name cannot be empty", field="name")
    if values.get("external_ref") and values["external_ref"] != subject.external_ref:
        taken = select(Subject).where(Subject.external_ref == values["external_ref"])
        if session.exec(taken).first():
            raise Conflict(
                f"a subject with external_ref {values['external_ref']!r} exists already",
                field="external_ref",
            )
    for key, value in values.items():
        if key in ("category", "originating_country") and value is None:
            raise Invalid(f"{key} cannot be removed", field=key)
        setattr(subject, key, value)
    subject.updated_at = datetime.now(UTC)
    session.add(subject)
    bump(session, subject.id)
    record(
        session, actor=actor, action="subject.update", target_type="subject",
        target_id=subject.id, before=before, after=subject_public(subject), detail=why,
    )
    return subject


def delete_subject(
    session: Session, *, subject_id: str, reason: str, actor: Principal | None, country: str,
) -> None:
    why = stated_reason(reason, required=True, doing="deleting a subject",
                         fix="add ?reason=... saying why the record is removed")
    subject = get_visible_subject(session, subject_id=subject_id, country=country)
    before = subject_public(subject)
    for tpl in templates_of(session, subject_id):
        session.delete(tpl)
    session.delete(subject)
    bump(session, subject_id, "delete")
    record(
        session, actor=actor, action="subject.delete", target_type="subject",
        target_id=subject_id, before=before, detail=why,
    )


def _extract(pool: ExtractionPool | None, budget_s: float, fn: Any, *args: Any,
             **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` on the gateway's extraction workers within ``budget_s``, or here
    (the bulk importer's own workers call without a pool)."""
    return fn(*args, **kwargs) if pool is None else pool.run(fn, *args, budget_s=budget_s,
                                                             **kwargs)


def extract_face(image: bytes, *, pool: ExtractionPool | None = None,
                 budget_s: float = 60.0) -> tuple[bytes, dict]:
    """Extract an enrolment face template (no DB access: call before opening a transaction);
    on ``pool``'s workers within ``budget_s`` when given (the gateway's), else here."""
    template = _extract(pool, budget_s, face_matcher.extract, image, refuse_ambiguous=True)
    return template.to_bytes(), dict(template.quality)


def extract_fingerprint(
    image: bytes, *, position: int, ppi: int | None, pool: ExtractionPool | None = None,
    budget_s: float = 60.0,
) -> tuple[bytes, dict]:
    """Extract an enrolment fingerprint template; refuses prints below the enrolment quality
    (``matchers.quality.finger_quality``).

    ``ppi`` None: the image file's own declared resolution, else 500.
    """
    pixels = pixels_if_wsq(image, field="image")  # WSQ decodes out of process (crash-safe)
    template = _extract(pool, budget_s, finger_matcher.extract,
                        None if pixels is not None else image, pixels=pixels, ppi=ppi,
                        position=position)
    quality = finger_quality(template, Stage.ENROL)  # the rule checks use too
    return template.to_iso(), quality


def add_template(
    session: Session, *, subject_id: str, modality: str, position: int, data: bytes,
    quality: dict, actor: Principal | None, country: str,
) -> BiometricTemplate:
    get_visible_subject(session, subject_id=subject_id, country=country)
    tpl = BiometricTemplate(
        id=new_id("tpl"), subject_id=subject_id, modality=modality, position=position, data=data,
        quality=quality, model=current_model(modality),
    )
    session.add(tpl)
    bump(session, subject_id)
    record(
        session, actor=actor, action=f"biometric.{modality}.enrol", target_type="subject",
        target_id=subject_id, after={"template_id": tpl.id, "position": position, **quality},
    )
    return tpl


def delete_template(
    session: Session, *, subject_id: str, template_id: str, actor: Principal | None, country: str,
) -> None:
    get_visible_subject(session, subject_id=subject_id, country=country)
    tpl = session.get(BiometricTemplate, template_id)
    if tpl is None or tpl.subject_id != subject_id:
        raise NotFound(f"subject {subject_id} has no biometric {template_id!r}",
                       field="template_id")
    before = template_public(tpl)
    session.delete(tpl)
    bump(session, subject_id)
    record(
        session, actor=actor, action=f"biometric.{tpl.modality}.delete", target_type="subject",
        target_id=subject_id, before=before,
    )


def templates_of(session: Session, subject_id: str) -> list[BiometricTemplate]:
    return list(
        session.exec(
            select(BiometricTemplate)
            .where(BiometricTemplate.subject_id == subject_id)
            .order_by(col(BiometricTemplate.created_at))
        )
    )
