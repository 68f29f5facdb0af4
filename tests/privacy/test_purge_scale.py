"""The purge's scan is a fixed number of statements whatever the number of captures held for
central (review finding: a ``session.get`` and an outbox query per held check, 86k after a
day's outage, run under SQLite's write lock when a dead letter had been scrubbed first), and it
keeps the rules: held while the query carries biometrics, gone with a scrubbed dead letter."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from gateway import db
from gateway.checks.models import Check, ReviewStatus
from gateway.privacy.models import ProbeImage
from gateway.privacy.retention import purge
from gateway.privacy.service import HELD_TYPE
from gateway.settings import Settings
from gateway.upstream.models import OutboxItem
from matchers.calibration import Decision

NOW = datetime.now(UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    url = (request.getfixturevalue("pg_url") if request.param == "postgresql"
           else f"sqlite:///{tmp_path / 'fieldcheck.db'}")
    engine = db.make_engine(url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


def _check(session: Session, check_id: str, *, review: ReviewStatus | None = None,
           created: datetime = NOW, image: bool = True) -> None:
    decision = Decision.NO_HIT if review is None else Decision.POSSIBLE
    session.add(Check(id=check_id, token_id="tok_test", local_decision=decision,
                      decision=decision, review_status=review, created_at=created))
    if image:
        session.add(ProbeImage(id=f"prb_{check_id}", check_id=check_id, kind="face",
                               content_type=HELD_TYPE, key_id="k1", blob=b"sealed", size=6))


def _outbox(session: Session, check_id: str, *, state: str, finished: datetime | None = None,
            scrubbed: bool = False) -> None:
    payload: dict = {"v": 1, "request": {"check_id": check_id}}
    payload.update({"scrubbed": True} if scrubbed else {"request": {"faces": ["AAAA"]}})
    session.add(OutboxItem(check_id=check_id, idempotency_key=f"{check_id}:q", payload=payload,
                           state=state, created_at=time.time(), available_at=0, expires_at=0,
                           finished_at=finished.timestamp() if finished else None))


def _fill(engine: Engine, held: int, settings: Settings) -> None:
    old = NOW - timedelta(days=settings.retention_undelivered_days + 1)
    with Session(engine) as session:
        for i in range(held):  # queued for central during an outage
            _check(session, f"chk_held_{i}")
            _outbox(session, f"chk_held_{i}", state="pending")
        _check(session, "chk_dead_recent")  # central never took it, recently: still held
        _outbox(session, "chk_dead_recent", state="dead", finished=NOW)
        _check(session, "chk_dead_old")  # its biometrics are scrubbed by this purge: goes
        _outbox(session, "chk_dead_old", state="dead", finished=old)
        _check(session, "chk_dead_scrubbed")  # scrubbed by an earlier purge: goes
        _outbox(session, "chk_dead_scrubbed", state="dead", finished=old, scrubbed=True)
        _check(session, "chk_unreviewed", review=ReviewStatus.PENDING,
               created=NOW - timedelta(days=settings.retention_unreviewed_days + 1))
        _check(session, "chk_review_open", review=ReviewStatus.PENDING)  # kept for review
        session.add(ProbeImage(id="prb_orphan", check_id="chk_gone", kind="face",
                               content_type=HELD_TYPE, key_id="k1", blob=b"x", size=1))
        session.commit()


@pytest.mark.parametrize("held", [3, 60])
def test_the_purge_scan_does_not_grow_with_the_held_captures(
    engine: Engine, tmp_path: Path, held: int
) -> None:
    settings = Settings(data_dir=tmp_path)
    _fill(engine, held, settings)
    statements: list[str] = []

    def _count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", _count)
    try:
        report = purge(engine, settings, now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", _count)
    with Session(engine) as session:
        left = set(session.exec(select(ProbeImage.check_id)))
        scrubbed = session.exec(select(OutboxItem).where(
            OutboxItem.check_id == "chk_dead_old")).one()
    assert left == {f"chk_held_{i}" for i in range(held)} | {"chk_dead_recent",
                                                             "chk_review_open"}
    assert scrubbed.payload["scrubbed"] and "faces" not in scrubbed.payload["request"]
    assert (report.outbox_payloads_scrubbed, report.checks_cleared,
            report.probe_images_deleted) == (1, 4, 4)
    # Fixed whatever ``held`` is (6-7 now); before, 3 held checks took 27-28 and 60 took 141-142.
    assert len(statements) <= 20, len(statements)
