"""Watchlist management routes (NCB admins): search, biometrics list, bulk import jobs, the
changes feed and signed snapshots. Single-subject CRUD lives in ``routes.py``."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session, select

from gateway.audit.service import record
from gateway.boundary import DB_INT_MAX
from gateway.deps import AdminDep, AnalystDep, RuntimeDep, SessionDep
from gateway.errors import Invalid
from gateway.openapi_problems import body_answer, problem_responses
from gateway.privacy.access import ReasonDep, audit_read
from gateway.watchlist import deltas, importer, jobs, search, service, snapshots
from gateway.watchlist.countries import parse_country
from gateway.watchlist.models import BiometricTemplate, SnapshotLoad
from gateway.watchlist.schemas import (
    ChangesApplied,
    JobPublic,
    JobSummary,
    SignedChangesPage,
    SnapshotLoaded,
    SnapshotLoadPublic,
    SubjectPage,
    TemplatePublic,
    WatchlistStatus,
)

router = APIRouter(tags=["watchlist"])
SNAPSHOT_TYPE = "application/vnd.fieldcheck.snapshot"

# No signing key or trusted key, another country, an older or gapped version: 409.
SNAPSHOT_PROBLEMS = problem_responses(409)
SNAPSHOT_FILE = body_answer(SNAPSHOT_TYPE, description="The signed snapshot file (load it with "
                            "POST /v1/watchlist/import or `fieldcheck watchlist load-snapshot`)")


@router.get("/v1/subjects", summary="Search subjects (filters, paging, sorting)",
            response_model=SubjectPage)
def list_subjects(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: AnalystDep,
    reason: ReasonDep,
    q: Annotated[str | None, Query(description="part of a name or alias (accents ignored)")] = None,
    date_of_birth: date | None = None,
    nationality: str | None = None,
    category: str | None = None,
    external_ref: Annotated[
        str | None, Query(description="part of a reference, e.g. a notice number")
    ] = None,
    originating_country: str | None = None,
    status: Annotated[str | None, Query(description="active or expired")] = None,
    sort: Annotated[
        str,
        Query(
            description="name, created_at, updated_at, date_of_birth, "
            "external_ref, category, expires_at; '-' prefix: descending"
        ),
    ] = "name",
    limit: Annotated[int, Query(ge=1, le=search.MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
) -> SubjectPage:
    filters = search.SubjectFilter(
        q=q,
        date_of_birth=date_of_birth,
        nationality=nationality,
        category=category,
        external_ref=external_ref,
        originating_country=originating_country,
        status=status,
    )
    rows, total = search.list_subjects(
        session,
        country=runtime.settings.country,
        filters=filters,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    counts = search.biometric_counts(session, [s.id for s in rows])
    items = [{**service.subject_public(s), "biometric_counts": counts[s.id]} for s in rows]
    audit_read(session, actor=actor, action="subject.list", target_type="subject",
               target_id=None, reason=reason,
               shown={"query": {k: str(v) for k, v in vars(filters).items() if v is not None},
                      "subjects": [s.id for s in rows]})
    return SubjectPage.model_validate({
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "watchlist_version": runtime.cache.version,
    })


@router.get(
    "/v1/subjects/{subject_id}/biometrics",
    summary="A subject's face photos and fingerprints, with quality",
    response_model=list[TemplatePublic],
)
def list_biometrics(
    subject_id: str,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: AnalystDep,
    reason: ReasonDep,
    modality: Annotated[str | None, Query(description="face or finger")] = None,
    position: Annotated[int | None, Query(ge=0, le=10)] = None,
) -> list[dict[str, Any]]:
    service.get_visible_subject(session, subject_id=subject_id, country=runtime.settings.country)
    if modality not in (None, "face", "finger"):
        raise Invalid(f"unknown modality {modality!r}", field="modality", fix="use face or finger")
    query = select(BiometricTemplate).where(BiometricTemplate.subject_id == subject_id)
    if modality:
        query = query.where(BiometricTemplate.modality == modality)
    if position is not None:
        query = query.where(BiometricTemplate.position == position)
    rows = sorted(session.exec(query), key=lambda t: (t.modality, t.position, t.created_at))
    shown = [service.template_public(t) for t in rows]
    audit_read(session, actor=actor, action="subject.biometrics.read", target_type="subject",
               target_id=subject_id, reason=reason, shown={"templates": [t.id for t in rows]})
    return shown


# --- bulk import jobs -------------------------------------------------------------------------


@router.post(
    "/v1/subjects:batch",
    status_code=202,
    tags=["import"],
    summary="Start a bulk import job (JSON with base64 images, or a zip with a manifest)",
    response_model=JobPublic,
    response_model_exclude_unset=True,  # a record's result has only what applies to it
)
async def start_batch(
    request: Request, response: Response, runtime: RuntimeDep, actor: AdminDep,
    allow_empty: bool = Query(False, description="accept records without any biometric "
                              "(deliberate name-only records; they can never match)"),
) -> JobPublic:
    """Body: `application/json` `{"subjects": [{external_ref, name, category, ...,
    "faces": [base64], "fingerprints": [{"position": 2, "image": base64, "ppi": 500}]}]}`, or
    `application/zip` holding `manifest.csv`/`manifest.json` and the image files (the layout of
    `fieldcheck watchlist import`). Answers 202 with the job; poll `GET /v1/jobs/{id}`."""
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("application/zip", "application/x-zip-compressed"):
        source = "zip upload"
    elif content_type == "application/json":
        source = "json upload"
    else:
        raise Invalid(
            f"unsupported content type {content_type!r}",
            field="content-type",
            fix="send application/json or application/zip",
        )

    def read_and_start() -> JobPublic:
        # Parsing (a zip or megabytes of JSON) and the job's rows: one worker call with its
        # own session, never on the event loop.
        if source == "zip upload":
            rows = importer.read_zip(body, allow_empty=allow_empty)
        else:
            try:
                doc = json.loads(body)
            except ValueError as exc:
                raise Invalid(f"the body is not valid JSON: {exc}", field="body") from exc
            rows = importer.read_json_records(doc, allow_empty=allow_empty)
        with Session(runtime.engine, expire_on_commit=False) as session:
            return jobs.job_public(
                jobs.start_job(runtime, session, rows=rows, source=source, actor=actor)
            )

    job = await run_in_threadpool(read_and_start)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.get("/v1/jobs/{job_id}", tags=["import"], summary="An import job's progress and results",
            response_model=JobPublic, response_model_exclude_unset=True)
def get_job(job_id: str, session: SessionDep, actor: AdminDep) -> JobPublic:
    return jobs.job_public(jobs.get_job(session, job_id))


@router.get("/v1/jobs", tags=["import"], summary="Recent import jobs (without per-record results)",
            response_model=list[JobSummary])
def list_jobs(
    session: SessionDep, actor: AdminDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[JobSummary]:
    return [jobs.job_summary(j) for j in jobs.list_jobs(session, limit=limit)]


# --- versions, deltas, snapshots --------------------------------------------------------------


def _target(runtime: RuntimeDep, country: str | None) -> str:
    return parse_country(country, field="country") if country else runtime.settings.country


@router.get("/v1/watchlist", tags=["snapshots"], summary="Version, counts and snapshots loaded",
            response_model=WatchlistStatus)
def watchlist_status(runtime: RuntimeDep, session: SessionDep, actor: AdminDep) -> WatchlistStatus:
    loads = session.exec(select(SnapshotLoad).order_by(SnapshotLoad.id.desc()).limit(20))  # type: ignore[union-attr]
    return WatchlistStatus.model_validate({
        "version": runtime.cache.version,
        "country": runtime.settings.country,
        "source_gateway": deltas.gateway_source_id(session),
        **runtime.cache.counts(),
        "snapshot_signing_key_id": runtime.snapshot_keys.signing_key_id,
        "snapshot_trusted_key_ids": sorted(runtime.snapshot_keys.trusted),
        "loaded": [
            SnapshotLoadPublic(
                snapshot_id=x.snapshot_id,
                source_gateway=x.source_gateway,
                kind=x.kind,
                version=x.version,
                loaded_at=x.loaded_at.isoformat(),
                summary=x.summary,
            )
            for x in loads
        ],
    })


@router.get(
    "/v1/watchlist/changes",
    tags=["snapshots"],
    responses=SNAPSHOT_PROBLEMS,
    summary="Signed page of the changes after version `since`, for a target country",
    response_model=SignedChangesPage,
)
def changes(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: AdminDep,
    since: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
    country: str | None = None,
    limit: Annotated[int, Query(ge=1, le=deltas.MAX_PAGE)] = 1000,
) -> SignedChangesPage:
    """`{"format", "signature", "payload"}`: the page (JSON text in `payload`) signed with
    FIELDCHECK_SNAPSHOT_SIGNING_KEY (Ed25519), plus unsigned paging hints. POST it as-is to
    `/v1/watchlist/changes:apply` on the target gateway. 409 when no signing key is set here."""
    target = _target(runtime, country)
    snapshots.require_signing(runtime.snapshot_keys)
    page = deltas.changes_since(
        session, since=since, target=target, source_country=runtime.settings.country, limit=limit
    )
    signed = snapshots.sign_feed(page, keys=runtime.snapshot_keys)
    record(
        session,
        actor=actor,
        action="watchlist.changes",
        target_type="watchlist",
        after={
            "since": since,
            "to_version": page["to_version"],
            "target_country": target,
            "changes": len(page["changes"]),
        },
    )
    session.commit()
    return SignedChangesPage.model_validate(signed)


@router.post(
    "/v1/watchlist/changes:apply",
    tags=["snapshots"],
    responses=SNAPSHOT_PROBLEMS,
    summary="Apply a signed page of another gateway's changes feed here",
    response_model=ChangesApplied,
)
def apply_changes(
    body: snapshots.SignedFeed, runtime: RuntimeDep, session: SessionDep, actor: AdminDep
) -> ChangesApplied:
    """Body: a `GET /v1/watchlist/changes` answer, unchanged. 409 without
    FIELDCHECK_SNAPSHOT_TRUSTED_KEYS, 422 for a bad or untrusted signature or a malformed page,
    409 for an implausible version jump. Only subjects received
    from the page's `source_gateway` are changed; others are listed under `rejected`."""
    country = runtime.settings.country
    page = deltas.parse_page(snapshots.verify_feed(body, keys=runtime.snapshot_keys))
    if page.target_country != country:
        raise Invalid(
            f"these changes were made for {page.target_country}, this gateway is {country}",
            field="target_country",
            reason="foreign_target",
            fix=f"ask the source for ?country={country}",
        )
    feed_id = f"feed-{page.since}-{page.to_version}"
    summary = deltas.apply_changes(
        session, payload=page, actor=actor, country=country, kind="delta", snapshot_id=feed_id
    )
    record(
        session,
        actor=actor,
        action="watchlist.changes.apply",
        target_type="watchlist",
        after={
            "source_gateway": page.source_gateway,
            "to_version": page.to_version,
            **summary.as_dict(),
        },
    )
    session.commit()
    runtime.cache.sync(session)
    return ChangesApplied(**summary.as_dict(), version=runtime.cache.version)


