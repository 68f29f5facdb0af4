"""Stress (slow suite, issue #20): two NCB clients enrolling faces, one bulk import job and
devices checking, for a minute, against a real ``fieldcheck serve`` (bundled central stub and
its feed), on SQLite and on PostgreSQL. No 5xx, /healthz always under a second, and SIGTERM
with all of that in flight stops the process within a few seconds. A check refused with 503 +
Retry-After (admission's back-pressure, issue 19: enrolment and the import share the two cores)
is sent again after Retry-After, as a device's outbox does, and is not a server error; every
other 503 (the database busy, the gateway stopping) is.

The /healthz bound is a correctness property here (the gateway must never freeze), not a
speed goal; the distribution is printed with the rest of the load report.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.gateway.enrol_load import Load, serve_gateway, table

SECONDS = 60.0
STOP_WITHIN_S = 8.0  # SIGTERM to exit with requests, an import and deliveries in flight


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


@pytest.mark.slow
def test_enrolling_importing_and_checking_together_never_freezes_the_gateway(
    tmp_path: Path, shared_data: Path, database_url: str | None
) -> None:
    # The production extraction mode (worker processes), not the test suite's threads.
    gateway = serve_gateway(tmp_path / "gw", database_url=database_url,
                            env={"FIELDCHECK_EXTRACT_PROCESSES": "2"})
    try:
        load = Load(gateway.url)
        report = load.run(SECONDS, enrollers=2, devices=2, import_records=40)
        (tmp_path / "report.json").write_text(json.dumps(report, indent=1))
        print("\n" + json.dumps(report, indent=1))
        print(table([("2 enrol + import + 2 devices", report)]))

        # SIGTERM in the middle of the same load: the stop must not wait for it.
        burst = Load(gateway.url)
        runner = threading.Thread(
            target=burst.run, args=(30.0,), kwargs={"enrollers": 2, "devices": 2,
                                                    "import_records": 20}, daemon=True)
        runner.start()
        burst.stop.wait(8.0)
        stop_s = gateway.stop(timeout_s=30.0)
        burst.stop.set()
        runner.join(60)
        print(f"SIGTERM to exit with the load in flight: {stop_s:.1f} s")
    finally:
        gateway.stop()

    print(f"/healthz: {report['healthz']}")
    for kind in ("face_enrol", "subject_create", "check", "healthz"):
        assert report[kind]["server_errors"] == 0, (kind, report[kind]["errors"])
    assert report["face_enrol"]["ok"] >= 10 and report["check"]["ok"] >= 10, report
    # back-pressure, not a gateway that turns devices away: two devices on two cores were
    # refused 0-1 times in a minute (one check in flight; issue 19)
    assert report["check"]["refused_at_capacity"] <= report["check"]["ok"] // 10, report
    assert report["healthz"]["count"] >= 100
    assert report["healthz"]["over_1s"] == 0, report["healthz"]
    [job] = report["imports"]
    assert job["start_status"] == 202 and job.get("status") in ("running", "done"), job
    assert job.get("rejected", 0) <= 2, job  # LFW photos in which no face is found, if any
    assert stop_s < STOP_WITHIN_S, f"SIGTERM took {stop_s:.1f} s"
