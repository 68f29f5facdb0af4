"""Bulk import jobs started over the API: one background thread per job, progress in the database.

Jobs run one at a time (a lock) on a single extraction worker so live field checks keep the
other core; progress is written to ``ImportJob`` every second or so, so any process sharing the
database can report it. Each imported record is synced into the cache straight away.

Jobs live in a daemon thread of the process that accepted them, so a restart ends them. Their
rows would then say "running" forever: ``mark_interrupted`` (at startup, and lazily whenever
jobs are read) marks the queued/running jobs of processes that are gone as "interrupted". The
import itself is resumable (records already in are skipped by ``external_ref``), so posting the
same batch again finishes it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from gateway.audit.service import record
from gateway.auth.service import Principal
from gateway.errors import NotFound
from gateway.runtime import Runtime
from gateway.watchlist import importer
from gateway.watchlist.models import ImportJob, ImportJobOwner
from gateway.watchlist.schemas import JobPublic, JobSummary

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 1.0
_run_lock = threading.Lock()  # process-wide on purpose: jobs share the two cores with checks
# Unique per process (the pid alone repeats across containers and restarts).
PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:120]
# On PostgreSQL several gateways share the jobs; a job whose process has not written progress
# for this long is taken as dead. One record's extraction takes seconds, so this is generous.
STALE_AFTER_S = 300.0
ACTIVE = ("queued", "running")
INTERRUPTED_NOTE = (
    "interrupted: the gateway process running this job stopped (restart or crash) while it was "
    "{status}; post the same import again to resume it: records already imported are skipped "
    "(by external_ref), the rest are imported"
)


_threads_lock = threading.Lock()  # guards each runtime's import_threads


class _Stopped(Exception):
    """The gateway is stopping: the job ends between two records."""


def stop_running(runtime: Runtime, *, timeout_s: float = 2.0) -> None:
    """At shutdown: ask this gateway's running jobs to stop (between two records, ending
    "interrupted", resumable) and wait up to ``timeout_s`` for them to write it (a job still
    extracting when the wait ends is marked so by the next start, as after a crash)."""
    runtime.stopping.set()
    deadline = time.monotonic() + timeout_s
    with _threads_lock:
        threads = list(runtime.import_threads)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def job_summary(job: ImportJob) -> JobSummary:
    """A job's progress, without its per-record results (``GET /v1/jobs``)."""
    return JobSummary(**_progress(job))


def job_public(job: ImportJob) -> JobPublic:
    """A job with its results (``GET /v1/jobs/{id}``, the batch's 202)."""
    return JobPublic(
        **_progress(job),
        summary=importer.summarise(job.results) if job.results else None,
        results=job.results,
    )


def _progress(job: ImportJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "source": job.source,
        "total": job.total,
        "processed": job.processed,
        "imported": job.imported,
        "skipped": job.skipped,
        "rejected": job.rejected,
        "progress": round(job.processed / job.total, 3)
        if job.total
        else (1.0 if job.status == "done" else 0.0),
        "created_by": job.created_by,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "error": job.error,
    }


def start_job(
    runtime: Runtime,
    session: Session,
    *,
    rows: list[importer.ManifestRow],
    source: str,
    actor: Principal,
    workers: int = 1,
) -> ImportJob:
    job = ImportJob(
        id="job_" + uuid.uuid4().hex[:16],
        total=len(rows),
        source=source[:200],
        created_by=actor.token_id,
    )
    session.add(job)
    session.add(ImportJobOwner(job_id=job.id, process_id=PROCESS_ID))
    record(
        session,
        actor=actor,
        action="watchlist.batch.start",
        target_type="import_job",
        target_id=job.id,
        after={"records": len(rows), "source": source[:200]},
    )
    session.commit()
    thread = threading.Thread(
        target=_run,
        args=(runtime, job.id, rows, actor, workers),
        name=f"import-{job.id}",
        daemon=True,
    )
    with _threads_lock:
        runtime.import_threads.add(thread)
    if runtime.stopping.is_set():  # the gateway is already stopping: the next start marks it
        return job
    thread.start()
    return job