@router.get(
    "/v1/watchlist/export",
    tags=["snapshots"],
    responses={**SNAPSHOT_PROBLEMS, **SNAPSHOT_FILE},
    response_class=Response,
    summary="Download a signed snapshot (full, or the changes after `since`)",
)
def export(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: AdminDep,
    country: str | None = None,
    since: Annotated[
        int | None, Query(ge=0, le=DB_INT_MAX, description="omit for a full snapshot")
    ] = None,
    ttl_days: Annotated[float, Query(gt=0, le=366)] = snapshots.DEFAULT_TTL_DAYS,
) -> Response:
    target = _target(runtime, country)
    blob, info = snapshots.export_snapshot(
        session,
        actor=actor,
        source_country=runtime.settings.country,
        target=target,
        since=since,
        ttl_days=ttl_days,
        keys=runtime.snapshot_keys,
    )
    name = f"fieldcheck-{target}-v{info['to_version']}-{info['kind']}.fcsnap"
    return Response(
        blob,
        media_type=SNAPSHOT_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Snapshot-Id": info["snapshot_id"],
            "X-Watchlist-Version": str(info["to_version"]),
        },
    )


@router.post(
    "/v1/watchlist/import",
    tags=["snapshots"],
    responses=SNAPSHOT_PROBLEMS,
    summary="Load a signed snapshot (the raw file as the body)",
    response_model=SnapshotLoaded,
)
async def import_snapshot(
    request: Request, runtime: RuntimeDep, actor: AdminDep, prune: bool = False
) -> SnapshotLoaded:
    """Refuses a tampered, foreign, expired or out-of-order snapshot with 4xx. `prune=true`
    with a full snapshot removes the subjects received from its source that it no longer holds
    (never this gateway's own, nor other sources')."""
    blob = await request.body()
    if not blob:
        raise Invalid("the body is empty", field="body", fix="send the snapshot file as the body")

    def load() -> SnapshotLoaded:
        # One worker call, one session of its own: verified, applied and committed off the loop.
        with Session(runtime.engine, expire_on_commit=False) as session:
            result = snapshots.load_snapshot(
                session,
                blob=blob,
                actor=actor,
                country=runtime.settings.country,
                keys=runtime.snapshot_keys,
                prune=prune,
            )
            runtime.cache.sync(session)
        return SnapshotLoaded(**result, version=runtime.cache.version)

    return await run_in_threadpool(load)
