"""Reading the audit trail (auditors and NCB admins): filtered pages as JSON, or all as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from gateway.audit.schemas import AuditEntryPublic, AuditPage
from gateway.audit.service import (
    AuditFilter,
    entry_public,
    iter_entries,
    list_entries,
    record,
)
from gateway.boundary import DB_INT_MAX, UtcFilter
from gateway.deps import AuditorDep, RuntimeDep, SessionDep
from gateway.openapi_problems import body_answer

router = APIRouter(tags=["audit"])
CSV_TYPE = "text/csv; charset=utf-8"
CSV_ANSWER = body_answer("text/csv", text=True, description="The entries: CSV is a header row "
                         "(the columns), then one row an entry; JSON (GET /v1/audit without "
                         "format=csv) a page")
CSV_COLUMNS = (
    "id",
    "at",
    "actor_token_id",
    "actor_name",
    "actor_role",
    "device_id",
    "action",
    "target_type",
    "target_id",
    "before",
    "after",
    "detail",
)


def audit_filter(
    action: Annotated[
        str | None, Query(description="exact, or a prefix such as 'subject.'")
    ] = None,
    actor_token_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    device_id: str | None = None,
    since: Annotated[UtcFilter | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[UtcFilter | None, Query(description="ISO 8601, exclusive")] = None,
) -> AuditFilter:
    return AuditFilter(
        action=action,
        actor_token_id=actor_token_id,
        target_type=target_type,
        target_id=target_id,
        device_id=device_id,
        since=since,
        until=until,
    )


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]
# Cell starts a spreadsheet reads as a formula (OWASP "CSV injection"): =, +, -, @, and tab / CR,
# which some spreadsheets strip before looking at the next character.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A cell safe to open in a spreadsheet: formula starts quoted with a leading apostrophe
    (shown, not evaluated), and text that UTF-8 cannot encode replaced rather than fatal."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_STARTS):
        value = "'" + value
    return value.encode("utf-8", errors="replace").decode("utf-8")


def _csv_stream(runtime: RuntimeDep, filters: AuditFilter) -> Iterator[str]:
    # Its own session: the response streams after the request's session is closed.
    with Session(runtime.engine) as session:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for n, entry in enumerate(iter_entries(session, filters=filters), start=1):
            row = entry_public(entry)
            writer.writerow(
                [
                    csv_cell(
                        json.dumps(row[c], sort_keys=True)
                        if c in ("before", "after") and row[c] is not None
                        else ("" if row[c] is None else row[c])
                    )
                    for c in CSV_COLUMNS
                ]
            )
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()


def _csv_response(
    runtime: RuntimeDep, session: SessionDep, actor: AuditorDep, filters: AuditFilter
) -> StreamingResponse:
    # Who exported the trail is itself part of the trail.
    record(
        session,
        actor=actor,
        action="audit.export",
        target_type="audit",
        after={k: str(v) for k, v in vars(filters).items() if v is not None},
    )
    session.commit()
    return StreamingResponse(
        _csv_stream(runtime, filters),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": 'attachment; filename="fieldcheck-audit.csv"'},
    )


@router.get(
    "/v1/audit",
    summary="Audit entries, newest first (?format=csv for all as CSV)",
    response_model=AuditPage,
    responses=CSV_ANSWER,
)
def get_audit(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: AuditorDep,
    filters: FilterDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> AuditPage | StreamingResponse:
    if format == "csv":
        return _csv_response(runtime, session, actor, filters)
    rows, total = list_entries(session, filters=filters, limit=limit, offset=offset)
    # Reading the trail reads personal data too: recorded after the page is taken.
    record(session, actor=actor, action="audit.read", target_type="audit",
           after={**{k: str(v) for k, v in vars(filters).items() if v is not None},
                  "entries": len(rows)})
    session.commit()
    items = [AuditEntryPublic.model_validate(entry_public(e)) for e in rows]
    return AuditPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/v1/audit.csv",
    summary="The audit trail as CSV (same filters), oldest first",
    response_class=StreamingResponse,
    responses=CSV_ANSWER,
)
def get_audit_csv(
    runtime: RuntimeDep, session: SessionDep, actor: AuditorDep, filters: FilterDep
) -> StreamingResponse:
    return _csv_response(runtime, session, actor, filters)
