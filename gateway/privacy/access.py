"""Reads of personal data are audited: who (the token), why (the stated reason), what (the
record and the parts shown).

The reason comes from the ``X-Access-Reason`` header (at most 200 characters); without it the
role's ordinary reason is recorded (a device reads its own check, an analyst reviews...), so a
read is never unexplained. The entry is written in the read's own short transaction.

A device waiting for central (long-poll ``GET /v1/checks/{id}/upstream?wait=``, event stream
``GET /v1/checks/{id}/events``) is audited per disclosure, not per server-side re-read: one
entry per long-poll answer and one per event that carries the check's state
(``audit_upstream_read``); keep-alives and the stream's timeout event carry nothing and are not
recorded. Why this and not one entry per session: docs/PRIVACY.md, "Purpose and access".
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.audit.service import record
from gateway.auth.models import Role
from gateway.auth.service import Principal
from gateway.checks.models import Check
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


UPSTREAM_READ = "check.upstream.read"  # one long-poll answer
UPSTREAM_EVENT = "check.upstream.event"  # one server-sent event with the check's state


def audit_upstream_read(engine: Engine, *, actor: Principal, view: dict[str, Any],
                        reason: str | None, action: str = UPSTREAM_READ,
                        **shown: Any) -> None:
    """Record one disclosure of a check's central state (``view``: the long-poll/event body)
    to ``actor``, with the central candidates it named; ``shown`` adds e.g. ``waited_s``."""
    central = view.get("central") or {}
    result = (view.get("upstream") or {}).get("result") or {}
    named = [c.get("subject_id") for c in (central.get("candidates") or
                                           result.get("candidates") or [])]
    with Session(engine) as session:
        check = session.get(Check, view["check_id"])
        audit_read(session, actor=actor, action=action, target_type="check",
                   target_id=view["check_id"], reason=reason,
                   device_id=check.device_id if check else None,
                   shown={"upstream_status": (view.get("upstream") or {}).get("status"),
                          "decision": view.get("decision"), "central_candidates": named,
                          **shown})
