"""Hit review pages (NCB analysts and admins): the queue, one check with its candidates side by
side, confirm / reject with a comment. Keyboard: j/k move in the queue, c/r choose, Ctrl+Enter
saves, n skips to the next check (``static/console.js``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response
from pydantic import ValidationError

from gateway.checks import review_routes
from gateway.checks.models import ReviewStatus
from gateway.checks.service import check_view, get_check
from gateway.console.evidence import evidence_for
from gateway.console.web import ConsoleRoute, Page, PageDep, as_domain_error
from gateway.deps import ANALYST_ROLES
from gateway.errors import DomainError
from gateway.i18n import N_
from matchers.calibration import Decision

router = APIRouter(route_class=ConsoleRoute)
QUEUE_PAGE = 50
DECISIONS: dict[str, str] = {
    Decision.HIT: N_("Hit"), Decision.POSSIBLE: N_("Possible"),
    Decision.NO_HIT: N_("No hit"), Decision.RECAPTURE: N_("Recapture"),
}
REVIEW_STATUSES: dict[str, str] = {
    ReviewStatus.PENDING: N_("Pending"), ReviewStatus.CONFIRMED: N_("Confirmed"),
    ReviewStatus.REJECTED: N_("Rejected"), "all": N_("All"),
}


def _labels(page: Page) -> dict[str, Any]:
    def label(names: dict[str, str], value: str | None) -> str:
        return page.t(names.get(value, value)) if value else ""

    return {"decision_label": lambda d: label(DECISIONS, d),
            "status_label": lambda s: label(REVIEW_STATUSES, s)}


@router.get("/reviews")
def queue(page: PageDep, status: str = "pending", decision: str | None = None,
          offset: int = 0) -> Response:
    actor = page.allow(*ANALYST_ROLES)
    result = review_routes.get_reviews(page.session, actor, None, status=status,
                                       decision=decision or None, limit=QUEUE_PAGE,
                                       offset=max(0, offset))
    return page.render("reviews.html", result=result, shown=status, decision=decision or "",
                       statuses=REVIEW_STATUSES, **_labels(page))


def _next_pending(page: Page, after: str | None) -> str | None:
    rows, _total = review_routes.list_reviews(page.session, status="pending", decision=None,
                                              limit=2, offset=0)
    for row in rows:
        if row.id != after:
            return row.id
    return None


def _review_page(page: Page, check_id: str, *, error: DomainError | None = None,
                 comment: str = "", http_status: int = 200) -> Response:
    actor = page.allow(*ANALYST_ROLES)
    check = get_check(page.session, check_id=check_id, principal=actor)
    view = check_view(check)
    return page.render(
        "review.html", http_status=http_status, c=view, next_id=_next_pending(page, check_id),
        error=error, comment=comment, evidence=evidence_for(page, check_id), **_labels(page),
    )


@router.get("/reviews/{check_id}")
def review(page: PageDep, check_id: str) -> Response:
    return _review_page(page, check_id)


@router.post("/reviews/{check_id}")
def decide(
    page: PageDep, check_id: str, outcome: Annotated[str, Form()] = "",
    comment: Annotated[str, Form(max_length=2000)] = "", csrf: Annotated[str, Form()] = "",
) -> Response:
    actor = page.allow(*ANALYST_ROLES)
    page.check_csrf(csrf)
    try:
        body = review_routes.ReviewIn(outcome=outcome, comment=comment)
        review_routes.post_review(check_id, body, page.session, actor)
    except (DomainError, ValidationError) as exc:
        page.session.rollback()
        return _review_page(page, check_id, error=as_domain_error(exc), comment=comment,
                            http_status=422)
    following = _next_pending(page, check_id)
    if following:
        return page.redirect(f"/reviews/{following}", "reviewed")
    return page.redirect("/reviews", "queue_empty")
