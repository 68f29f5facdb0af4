"""Import jobs of a gateway process that is gone are reported "interrupted", not "running"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
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


def _processes_of(data_dir: Path) -> list[int]:
    """Pids of live processes started for the gateway on ``data_dir`` (by their environment)."""
    import os

    mine = f"FIELDCHECK_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mine in (entry / "environ").read_bytes().split(b"\0") and \
                    (entry / "stat").read_text().split()[2] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return [p for p in found if p != os.getpid()]


@pytest.mark.slow  # two real serve processes and 10 LEADER extractions: ~80 s
def test_sigterm_during_an_import_ends_the_job_interrupted_and_a_repost_resumes_it(
    tmp_path: Path, shared_data: Path
) -> None:
    """Issue 20: SIGTERM reached the extraction workers too, their pool broke and the job ended
    "failed" (BrokenProcessPool) although nothing was wrong with the import."""
    import base64
    import time

    import httpx

    from tests.gateway.enrol_load import ADMIN, serve_gateway
    from tests.watchlist.helpers import wait_job

    prints = sorted((shared_data / "fingerprints" / "fvc2002_db1_b").glob("*_1.tif"))[:10]
    if len(prints) < 10:
        pytest.skip("fvc2002_db1_b not in shared data")
    body = {"subjects": [{
        "external_ref": f"SIG-{i}", "name": f"Sig {i}", "category": "red",
        "fingerprints": [{"position": 2, "image": base64.b64encode(p.read_bytes()).decode()}],
    } for i, p in enumerate(prints)]}
    data_dir = tmp_path / "gw"
    env = {"FIELDCHECK_UPSTREAM_URL": "http://127.0.0.1:9"}
    auth = {"Authorization": f"Bearer {ADMIN}"}
    gateway = serve_gateway(data_dir, env=env)
    try:
        with httpx.Client(base_url=gateway.url, timeout=60, headers=auth) as admin:
            job_id = admin.post("/v1/subjects:batch", json=body).json()["id"]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                job = admin.get(f"/v1/jobs/{job_id}").json()
                if job["status"] == "running" and job["processed"] >= 1:
                    break
                time.sleep(0.2)
            assert job["status"] == "running" and job["processed"] < len(prints), job
        gateway.stop(timeout_s=60)
    finally:
        gateway.stop()
    # The extraction workers ignore SIGTERM (their parent ends the job): none may outlive it.
    deadline = time.monotonic() + 10
    while (left := _processes_of(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"worker processes outlived the gateway: {left}"
    gateway = serve_gateway(data_dir, env=env)
    try:
        with httpx.Client(base_url=gateway.url, timeout=60, headers=auth) as admin:
            job = admin.get(f"/v1/jobs/{job_id}").json()
            assert job["status"] == "interrupted", job
            assert "post the same import again to resume" in job["error"]
            before = job["imported"]
            job = wait_job(admin, admin.post("/v1/subjects:batch", json=body).json()["id"])
            assert job["status"] == "done", job
            # Progress is written every second, so a record committed just before the stop may
            # be missing from the interrupted job's count; the resume skips what is really in.
            assert job["skipped"] >= before and job["imported"] + job["skipped"] == len(prints)
    finally:
        gateway.stop()


def test_a_worker_that_dies_on_its_own_fails_the_job_it_is_not_a_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review finding: every BrokenProcessPool read as "interrupted, post again to resume",
    although a worker killed by the OOM killer or crashing on an image is a failure."""
    import time
    from concurrent.futures.process import BrokenProcessPool

    from gateway.watchlist import importer

    def dying(*_a: object, **_kw: object):  # type: ignore[no-untyped-def]
        raise BrokenProcessPool("A process in the process pool was terminated abruptly")
        yield  # a generator, like run_import

    monkeypatch.setattr(importer, "run_import", dying)
    with LiveGateway(tmp_path / "gw") as gw, gw.client() as admin:
        job_id = admin.post("/v1/subjects:batch", json={"subjects": [
            {"external_ref": "D-1", "name": "Dies", "category": "red"}]},
            params={"allow_empty": True}).json()["id"]
        deadline = time.monotonic() + 30
        while (job := admin.get(f"/v1/jobs/{job_id}").json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
    assert job["status"] == "failed" and "worker died" in job["error"], job
