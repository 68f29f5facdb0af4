"""Copying subjects between gateways: the wire form of a subject and applying it here.

A subject travels whole (metadata and every template, byte for byte) under its own id, so a
replica's indexes hold exactly the source's templates and answer the same searches. Applying is
idempotent: a subject that is already identical is left alone and does not bump the version.
Every apply re-checks sharing against *this* gateway's country, whatever the sender claimed.

Provenance (``SubjectOrigin``): a subject received from a source is recorded as that source's;
only the same source may later update or delete it, and a subject created on this gateway is
never changed by anything received. A signed feed proves it comes from *a* gateway of the
network, not that the sender owns every record it names, hence this second check.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import Session, col, select

from device_adapters.textpolicy import first_unsafe
from gateway.audit.models import AuditEntry
from gateway.audit.service import record
from gateway.auth.service import Principal
from gateway.errors import Conflict, Invalid
from gateway.watchlist import service
from gateway.watchlist.cache import visible_to
from gateway.watchlist.categories import parse_category
from gateway.watchlist.countries import parse_country
from gateway.watchlist.models import (
    LEGACY_MODELS,
    BiometricTemplate,
    Subject,
    SubjectOrigin,
    SubjectScope,
    WatchlistChange,
)
from matchers.templates import FaceTemplate, FingerprintTemplate

META_FIELDS = (
    "external_ref",
    "name",
    "aliases",
    "date_of_birth",
    "nationality",
    "category",
    "originating_country",
    "sharing",
    "handling_instructions",
    "expires_at",
    "notes",
)


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def subject_state(subject: Subject, templates: list[BiometricTemplate]) -> dict[str, Any]:
    """A subject with its templates (base64) as JSON-ready data."""
    return {
        "id": subject.id,
        "external_ref": subject.external_ref,
        "name": subject.name,
        "aliases": list(subject.aliases or []),
        "date_of_birth": _iso(subject.date_of_birth),
        "nationality": subject.nationality,
        "category": subject.category,
        "originating_country": subject.originating_country,
        "sharing": subject.sharing,
        # None means "the category's default", so a later change of defaults still applies.
        "handling_instructions": subject.handling_instructions,
        "expires_at": _iso(subject.expires_at),
        "notes": subject.notes,
        "created_at": _iso(subject.created_at),
        "updated_at": _iso(subject.updated_at),
        "templates": [
            {
                "id": t.id,
                "modality": t.modality,
                "model": t.model,
                "position": t.position,
                "quality": t.quality,
                "created_at": _iso(t.created_at),
                "data": base64.b64encode(t.data).decode(),
            }
            for t in templates
        ],
    }


def ever_visible(session: Session, *, subject_id: str, country: str) -> bool:
    """Could ``country`` ever have seen this subject? (True when no history is known.)"""
    scopes = list(session.exec(select(SubjectScope).where(SubjectScope.subject_id == subject_id)))
    if not scopes:
        return True
    return any(visible_to(s, country) for s in scopes)


def current_version(session: Session) -> int:
    from sqlalchemy import func

    return int(session.exec(select(func.max(WatchlistChange.version))).one() or 0)


def _parse_dt(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise Invalid(f"{field} {value!r} is not an ISO 8601 date-time", field=field) from None
    # The columns hold aware UTC datetimes; a naive value on the wire is UTC.
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _clean_state(state: dict[str, Any]) -> tuple[dict[str, Any], list[BiometricTemplate]]:
    """Validate an incoming subject; returns its column values and its templates."""
    subject_id = str(state.get("id") or "")
    if not subject_id or len(subject_id) > 40:
        raise Invalid("a subject in the snapshot has no usable id", field="id")
    if not state.get("name"):
        raise Invalid(f"subject {subject_id} has no name", field="name")
    values: dict[str, Any] = {k: state.get(k) for k in META_FIELDS}
    # The text policy holds for received records too: a source still holding a lone surrogate
    # (written before the policy) must not spread it to every replica.
    found = first_unsafe({k: v for k, v in values.items() if isinstance(v, (str, list))})
    if found:
        raise Invalid(f"subject {subject_id}: {found[0]} contains {found[1]}", field=found[0])
    values["category"] = parse_category(str(values["category"])).value
    values["originating_country"] = parse_country(
        str(values["originating_country"]), field="originating_country"
    )
    if values["nationality"]:
        values["nationality"] = parse_country(values["nationality"], field="nationality")
    if values["sharing"] is not None:
        values["sharing"] = sorted({parse_country(c, field="sharing") for c in values["sharing"]})
    values["aliases"] = [str(a) for a in values["aliases"] or []]
    dob = values["date_of_birth"]
    values["date_of_birth"] = date.fromisoformat(dob) if dob else None
    values["expires_at"] = _parse_dt(values["expires_at"], "expires_at")
    templates: list[BiometricTemplate] = []
    for raw in state.get("templates") or []:
        try:
            data = base64.b64decode(raw["data"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            raise Invalid(
                f"subject {subject_id}: a template's data is not base64", field="templates"
            ) from None
        modality = raw.get("modality")
        # Parse now: a corrupt template must be refused here, not skipped later by the cache.
        if modality == "face":
            FaceTemplate.from_bytes(data)
        elif modality == "finger":
            FingerprintTemplate.from_iso(data)
        else:
            raise Invalid(f"subject {subject_id}: unknown modality {modality!r}", field="templates")
        templates.append(
            BiometricTemplate(
                id=str(raw["id"]),
                subject_id=subject_id,
                modality=modality,
                # A snapshot or delta from before templates named their model carries the
                # models of that time: never searched against this gateway's embeddings.
                model=str(raw.get("model") or LEGACY_MODELS[modality])[:60],
                position=int(raw.get("position") or 0),
                data=data,
                quality=raw.get("quality") or {},
                created_at=_parse_dt(raw.get("created_at"), "created_at") or datetime.now(UTC),
            )
        )
    return values, templates


# The detail every replicated write leaves in the audit trail: "<kind> <id> from <source> v<N>".
_IMPORT_DETAIL = re.compile(r" from (\S+) v\d+")


def origin_of(session: Session, subject_id: str) -> str | None:
    """The source gateway a subject was received from; None when it was created here.

    Subjects replicated before ``SubjectOrigin`` existed have no row: their first audit entry
    tells (``subject.import`` with the source in its detail, or ``subject.create`` when made
    here). What is found is stored, so the audit trail is read once per such subject.
    """
    row = session.get(SubjectOrigin, subject_id)
    if row is not None:
        return row.source_gateway
    first = session.exec(
        select(AuditEntry)
        .where(AuditEntry.target_type == "subject", AuditEntry.target_id == subject_id)
        .where(col(AuditEntry.action).in_(("subject.create", "subject.import")))
        .order_by(col(AuditEntry.id))
    ).first()
    if first is None or first.action != "subject.import":
        return None
    found = _IMPORT_DETAIL.search(first.detail or "")
    if found is None:
        return None
    session.add(SubjectOrigin(subject_id=subject_id, source_gateway=found.group(1)))
    return found.group(1)


def _set_origin(session: Session, subject_id: str, source: str) -> None:
    row = session.get(SubjectOrigin, subject_id)
    if row is None:
        session.add(SubjectOrigin(subject_id=subject_id, source_gateway=source))
    elif row.source_gateway != source:  # a leftover of a subject deleted here meanwhile
        row.source_gateway, row.at = source, datetime.now(UTC)
        session.add(row)


def require_owner(session: Session, subject: Subject, *, source: str) -> None:
    """Refuse a change to ``subject`` unless it was received from ``source``."""
    origin = origin_of(session, subject.id)
    if origin == source:
        return
    if origin is None:
        raise Conflict(
            f"subject {subject.id} was created on this gateway (originating country "
            f"{subject.originating_country}); changes from {source} may not modify or delete it",
            field="subject_id",
            reason="not_owner",
            fix="change the record on this gateway; a feed or snapshot never overrides it",
        )
    raise Conflict(
        f"subject {subject.id} was received from {origin}, not {source}: only its source may "
        "modify or delete it",
        field="subject_id",
        reason="not_owner",
        fix=f"load the changes of {origin} for it (or delete it here first to re-home it)",
    )


def explain_conflict(session: Session, state: dict[str, Any]) -> str:
    """Why an incoming subject hit a uniqueness constraint (after the rollback)."""
    subject_id = str(state.get("id") or "")
    ids = [str(t.get("id")) for t in state.get("templates") or [] if isinstance(t, dict)]
    if ids:
        clash = session.exec(
            select(BiometricTemplate)
            .where(col(BiometricTemplate.id).in_(ids))
            .where(BiometricTemplate.subject_id != subject_id)
        ).first()
        if clash is not None:
            return f"template id {clash.id} already belongs to local subject {clash.subject_id}"
    ref = state.get("external_ref")
    if ref:
        holder = session.exec(select(Subject).where(Subject.external_ref == ref)).first()
        if holder is not None and holder.id != subject_id:
            return f"external_ref {ref!r} belongs to local subject {holder.id}"
    return "conflicts with a record already here (duplicate id or external_ref)"


def apply_upsert(
    session: Session,
    *,
    state: dict[str, Any],
    actor: Principal | None,
    country: str,
    detail: str,
    source: str,
) -> str:
    """Make the local subject equal to ``state``; returns created/updated/unchanged/restricted.

    Raises ``Conflict`` when the subject exists here but was not received from ``source``.
    """
    values, templates = _clean_state(state)
    subject_id = str(state["id"])
    existing = session.get(Subject, subject_id)
    probe = Subject(id=subject_id, **values)
    if not visible_to(probe, country):
        # The sender should not have sent it; if we hold its older copy, it must go now.
        if existing is not None:
            apply_delete(
                session,
                subject_id=subject_id,
                actor=actor,
                detail=f"{detail}: no longer shared with {country}",
                source=source,
            )
        return "restricted"
    ref = values.get("external_ref")
    if ref:
        holder = session.exec(select(Subject).where(Subject.external_ref == ref)).first()
        if holder is not None and holder.id != subject_id:
            raise Conflict(
                f"external_ref {ref!r} belongs to local subject {holder.id}",
                field="external_ref",
                fix="delete or renumber the local record, then load again",
            )
    local_templates = service.templates_of(session, subject_id) if existing else []
    if existing is not None:
        same_meta = all(getattr(existing, k) == values[k] for k in META_FIELDS)
        same_tpls = {t.id: t.data for t in local_templates} == {t.id: t.data for t in templates}
        if same_meta and same_tpls:
            # Nothing changes, so the owner check is moot: a relayed identical copy is no error.
            return "unchanged"
        require_owner(session, existing, source=source)
    before = service.subject_public(existing, local_templates) if existing else None
    if existing is None:
        created = _parse_dt(state.get("created_at"), "created_at") or datetime.now(UTC)
        existing = Subject(id=subject_id, created_at=created, **values)
        session.add(existing)
        _set_origin(session, subject_id, source)
    else:
        for key, value in values.items():
            setattr(existing, key, value)
        existing.updated_at = datetime.now(UTC)
        session.add(existing)
    wanted = {t.id for t in templates}
    for tpl in local_templates:
        if tpl.id not in wanted:
            session.delete(tpl)
    have = {t.id for t in local_templates}
    session.flush()
    for tpl in templates:
        if tpl.id not in have:
            session.add(tpl)
    service.bump(session, subject_id)
    record(
        session,
        actor=actor,
        action="subject.import",
        target_type="subject",
        target_id=subject_id,
        before=before,
        after=service.subject_public(existing, templates),
        detail=detail,
    )
    return "updated" if before else "created"


def apply_delete(
    session: Session, *, subject_id: str, actor: Principal | None, detail: str, source: str
) -> bool:
    """Remove a subject ``source`` deleted or no longer shares; False when it was not here.

    Raises ``Conflict`` when the subject here was not received from ``source``.
    """
    subject = session.get(Subject, subject_id)
    if subject is None:
        return False
    require_owner(session, subject, source=source)
    before = service.subject_public(subject)
    for tpl in service.templates_of(session, subject_id):
        session.delete(tpl)
    session.delete(subject)
    origin = session.get(SubjectOrigin, subject_id)
    if origin is not None:
        session.delete(origin)
    service.bump(session, subject_id, "delete")
    record(
        session,
        actor=actor,
        action="subject.delete",
        target_type="subject",
        target_id=subject_id,
        before=before,
        detail=detail,
    )
    return True
