"""Images for the console when the gateway keeps them (``gateway.privacy``): a check's probe and
its candidates' reference photos and prints, shown side by side on the review page.

The JSON comes from the evidence API (``GET /v1/checks/{id}/evidence``), called as a function
after the same role check, so the read is audited the same way; image URLs are rewritten to
console routes that serve the same bytes to the signed-in browser. Without the privacy package
(or without image keys) the review page shows candidates and scores only.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.console.web import PREFIX, ConsoleRoute, Page, PageDep
from gateway.deps import ANALYST_ROLES
from gateway.errors import DomainError

router = APIRouter(route_class=ConsoleRoute)


def available() -> bool:
    # The parent first: find_spec of a submodule raises when its package is absent.
    return (importlib.util.find_spec("gateway.privacy") is not None
            and importlib.util.find_spec("gateway.privacy.routes") is not None)


def _shown(image: dict[str, Any], url: str) -> dict[str, Any]:
    return {"url": url, "kind": image.get("kind"), "position": image.get("position")}


def evidence_for(page: Page, check_id: str) -> dict[str, Any] | None:
    """Probe and reference images of a check as console URLs, or None when none are kept."""
    if not available():
        return None
    from gateway.privacy import routes as privacy_routes

    actor = page.allow(*ANALYST_ROLES)
    try:
        view = privacy_routes.get_evidence(check_id, page.runtime, page.session, actor, None)
    except DomainError:
        return None
    except Exception as exc:  # noqa: BLE001 - e.g. no image keys: show the scores only
        if type(exc).__name__ != "ImageKeyUnavailable":
            raise
        return None
    probe = [_shown(i, f"{PREFIX}/reviews/{check_id}/images/{i['id']}")
             for i in view.get("probe", {}).get("images", [])]
    references = {
        c["subject_id"]: [_shown(r, f"{PREFIX}/subjects/{c['subject_id']}/images/{r['id']}")
                          for r in c.get("reference_images", [])]
        for c in view.get("candidates", []) if c.get("available")
    }
    return {"probe": probe, "references": references}


def reference_images(page: Page, subject_id: str) -> list[dict[str, Any]]:
    """A subject's stored photos and prints as console URLs ([] without the privacy package)."""
    if not available():
        return []
    from gateway.privacy.service import references_of

    return [_shown({"kind": r.kind, "position": r.position},
                   f"{PREFIX}/subjects/{subject_id}/images/{r.id}")
            for r in references_of(page.session, subject_id) if r.kind != "face_thumb"]


@router.get("/reviews/{check_id}/images/{image_id}")
def probe_image(page: PageDep, check_id: str, image_id: str) -> Response:
    from gateway.privacy import routes as privacy_routes

    actor = page.allow(*ANALYST_ROLES)
    return privacy_routes.get_probe_image(check_id, image_id, page.runtime, page.session,
                                          actor, None)


@router.get("/subjects/{subject_id}/images/{image_id}")
def reference_image(page: PageDep, subject_id: str, image_id: str) -> Response:
    from gateway.privacy import routes as privacy_routes

    actor = page.allow(*ANALYST_ROLES)
    return privacy_routes.get_reference_image(subject_id, image_id, page.runtime,
                                              page.session, actor, None, "display")
