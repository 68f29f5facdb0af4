"""Merging central's answer into the check, in the same transaction as the queue item's change.

A central hit that the local watchlist did not have upgrades the decision, puts the check in
the NCB review queue and shows central's candidates to the device (``CheckAnswer.central``).
A central answer never downgrades the local decision: the officer already acted on it.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from gateway.audit.service import record
from gateway.checks.answer import CentralResult, facts_of
from gateway.checks.models import Check, ReviewStatus
from gateway.privacy.service import drop_probe_images
from gateway.upstream.queue import QueueItem
from gateway.upstream.status import UpstreamStatus
from matchers.calibration import Decision

CENTRAL_SHOWN = 5


def _locked_check(session: Session, check_id: str) -> Check | None:
    # PostgreSQL: lock the row so an NCB review saved at the same moment is not overwritten.
    return session.get(Check, check_id, with_for_update=True)


def set_status(session: Session | None, item: QueueItem, status: UpstreamStatus,
               only_from: tuple[UpstreamStatus, ...] | None = None) -> None:
    """Move the check's ``upstream_status`` (e.g. queued -> pending while delivering)."""
    if session is None:
        return
    check = _locked_check(session, item.check_id)
    if check is None or check.upstream_status == UpstreamStatus.COMPLETED:
        return
    if only_from is not None and check.upstream_status not in only_from:
        return
    check.upstream_status = status
    session.add(check)


def apply_result(session: Session | None, item: QueueItem, result: dict[str, Any]) -> bool:
    """Merge central's (validated) result into the check; True when the decision changed."""
    if session is None:
        return False
    check = _locked_check(session, item.check_id)
    if check is None:
        return False
    candidates = list(result.get("candidates") or [])
    document = result.get("document")
    check.upstream_status = UpstreamStatus.COMPLETED
    check.upstream_result = {
        "decision": result.get("decision"),
        "search_id": result.get("search_id"),
        "candidates": candidates[:CENTRAL_SHOWN],
        "document": document,
        "attempts": item.attempts,
    }
    before = {"decision": check.decision, "review_status": check.review_status}
    central = Decision(result["decision"])  # validated by the client (``client.DECISIONS``)
    upgraded = central.rank > Decision(check.decision).rank
    facts = facts_of(check)
    if candidates or (document and document.get("hit")):
        facts.central = CentralResult(decision=central, candidates=candidates[:CENTRAL_SHOWN],
                                      document=document)
    if upgraded:
        check.decision = central  # the one place the decision lives: the answer renders it
        check.review_status = ReviewStatus.PENDING
        facts.message = (
            "Central databases report a match the local watchlist did not have: "
            "follow the handling instructions and contact the NCB."
            if central == Decision.HIT else
            "Central databases report a possible match: the NCB will review it."
        )
    check.response = facts.stored()
    session.add(check)
    if check.review_status is None:
        # Central found nothing either: the probe images held for its answer go with it.
        drop_probe_images(session, check.id)
    record(
        session, actor=None, action="check.upstream_result", target_type="check",
        target_id=check.id, before=before if upgraded else None,
        after={"decision": check.decision, "central_decision": central,
               "central_candidates": [c.get("subject_id") for c in candidates[:CENTRAL_SHOWN]],
               "review_status": check.review_status},
        detail="central hit upgraded the decision" if upgraded else "central result merged",
    )
    return upgraded


def mark_dead(session: Session | None, item: QueueItem, *, status: UpstreamStatus,
              reason: str) -> None:
    """Dead-lettered: the check shows ``failed`` or ``expired`` with the reason."""
    if session is None:
        return
    check = _locked_check(session, item.check_id)
    if check is not None and check.upstream_status != UpstreamStatus.COMPLETED:
        check.upstream_status = status
        check.upstream_result = {"error": reason, "attempts": item.attempts}
        session.add(check)
    record(session, actor=None, action="upstream.dead_letter", target_type="check",
           target_id=item.check_id, after={"queue_item": item.id, "status": status},
           detail=reason[:2000])
