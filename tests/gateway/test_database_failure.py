"""Red-team finding 7 (issue 14): a database that turns read-only under a running gateway."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import event

from tests.conftest import LiveGateway


def _read_only(connection, _record) -> None:  # type: ignore[no-untyped-def]
    connection.execute("PRAGMA query_only = ON")  # SQLite then refuses every write


def test_read_only_database_is_reported_and_answered_503(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LiveGateway(tmp_path) as gw, gw.client() as admin:
        assert admin.get("/readyz").status_code == 200
        engine = gw.runtime.engine
        event.listen(engine, "connect", _read_only)
        engine.dispose()
        try:
            ready = admin.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["database"] == "failing: read_only"
            caplog.clear()
            with caplog.at_level(logging.INFO):
                for n in range(15):
                    r = admin.post("/v1/subjects", json={"name": f"P {n}", "category": "red"})
                    assert r.status_code == 503, r.text
                    assert r.headers["content-type"].startswith("application/problem+json")
                    assert r.headers["retry-after"]
                    assert r.json()["reason"] == "read_only" and r.json()["fix"]
            reports = [rec for rec in caplog.records if "read only" in rec.getMessage()]
            assert len(reports) == 1, [rec.getMessage() for rec in caplog.records]
            assert not [rec for rec in caplog.records if "unhandled error" in rec.getMessage()]
            # The process itself is alive: only what needs a write is refused.
            assert admin.get("/healthz").status_code == 200
        finally:
            event.remove(engine, "connect", _read_only)
            engine.dispose()
        from gateway import dbhealth

        monkeypatch.setattr(dbhealth, "RECENT_S", 0.0)
        assert admin.get("/readyz").status_code == 200
        assert admin.post("/v1/subjects", json={"name": "Back", "category": "red"}
                          ).status_code == 201


def test_classify() -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from gateway.dbhealth import classify

    def wrap(message: str) -> OperationalError:
        return OperationalError("INSERT", {}, sqlite3.OperationalError(message))

    assert classify(wrap("attempt to write a readonly database")) == "read_only"
    assert classify(wrap("database or disk is full")) == "disk_full"
    assert classify(wrap("disk I/O error")) == "io_error"
    assert classify(wrap("database is locked")) is None  # the concurrency layer's 503
    assert classify(ValueError("readonly database")) is None
