"""Watchlist pages (NCB admins): search, a subject's record and history, create / edit / delete
with a reason, enrol photos and prints by upload. Each action calls the API's route function."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError

from gateway.audit.service import AuditFilter, entry_public, list_entries
from gateway.auth.service import Principal
from gateway.console.evidence import reference_images
from gateway.console.web import ConsoleRoute, Page, PageDep, as_domain_error
from gateway.deps import ADMIN_ROLES, ANALYST_ROLES
from gateway.errors import DomainError, Invalid
from gateway.i18n import N_
from gateway.watchlist import admin_routes, routes, service
from gateway.watchlist.positions import parse_position
from gateway.watchlist.schemas import SubjectCreate, SubjectUpdate

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 25
FIELDS = ("name", "category", "external_ref", "aliases", "date_of_birth", "nationality",
          "originating_country", "sharing", "handling_instructions", "expires_at", "notes")
FINGER_POSITIONS = range(1, 11)
POSITION_NAMES = {
    0: N_("unknown finger"), 1: N_("right thumb"), 2: N_("right index"), 3: N_("right middle"),
    4: N_("right ring"), 5: N_("right little"), 6: N_("left thumb"), 7: N_("left index"),
    8: N_("left middle"), 9: N_("left ring"), 10: N_("left little"),
}


def _blank(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


@router.get("/subjects")
def search(
    page: PageDep, q: str | None = None, external_ref: str | None = None,
    category: str | None = None, status: str | None = None, nationality: str | None = None,
    number: int = 1,
) -> Response:
    actor = page.allow(*ANALYST_ROLES)  # as GET /v1/subjects: analysts read the watchlist
    filters = {"q": _blank(q), "external_ref": _blank(external_ref), "category": _blank(category),
               "status": _blank(status), "nationality": _blank(nationality)}
    number = max(1, number)
    result = admin_routes.list_subjects(
        page.runtime, page.session, actor, None, q=filters["q"], date_of_birth=None,
        nationality=filters["nationality"], category=filters["category"],
        external_ref=filters["external_ref"], originating_country=None,
        status=filters["status"], sort="name", limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE,
    )
    count = max(1, -(-result.total // PAGE_SIZE))
    query = {k: v for k, v in filters.items() if v}

    def link(n: int) -> str:
        return "?" + urlencode({**query, "number": n})

    pages = {"number": number, "count": count, "prev": link(number - 1) if number > 1 else None,
             "next": link(number + 1) if number < count else None} if count > 1 else None
    return page.render("subjects.html", f=filters, result=result, pages=pages)


def _history(page: Page, subject_id: str) -> list[dict[str, Any]]:
    rows, _total = list_entries(page.session, filters=AuditFilter(target_id=subject_id),
                                limit=100, offset=0)
    return [entry_public(e) for e in rows]


@router.get("/subjects/new")
def new_form(page: PageDep) -> Response:
    page.allow(*ADMIN_ROLES)
    return page.render("subject_form.html", subject=None, values={}, error=None)


def _form_values(form: dict[str, Any]) -> dict[str, Any]:
    """The form's text as the API's JSON body would carry it."""

    def split(text: str | None) -> list[str]:
        return [p.strip() for p in re.split(r"[;,\n]", text or "") if p.strip()]

    values: dict[str, Any] = {}
    for key in FIELDS:
        raw = form.get(key)
        text = raw.strip() if isinstance(raw, str) else ""
        if key == "aliases":
            values[key] = split(text)
        elif key == "sharing":
            values[key] = [c.upper() for c in split(text)] or None
        elif key in ("nationality", "originating_country"):
            values[key] = text.upper() or None
        elif key == "expires_at":
            values[key] = _end_of_day(text)
        elif key == "date_of_birth":
            values[key] = _date(text, key)
        else:
            values[key] = text or None
    return values


def _date(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{text!r} is not a date", field=field, fix="use YYYY-MM-DD") from None


def _end_of_day(text: str) -> datetime | None:
    # An expiry date means "valid through that day" (UTC).
    day = _date(text, "expires_at")
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC) if day else None


async def _form(request: Request) -> dict[str, Any]:
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


@router.post("/subjects/new")
async def create(page: PageDep, request: Request) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    form = await _form(request)
    page.check_csrf(form.get("csrf"))
    # Database work off the event loop (a write may wait for SQLite's write turn): the body
    # is read on the loop, the rest runs in a worker thread.
    return await run_in_threadpool(_create, page, actor, form)


def _create(page: Page, actor: Principal, form: dict[str, Any]) -> Response:
    try:
        body = SubjectCreate(**{k: v for k, v in _form_values(form).items()
                                if v is not None or k in ("aliases",)})
        created = routes.create_subject(body, page.runtime, page.session, actor)
    except (DomainError, ValidationError) as exc:
        page.session.rollback()
        return page.render("subject_form.html", http_status=422, subject=None, values=form,
                           error=as_domain_error(exc))
    return page.redirect(f"/subjects/{created['id']}", "created")


@router.get("/subjects/{subject_id}")
def subject(page: PageDep, subject_id: str) -> Response:
    actor = page.allow(*ANALYST_ROLES)  # as GET /v1/subjects/{id}
    record = routes.get_subject(subject_id, page.runtime, page.session, actor, None)
    return _subject_page(page, record, error=None)


@router.get("/subjects/{subject_id}/edit")
def edit_form(page: PageDep, subject_id: str) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    record = routes.get_subject(subject_id, page.runtime, page.session, actor, None)
    values = {**record, "aliases": "; ".join(record["aliases"]),
              "sharing": ", ".join(record["sharing"] or []),
              "expires_at": (record["expires_at"] or "")[:10],
              "handling_instructions": record["handling_instructions"]
              if record["handling_instructions_overridden"] else ""}
    return page.render("subject_form.html", subject=record, values=values, error=None)


@router.post("/subjects/{subject_id}/edit")
async def update(page: PageDep, request: Request, subject_id: str) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    form = await _form(request)
    page.check_csrf(form.get("csrf"))
    return await run_in_threadpool(_update, page, actor, subject_id, form)


def _update(page: Page, actor: Principal, subject_id: str, form: dict[str, Any]) -> Response:
    try:
        values = _form_values(form)
        # Left empty, these keep their value (the record always has one); other fields clear.
        for key in ("category", "originating_country"):
            if values.get(key) is None:
                values.pop(key)
        body = SubjectUpdate(**values)
        routes.edit_subject(subject_id, body, page.runtime, page.session, actor,
                            reason=form.get("reason"), reason_required=True)
    except (DomainError, ValidationError) as exc:
        page.session.rollback()
        record = routes.get_subject(subject_id, page.runtime, page.session, actor, None)
        return page.render("subject_form.html", http_status=422, subject=record, values=form,
                           error=as_domain_error(exc))
    return page.redirect(f"/subjects/{subject_id}", "saved")


@router.post("/subjects/{subject_id}/delete")
def delete(
    page: PageDep, subject_id: str, reason: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    page.check_csrf(csrf)
    service.stated_reason(reason, required=True, doing="deleting a subject",
                          fix="write why the record is removed")
    routes.delete_subject(subject_id, reason, page.runtime, page.session, actor)
    return page.redirect("/subjects", "deleted")


def _enrol_refused(page: Page, subject_id: str, exc: Exception) -> Response:
    page.session.rollback()
    actor = page.allow(*ADMIN_ROLES)
    record = routes.get_subject(subject_id, page.runtime, page.session, actor, None)
    return _subject_page(page, record, error=as_domain_error(exc), http_status=422)


def _subject_page(page: Page, record: dict[str, Any], *, error: DomainError | None,
                  http_status: int = 200) -> Response:
    faces = [b for b in record["biometrics"] if b["modality"] == "face"]
    fingers = sorted((b for b in record["biometrics"] if b["modality"] == "finger"),
                     key=lambda b: b["position"])
    return page.render(
        "subject.html", http_status=http_status, s=record, faces=faces, fingers=fingers,
        history=_history(page, record["id"]), positions=FINGER_POSITIONS, error=error,
        position_name=lambda n: page.t(POSITION_NAMES.get(n, POSITION_NAMES[0])),
        images=reference_images(page, record["id"]),
    )


@router.post("/subjects/{subject_id}/faces")
async def enrol_face(
    page: PageDep, subject_id: str, image: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    page.check_csrf(csrf)
    try:
        # the API's route is plain def (database and CPU work off the event loop): same here
        await run_in_threadpool(routes.add_face, subject_id, page.runtime, page.session, actor,
                                image=image)
    except Exception as exc:  # noqa: BLE001 - refusals are shown on the page, others re-raised
        if not _refusal(exc):
            raise
        return await run_in_threadpool(_enrol_refused, page, subject_id, exc)
    return page.redirect(f"/subjects/{subject_id}", "enrolled")


@router.post("/subjects/{subject_id}/fingerprints")
async def enrol_finger(
    page: PageDep, subject_id: str, image: Annotated[UploadFile, File()],
    position: Annotated[str, Form()], ppi: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    page.check_csrf(csrf)
    try:
        parse_position(position)
        await run_in_threadpool(routes.add_fingerprint, subject_id, page.runtime, page.session,
                                actor, image=image, position=position, ppi=ppi or None)
    except Exception as exc:  # noqa: BLE001 - refusals are shown on the page, others re-raised
        if not _refusal(exc):
            raise
        return await run_in_threadpool(_enrol_refused, page, subject_id, exc)
    return page.redirect(f"/subjects/{subject_id}", "enrolled")


def _refusal(exc: Exception) -> bool:
    try:
        as_domain_error(exc)
        return True
    except TypeError:
        return False


@router.post("/subjects/{subject_id}/biometrics/{template_id}/delete")
def remove_biometric(
    page: PageDep, subject_id: str, template_id: str, csrf: Annotated[str, Form()] = "",
) -> Response:
    actor = page.allow(*ADMIN_ROLES)
    page.check_csrf(csrf)
    routes.delete_biometric(subject_id, template_id, page.runtime, page.session, actor)
    return page.redirect(f"/subjects/{subject_id}", "removed")
