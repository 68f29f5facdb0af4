"""Import jobs of a gateway process that is gone are reported "interrupted", not "running"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from tests.conftest import LiveGateway


def test_jobs_left_running_by_a_previous_process_are_interrupted(tmp_path: Path) -> None:
    from gateway.watchlist.models import ImportJob

    with LiveGateway(tmp_path / "gw") as gw:
        # What a gateway killed mid-import leaves behind: rows whose thread died with it.
        with Session(gw.runtime.engine) as session:
            session.add(ImportJob(id="job_dead_running", status="running", total=5, processed=2,
                                  started_at=datetime.now(UTC) - timedelta(minutes=3)))
            session.add(ImportJob(id="job_dead_queued", status="queued", total=3))
            session.commit()
        with gw.client() as admin:
            job = admin.get("/v1/jobs/job_dead_running").json()
            assert job["status"] == "interrupted", job
            assert "post the same import again to resume" in job["error"]
            assert job["processed"] == 2 and job["finished_at"]
            listed = {j["id"]: j["status"] for j in admin.get("/v1/jobs").json()}
            assert listed["job_dead_queued"] == "interrupted"


def test_live_jobs_are_left_alone(tmp_path: Path) -> None:
    from gateway.watchlist import jobs
    from gateway.watchlist.models import ImportJob, ImportJobOwner

    with LiveGateway(tmp_path / "gw") as gw, Session(gw.runtime.engine) as session:
        now = datetime.now(UTC)
        for job_id, process, beat in (
            ("job_ours", jobs.PROCESS_ID, now - timedelta(hours=1)),  # this process: alive
            ("job_other_fresh", "other-host:7:abc", now),  # another gateway, just heard from
            ("job_other_silent", "other-host:8:def", now - timedelta(hours=1)),
        ):
            session.add(ImportJob(id=job_id, status="running", total=1))
            session.add(ImportJobOwner(job_id=job_id, process_id=process, heartbeat_at=beat))
        session.commit()
        # As on a database shared by several gateways (PostgreSQL): only the silent one is dead.
        assert jobs.mark_interrupted(session, stale_after_s=jobs.STALE_AFTER_S) == 1
        status = {j: session.get(ImportJob, j).status for j in  # type: ignore[union-attr]
                  ("job_ours", "job_other_fresh", "job_other_silent")}
        assert status == {"job_ours": "running", "job_other_fresh": "running",
                          "job_other_silent": "interrupted"}
        # On SQLite (one gateway per file) another process's active job is dead at once.
        assert jobs.mark_interrupted(session) == 1
        session.expire_all()
        assert session.get(ImportJob, "job_other_fresh").status == "interrupted"  # type: ignore[union-attr]
        assert session.get(ImportJob, "job_ours").status == "running"  # type: ignore[union-attr]