def _run(
    runtime: Runtime, job_id: str, rows: list[importer.ManifestRow], actor: Principal, workers: int
) -> None:
    with (
        _run_lock,
        Session(runtime.engine, expire_on_commit=False) as work,
        Session(runtime.engine, expire_on_commit=False) as status,
    ):
        job = status.get(ImportJob, job_id)
        assert job is not None
        job.status, job.started_at = "running", datetime.now(UTC)
        status.add(job)
        status.commit()
        results: list[dict[str, Any]] = []
        last_flush = time.monotonic()

        def flush(final: bool = False) -> None:
            job.processed = len(results)
            for key in ("imported", "skipped", "rejected"):
                setattr(job, key, sum(1 for r in results if r["status"] == key))
            job.results = list(results)
            if final:
                job.finished_at = datetime.now(UTC)
            status.add(job)
            _heartbeat(status)
            status.commit()

        stopping = runtime.stopping
        try:
            with closing(importer.run_import(
                work,
                rows,
                actor=actor,
                country=runtime.settings.country,
                workers=workers,
                on_result=lambda _r: runtime.cache.sync(work),
                keep_images=importer.KeepImages.from_settings(runtime.keyring, runtime.settings),
            )) as imported:
                for result in imported:
                    results.append(result)
                    if stopping.is_set():
                        raise _Stopped
                    if time.monotonic() - last_flush >= PROGRESS_EVERY_S:
                        flush()
                        last_flush = time.monotonic()
            job.status = "done"
        except (_Stopped, BrokenProcessPool) as exc:
            if isinstance(exc, BrokenProcessPool) and not stopping.is_set():
                # A worker died on its own (out of memory, a crash on some image): a failure
                # to report, not a stop that posting again would cure.
                log.exception("import job %s failed: an extraction worker died", job_id)
                job.status = "failed"
                job.error = (f"BrokenProcessPool: an extraction worker died ({exc}); see the "
                             "gateway's log for the record it was working on")[:2000]
            else:
                # The gateway is stopping: not a failure of the import; it resumes when posted
                # again (the workers ignore the stop signal; the job ends between records).
                log.warning("import job %s interrupted by the gateway stopping (%s)", job_id,
                            type(exc).__name__)
                job.status, job.error = "interrupted", INTERRUPTED_NOTE.format(status="running")
        except Exception as exc:  # noqa: BLE001 - the job reports what stopped it
            log.exception("import job %s failed", job_id)
            job.status, job.error = "failed", f"{exc.__class__.__name__}: {exc}"[:2000]
        flush(final=True)
        with _threads_lock:
            runtime.import_threads.discard(threading.current_thread())
        summary = importer.summarise(results)
        record(
            status,
            actor=actor,
            action="watchlist.batch.finish",
            target_type="import_job",
            target_id=job_id,
            after={k: summary[k] for k in ("total", "imported", "skipped", "rejected")}
            | {"status": job.status, "refused_images": len(summary["refused_images"])},
        )
        status.commit()


def _heartbeat(session: Session) -> None:
    """This process is alive: refresh its jobs, the running one and those queued behind it."""
    session.execute(
        update(ImportJobOwner)
        .where(col(ImportJobOwner.process_id) == PROCESS_ID)
        .values(heartbeat_at=datetime.now(UTC))
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite returns naive UTC


def mark_interrupted(session: Session, *, stale_after_s: float | None = None) -> int:
    """Mark queued/running jobs of processes that are gone as "interrupted"; returns how many.

    A job of this process is never touched. On SQLite (one gateway per database file) any other
    process's active job is dead; on a shared database, one whose process has been silent for
    ``stale_after_s`` (default ``STALE_AFTER_S``). Jobs without an owner row predate it: dead.
    """
    if stale_after_s is None:
        sqlite = session.get_bind().dialect.name == "sqlite"
        stale_after_s = 0.0 if sqlite else STALE_AFTER_S
    now = datetime.now(UTC)
    cutoff = now - timedelta(seconds=stale_after_s)
    rows = session.exec(
        select(ImportJob, ImportJobOwner)
        .join(ImportJobOwner, col(ImportJobOwner.job_id) == col(ImportJob.id), isouter=True)
        .where(col(ImportJob.status).in_(ACTIVE))
    ).all()
    marked = 0
    for job, owner in rows:
        if owner is not None and (
            owner.process_id == PROCESS_ID or _aware(owner.heartbeat_at) > cutoff
        ):
            continue
        log.warning("import job %s was %s in a process that is gone: interrupted", job.id,
                    job.status)
        job.error = INTERRUPTED_NOTE.format(status=job.status)
        job.status, job.finished_at = "interrupted", now
        session.add(job)
        marked += 1
    if marked:
        session.commit()
    return marked


def get_job(session: Session, job_id: str) -> ImportJob:
    mark_interrupted(session)
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(f"no import job {job_id!r}", field="job_id")
    return job


def list_jobs(session: Session, *, limit: int = 50) -> list[ImportJob]:
    mark_interrupted(session)
    return list(
        session.exec(select(ImportJob).order_by(col(ImportJob.created_at).desc()).limit(limit))
    )
