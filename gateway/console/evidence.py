"""Images for the console: a check's probe and its candidates' reference photos and prints,
shown side by side on the review page.

The evidence comes from the evidence API (``GET /v1/checks/{id}/evidence``), called as a function
after the same role check, so the read is audited the same way; image URLs are rewritten to
console routes that serve the same bytes to the signed-in browser. Without image keys (or when
nothing is kept) the review page shows candidates and scores only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.console.web import PREFIX, ConsoleRoute, Page, PageDep
from gateway.deps import ANALYST_ROLES
from gateway.errors import DomainError
from gateway.privacy import routes as privacy_routes
from gateway.privacy.models import ReferenceImage
from gateway.privacy.schemas import ImageRef
from gateway.privacy.service import references_of

router = APIRouter(route_class=ConsoleRoute)


def _shown(image: ImageRef | ReferenceImage, url: str) -> dict[str, Any]:
    return {"url": url, "kind": image.kind, "position": image.position}


def evidence_for(page: Page, check_id: str) -> dict[str, Any] | None:
    """Probe and reference images of a check as console URLs, or None when none can be shown
    (no such check, no image keys: ``ImageKeyUnavailable`` is a ``DomainError`` too)."""
    actor = page.allow(*ANALYST_ROLES)
    try:
        view = privacy_routes.get_evidence(check_id, page.runtime, page.session, actor, None)
    except DomainError:
        return None
    probe = [_shown(i, f"{PREFIX}/reviews/{check_id}/images/{i.id}") for i in view.probe.images]
    references = {
        c.subject_id: [_shown(r, f"{PREFIX}/subjects/{c.subject_id}/images/{r.id}")
                       for r in c.reference_images]
        for c in view.candidates if c.available
    }
    return {"probe": probe, "references": references}


def reference_images(page: Page, subject_id: str) -> list[dict[str, Any]]:
    """A subject's stored photos and prints as console URLs."""
    return [_shown(r, f"{PREFIX}/subjects/{subject_id}/images/{r.id}")
            for r in references_of(page.session, subject_id) if r.kind != "face_thumb"]


@router.get("/reviews/{check_id}/images/{image_id}")
def probe_image(page: PageDep, check_id: str, image_id: str) -> Response:
    actor = page.allow(*ANALYST_ROLES)
    return privacy_routes.get_probe_image(check_id, image_id, page.runtime, page.session,
                                          actor, None)


@router.get("/subjects/{subject_id}/images/{image_id}")
def reference_image(page: PageDep, subject_id: str, image_id: str) -> Response:
    actor = page.allow(*ANALYST_ROLES)
    return privacy_routes.get_reference_image(subject_id, image_id, page.runtime,
                                              page.session, actor, None, "display")
