"""Reads of personal data are audited: who (the token), why (the stated reason), what (the
record and the parts shown).

The reason comes from the ``X-Access-Reason`` header (at most 200 characters); without it the
role's ordinary reason is recorded (a device reads its own check, an analyst reviews...), so a
read is never unexplained. The entry is written in the read's own short transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header
from sqlmodel import Session

from gateway.audit.service import record
from gateway.auth.models import Role
from gateway.auth.service import Principal
from gateway.errors import Invalid

DEFAULT_REASON = {
    Role.device: "officer reads the answer to its own check",
    Role.ncb_analyst: "NCB hit review",
    Role.ncb_admin: "watchlist management",
    Role.auditor: "audit",
}
REASON_MAX = 200


def access_reason(
    x_access_reason: Annotated[
        str | None,
        Header(description="why personal data is read (recorded in the audit trail)"),
    ] = None,
) -> str | None:
    if x_access_reason is not None and len(x_access_reason) > REASON_MAX:
        raise Invalid(f"X-Access-Reason is {len(x_access_reason)} characters long",
                      field="X-Access-Reason", fix=f"at most {REASON_MAX} characters")
    return x_access_reason.strip() if x_access_reason and x_access_reason.strip() else None


def audit_read(session: Session, *, actor: Principal, action: str, target_type: str,
               target_id: str | None, reason: str | None, shown: dict[str, Any] | None = None,
               device_id: str | None = None, commit: bool = True) -> None:
    """Record one read (``action`` such as ``subject.read``) and commit it."""
    record(session, actor=actor, action=action, target_type=target_type, target_id=target_id,
           after=shown, device_id=device_id,
           detail=f"reason: {reason or DEFAULT_REASON.get(actor.role, 'not given')}")
    if commit:
        session.commit()


ReasonDep = Annotated[str | None, Depends(access_reason)]
