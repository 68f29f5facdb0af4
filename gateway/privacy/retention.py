"""How long probe data lives, and the purge that enforces it.

Rules (days from ``FIELDCHECK_RETENTION_*``; defaults and reasons in docs/PRIVACY.md):
- a no_hit / recapture check keeps no probe image at all (never written);
- the outbox payload's biometrics go when central acknowledges (``upstream.queue.scrubbed``);
  a query central never took (dead letter) keeps them ``retention_undelivered_days``;
- a hit/possible check's sealed probe images stay until its review closes plus
  ``retention_confirmed_days`` / ``retention_rejected_days``; a review never closed ends after
  ``retention_unreviewed_days`` from the check;
- a check queued for central holds its capture until central answers (no hit: deleted with the
  answer, ``upstream.reconcile``; a hit: the review rules above); a query central never took
  holds it as long as its dead letter holds the biometrics (``retention_undelivered_days``).

``purge`` runs nightly in ``serve`` (``PurgeJob``, at ``FIELDCHECK_PURGE_HOUR_UTC``, and once at
start so a gateway that was off catches up) and on demand (``fieldcheck privacy purge``).
On SQLite, deleted content is zeroed in the file (``secure_delete``) and the write-ahead log is
truncated at the end of a purge, so no deleted row's bytes remain on disk.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, false, func, or_, text, true
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from gateway.audit.service import record
from gateway.checks.models import Check
from gateway.privacy.models import ProbeImage
from gateway.settings import Settings
from gateway.upstream.models import OutboxItem

log = logging.getLogger(__name__)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite returns naive UTC


def evidence_deadline(check: Check | None, settings: Settings) -> datetime | None:
    """When a check's probe images are due for deletion (None: not kept at all)."""
    if check is None:
        return None
    return _deadline(check.review_status, check.reviewed_at, check.created_at, settings)


def _deadline(review_status: str | None, reviewed_at: datetime | None,
              created_at: datetime | None, settings: Settings) -> datetime | None:
    if review_status is None or created_at is None:
        return None
    if review_status == "pending":
        return _aware(created_at) + timedelta(days=settings.retention_unreviewed_days)
    days = (settings.retention_confirmed_days if review_status == "confirmed"
            else settings.retention_rejected_days)
    return _aware(reviewed_at or created_at) + timedelta(days=days)


def _still_carries_biometrics() -> ColumnElement[bool]:
    """SQL for an outbox row that still carries its biometrics (see ``awaiting_central``)."""
    scrubbed = func.coalesce(OutboxItem.payload["scrubbed"].as_boolean(), false())
    state = col(OutboxItem.state)
    return or_(state == "pending", and_(state == "dead", scrubbed.is_not(true())))


def awaiting_central(session: Session, check_id: str) -> bool:
    """The check's query still carries its biometrics: waiting for (or retrying) delivery, or a
    dead letter an NCB admin may still re-queue."""
    items = session.exec(select(OutboxItem).where(OutboxItem.check_id == check_id))
    return any(i.state == "pending" or (i.state == "dead" and not i.payload.get("scrubbed"))
               for i in items)


@dataclass
class PurgeReport:
    probe_images_deleted: int = 0
    checks_cleared: int = 0
    outbox_payloads_scrubbed: int = 0
    wal_truncated: bool = False


def purge(engine: Engine, settings: Settings, *, now: datetime | None = None) -> PurgeReport:
    """Delete every probe datum past its time, with one audit entry per transaction: the
    dead letters' scrubs first (committed at once, so the scan below does not hold SQLite's
    write lock), then the probe images due, found by one joined query whatever the number of
    checks held for central (86k queued after a day's outage were a query or two each)."""
    now = now or datetime.now(UTC)
    report = PurgeReport()
    with Session(engine) as session:
        # Dead letters first: a capture held for central goes with its query's biometrics.
        cutoff = (now - timedelta(days=settings.retention_undelivered_days)).timestamp()
        dead = session.exec(select(OutboxItem).where(
            OutboxItem.state == "dead", col(OutboxItem.finished_at) <= cutoff))
        for item in dead:
            if item.payload.get("scrubbed"):
                continue
            item.payload = {"v": item.payload.get("v"), "request": {"check_id": item.check_id},
                            "scrubbed": True, "reason": "retention_undelivered_days"}
            session.add(item)
            report.outbox_payloads_scrubbed += 1
        if report.outbox_payloads_scrubbed:
            record(session, actor=None, action="privacy.purge", target_type="privacy",
                   after={**asdict(report), "checks": []},
                   detail="biometrics of queries central never took deleted")
            session.commit()
    with Session(engine) as session:
        held = select(ProbeImage.check_id).distinct().subquery()
        awaiting = (sa_select(col(OutboxItem.id))
                    .where(col(OutboxItem.check_id) == held.c.check_id,
                           _still_carries_biometrics())
                    .exists().label("awaiting"))
        rows = session.connection().execute(
            sa_select(held.c.check_id, col(Check.id), col(Check.review_status),
                      col(Check.reviewed_at), col(Check.created_at), awaiting)
            .select_from(held).outerjoin(Check, col(Check.id) == held.c.check_id)).all()
        due = []
        for check_id, found, review_status, reviewed_at, created_at, is_awaiting in rows:
            if found is not None and review_status is None and is_awaiting:
                continue  # held for central's answer
            deadline = _deadline(review_status, reviewed_at, created_at, settings)
            if deadline is None or deadline <= now:
                due.append(check_id)
        for start in range(0, len(due), 500):
            deleted = session.connection().execute(delete(ProbeImage).where(
                col(ProbeImage.check_id).in_(due[start:start + 500])))
            report.probe_images_deleted += deleted.rowcount
        report.checks_cleared = len(due)
        if report.probe_images_deleted:
            record(session, actor=None, action="privacy.purge", target_type="privacy",
                   after={**asdict(report), "checks": sorted(due)[:1000]},
                   detail="probe data past its retention period deleted")
        session.commit()
    if engine.dialect.name == "sqlite":
        report.wal_truncated = _truncate_wal(engine)
    log.info("privacy purge: %s", asdict(report))
    return report


def _truncate_wal(engine: Engine) -> bool:
    """Checkpoint and truncate the write-ahead log: it still holds page images written before
    the deletions. Busy readers make it partial; the next purge finishes the job."""
    with engine.connect() as conn:
        busy, _, _ = conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).one()
        conn.commit()
    return busy == 0


class PurgeJob:
    """A thread that purges at start and then every night at the configured hour (UTC)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="privacy-purge", daemon=True)
        self.last: PurgeReport | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def seconds_to_next(self, now: datetime) -> float:
        nxt = now.replace(hour=self.settings.purge_hour_utc, minute=0, second=0, microsecond=0)
        if nxt <= now:
            nxt += timedelta(days=1)
        return (nxt - now).total_seconds()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.last = purge(self.engine, self.settings)
            except Exception:  # keep the job alive; the next night retries
                log.exception("privacy purge failed")
            now = datetime.now(UTC)
            next_at = now + timedelta(seconds=self.seconds_to_next(now))
            # Wall-clock steps of at most an hour: a long suspend or a clock change does not
            # make the job sleep past its night.
            while not self._stop.is_set() and (left := (next_at - datetime.now(UTC))
                                               .total_seconds()) > 0:
                self._stop.wait(min(3600.0, left))
