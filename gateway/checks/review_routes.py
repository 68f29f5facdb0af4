"""Hit review (NCB analysts and admins): list checks awaiting review, confirm or reject them.

A confirmed or rejected outcome shows to the device on ``GET /v1/checks/{id}`` through
``answer.render``; only hit/possible checks are reviewable (they are the ones a human must decide).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlmodel import Session, col, select

from gateway.audit.service import record
from gateway.auth.service import Principal
from gateway.boundary import DB_INT_MAX
from gateway.checks.answer import CheckAnswer, ReviewPage, answer_dict
from gateway.checks.models import Check, ReviewStatus
from gateway.deps import AnalystDep, SessionDep
from gateway.errors import Conflict, Invalid, NotFound
from gateway.openapi_problems import problem_responses
from gateway.privacy.access import ReasonDep, audit_read
from matchers.calibration import Decision

router = APIRouter(tags=["review"])
STATUSES = tuple(ReviewStatus)


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["confirmed", "rejected"]
    comment: str = Field(
        min_length=1,
        max_length=2000,
        description="why: an analyst's reasoning is part of the record",
    )


def list_reviews(
    session: Session, *, status: str, decision: str | None, limit: int, offset: int
) -> tuple[list[Check], int]:
    if status not in (*STATUSES, "all"):
        raise Invalid(
            f"unknown review status {status!r}",
            field="status",
            fix="use pending, confirmed, rejected or all",
        )
    query = select(Check).where(col(Check.review_status).is_not(None))
    if status != "all":
        query = query.where(Check.review_status == status)
    if decision:
        if decision not in (Decision.HIT, Decision.POSSIBLE):
            raise Invalid(f"unknown decision {decision!r}", field="decision", fix="hit or possible")
        query = query.where(Check.local_decision == decision)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    # Oldest pending first: the queue is worked in arrival order.
    order = (col(Check.created_at).asc() if status == ReviewStatus.PENDING
             else col(Check.created_at).desc())
    rows = list(session.exec(query.order_by(order).offset(offset).limit(limit)))
    return rows, int(total)


def review_check(
    session: Session, *, check_id: str, outcome: str, comment: str, actor: Principal
) -> Check:
    check = session.get(Check, check_id)
    if check is None:
        raise NotFound(f"no check with id {check_id!r}", field="check_id")
    if check.review_status is None:
        raise Conflict(
            f"check {check_id} answered {check.decision}: only hit and possible checks are "
            "reviewed",
            field="check_id",
        )
    before = {
        "status": check.review_status,
        "comment": check.review_comment,
        "reviewed_by": check.reviewed_by,
    }
    check.review_status = ReviewStatus(outcome)
    check.review_comment = comment.strip()
    check.reviewed_by = actor.token_id
    check.reviewed_at = datetime.now(UTC)
    session.add(check)
    record(
        session,
        actor=actor,
        action="check.review",
        target_type="check",
        target_id=check_id,
        device_id=check.device_id,
        before=before,
        after={
            "status": outcome,
            "comment": check.review_comment,
            "decision": check.decision,
            "candidates": [c.get("subject_id") for c in check.response.get("candidates", [])],
        },
    )
    return check


def _item(check: Check) -> dict[str, Any]:
    return answer_dict(check, staff=True)


@router.get("/v1/reviews", summary="Checks awaiting review (or reviewed), oldest pending first",
            response_model=ReviewPage, response_model_exclude_unset=True)
def get_reviews(
    session: SessionDep,
    actor: AnalystDep,
    reason: ReasonDep,
    status: Annotated[str, Query(description="pending, confirmed, rejected or all")] = "pending",
    decision: Annotated[str | None, Query(description="hit or possible")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
) -> dict:
    rows, total = list_reviews(
        session, status=status, decision=decision, limit=limit, offset=offset
    )
    items = [_item(c) for c in rows]
    audit_read(session, actor=actor, action="check.list", target_type="check", target_id=None,
               reason=reason, shown={"checks": [c.id for c in rows]})
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post("/v1/checks/{check_id}/review", summary="Confirm or reject a hit / possible check",
             responses=problem_responses(409), response_model=CheckAnswer,
             response_model_exclude_unset=True)
def post_review(check_id: str, body: ReviewIn, session: SessionDep, actor: AnalystDep) -> dict:
    check = review_check(
        session, check_id=check_id, outcome=body.outcome, comment=body.comment, actor=actor
    )
    session.commit()
    return _item(check)
