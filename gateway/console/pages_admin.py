"""Console pages for bulk import (live progress, rejected rows), the central link (queue depth,
dead letters with requeue), the audit trail (search, CSV export) and tokens and devices."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from gateway.audit import routes as audit_routes
from gateway.audit.service import AuditFilter
from gateway.auth import routes as token_routes
from gateway.console.languages import device_languages, set_device_language
from gateway.console.web import ConsoleRoute, PageDep
from gateway.deps import ADMIN_ROLES, AUDITOR_ROLES, STATUS_READER_ROLES
from gateway.errors import Invalid, NotFound
from gateway.upstream import routes as upstream_routes
from gateway.watchlist import admin_routes, importer, jobs

router = APIRouter(route_class=ConsoleRoute)
AUDIT_PAGE = 50


# --- bulk import -------------------------------------------------------------------------------


@router.get("/import")
def import_form(page: PageDep) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    recent = admin_routes.list_jobs(page.session, actor, limit=20)
    return page.render("import.html", recent=recent)


@router.post("/import")
async def import_start(
    page: PageDep, batch: Annotated[UploadFile, File()], csrf: Annotated[str, Form()] = "",
) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    page.check_csrf(csrf)
    blob = await batch.read()
    if not blob:
        raise Invalid("the file is empty", field="batch",
                      fix="choose a .zip (manifest and images) or a .json manifest")
    name = batch.filename or "upload"
    if blob[:2] == b"PK":  # a zip: the folder layout of `fieldcheck watchlist import`
        rows = await run_in_threadpool(importer.read_zip, blob)
    else:
        try:
            doc = json.loads(blob)
        except ValueError as exc:
            raise Invalid(f"{name} is neither a zip nor JSON: {exc}", field="batch",
                          fix="upload the folder zipped with its manifest.csv, or a JSON "
                          "manifest with base64 images") from exc
        rows = await run_in_threadpool(importer.read_json_records, doc)
    job = await run_in_threadpool(  # database writes off the event loop
        lambda: jobs.start_job(page.runtime, page.session, rows=rows,
                               source=f"console upload {name}", actor=actor))
    return page.redirect(f"/import/{job.id}")


@router.get("/import/{job_id}")
def import_job(page: PageDep, job_id: str) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    job = admin_routes.get_job(job_id, page.session, actor)
    return page.render("job.html", job=job, running=job.status in jobs.ACTIVE)


@router.get("/import/{job_id}/progress")
def import_progress(page: PageDep, job_id: str) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    view = admin_routes.get_job(job_id, page.session, actor)
    return JSONResponse(view.model_dump(mode="json", exclude={"results", "summary"}),
                        headers={"Cache-Control": "no-store"})


# --- central link ------------------------------------------------------------------------------


@router.get("/link")
def link(page: PageDep) -> Response:
    actor = page.allow(*STATUS_READER_ROLES)
    try:
        status: dict[str, Any] | None = upstream_routes.upstream_status(page.runtime, actor)
    except NotFound:
        status = None  # the central link is not running on this gateway
    dead: list[dict[str, Any]] = []
    if status is not None and page.may(ADMIN_ROLES):
        dead = upstream_routes.dead_letters(page.runtime, actor, limit=200, offset=0)["items"]
    return page.render("link.html", status=status, dead=dead,
                       can_requeue=page.may(ADMIN_ROLES))


@router.post("/link/dead-letters/{item_id}/requeue")
def requeue(page: PageDep, item_id: int, csrf: Annotated[str, Form()] = "") -> Response:
    actor = page.allow(*ADMIN_ROLES)
    page.check_csrf(csrf)
    upstream_routes.requeue(item_id, page.runtime, actor)
    return page.redirect("/link", "requeued")


# --- audit -------------------------------------------------------------------------------------


def _when(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{value!r} is not a date", field=field,
                      fix="use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None


def _audit_filter(action: str | None, target_id: str | None, actor_token_id: str | None,
                  device_id: str | None, since: str | None, until: str | None) -> AuditFilter:
    return AuditFilter(
        action=(action or "").strip() or None, target_id=(target_id or "").strip() or None,
        actor_token_id=(actor_token_id or "").strip() or None,
        device_id=(device_id or "").strip() or None,
        since=_when(since, "since"), until=_when(until, "until"),
    )


@router.get("/audit")
def audit(
    page: PageDep, action: str | None = None, target_id: str | None = None,
    actor_token_id: str | None = None, device_id: str | None = None, since: str | None = None,
    until: str | None = None, offset: int = 0,
) -> Response:
    actor = page.allow(*AUDITOR_ROLES)
    filters = _audit_filter(action, target_id, actor_token_id, device_id, since, until)
    result = audit_routes.get_audit(page.runtime, page.session, actor, filters,
                                    limit=AUDIT_PAGE, offset=max(0, offset), format="json")
    query = {"action": action or "", "target_id": target_id or "",
             "actor_token_id": actor_token_id or "", "device_id": device_id or "",
             "since": since or "", "until": until or ""}
    return page.render("audit.html", result=result, q=query, offset=max(0, offset),
                       page_size=AUDIT_PAGE)


@router.get("/audit.csv")
def audit_csv(
    page: PageDep, action: str | None = None, target_id: str | None = None,
    actor_token_id: str | None = None, device_id: str | None = None, since: str | None = None,
    until: str | None = None,
) -> Response:
    """The API's CSV export (same filters, and the export itself is audited)."""
    actor = page.allow(*AUDITOR_ROLES)
    filters = _audit_filter(action, target_id, actor_token_id, device_id, since, until)
    return audit_routes.get_audit_csv(page.runtime, page.session, actor, filters)


# --- tokens and devices ------------------------------------------------------------------------


@router.get("/tokens")
def tokens(page: PageDep) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    rows = token_routes.list_tokens(page.session, actor)
    return page.render("tokens.html", tokens=rows, languages_set=device_languages(page.session),
                       secret=None, created=None)


@router.post("/tokens")
def token_create(
    page: PageDep, role: Annotated[str, Form()], name: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    page.check_csrf(csrf)
    created = token_routes.create_token(token_routes.TokenCreate(role=role, name=name),
                                        page.session, actor)
    rows = token_routes.list_tokens(page.session, actor)
    # The secret is shown this once, on this answer only (never in a URL, never again).
    return page.render("tokens.html", tokens=rows, languages_set=device_languages(page.session),
                       secret=created["token"], created=created)


@router.post("/tokens/{token_id}/revoke")
def token_revoke(page: PageDep, token_id: str, csrf: Annotated[str, Form()] = "") -> Response:
    actor = page.allow(*ADMIN_ROLES)
    page.check_csrf(csrf)
    token_routes.revoke_token(token_id, page.session, actor)
    return page.redirect("/tokens", "revoked")


@router.post("/tokens/{token_id}/language")
def token_language(
    page: PageDep, token_id: str, language: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    page.check_csrf(csrf)
    if not any(t["id"] == token_id for t in token_routes.list_tokens(page.session, actor)):
        raise NotFound(f"no token with id {token_id!r}", field="token_id")
    set_device_language(page.session, token_id=token_id, language=language or None, actor=actor)
    page.session.commit()
    return page.redirect("/tokens", "language")
