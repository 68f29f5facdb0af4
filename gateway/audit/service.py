"""Writing the audit trail. Entries are only ever inserted, in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

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
