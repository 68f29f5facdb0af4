"""Writing and reading the audit trail. Entries are only ever inserted, in the same transaction
as the change they record."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from gateway.audit.models import AuditEntry
from gateway.auth.service import Principal


def record(
    session: Session, *, actor: Principal | None, action: str, target_type: str | None = None,
    target_id: str | None = None, before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None, detail: str | None = None, device_id: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor_token_id=actor.token_id if actor else None,
        actor_name=actor.name if actor else "system",
        actor_role=actor.role.value if actor else None,
        device_id=device_id, action=action, target_type=target_type, target_id=target_id,
        before=before, after=after, detail=detail,
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None  # exact, or a prefix ending with "." / "*" (e.g. "subject.")
    actor_token_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    device_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _utc(value: datetime) -> datetime:
    # The column holds aware UTC datetimes; a naive filter value means UTC.
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def query_entries(filters: AuditFilter) -> SelectOfScalar[AuditEntry]:
    query = select(AuditEntry)
    if filters.action:
        if filters.action.endswith((".", "*")):
            query = query.where(col(AuditEntry.action).startswith(filters.action.rstrip("*")))
        else:
            query = query.where(AuditEntry.action == filters.action)
    for name in ("actor_token_id", "target_type", "target_id", "device_id"):
        value = getattr(filters, name)
        if value:
            query = query.where(getattr(AuditEntry, name) == value)
    if filters.since:
        query = query.where(col(AuditEntry.at) >= _utc(filters.since))
    if filters.until:
        query = query.where(col(AuditEntry.at) < _utc(filters.until))
    return query


def list_entries(session: Session, *, filters: AuditFilter, limit: int, offset: int,
                 newest_first: bool = True) -> tuple[list[AuditEntry], int]:
    query = query_entries(filters)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    order = col(AuditEntry.id).desc() if newest_first else col(AuditEntry.id).asc()
    return list(session.exec(query.order_by(order).offset(offset).limit(limit))), int(total)


def iter_entries(
    session: Session, *, filters: AuditFilter, batch: int = 1000
) -> Iterator[AuditEntry]:
    """Every matching entry, oldest first, in batches (keyset paging: stable while rows arrive)."""
    last = 0
    while True:
        rows = list(session.exec(
            query_entries(filters).where(col(AuditEntry.id) > last)
            .order_by(col(AuditEntry.id)).limit(batch)
        ))
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].id or last


def entry_public(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id, "at": entry.at.isoformat() if entry.at else None,
        "actor_token_id": entry.actor_token_id, "actor_name": entry.actor_name,
        "actor_role": entry.actor_role, "device_id": entry.device_id, "action": entry.action,
        "target_type": entry.target_type, "target_id": entry.target_id,
        "before": entry.before, "after": entry.after, "detail": entry.detail,
    }
