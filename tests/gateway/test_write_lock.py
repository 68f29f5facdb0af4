"""SQLite writers take turns in the process (``gateway.db.WriteLock``) instead of spinning on
SQLite's busy timeout, and a write that cannot get its turn is a 503 with Retry-After."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from gateway import db
from gateway.upstream.queue import immediate_sqlite_engine
from tests.conftest import LiveGateway


def _table(url: str) -> None:
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER)"))
    engine.dispose()


def test_writers_queue_for_their_turn_instead_of_failing_on_the_busy_timeout(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    _table(url)
    # SQLite alone would give up after 50 ms: every writer here waits longer than that.
    engines = [db.make_engine(url, busy_timeout_s=0.05), immediate_sqlite_engine(url)]
    errors: list[BaseException] = []

    def write(engine, n: int) -> None:  # type: ignore[no-untyped-def]
        try:
            for i in range(10):
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n * 100 + i})
                    time.sleep(0.02)  # a write transaction that takes a while
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(engines[k % 2], k)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with engines[0].connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM t")).scalar() == 60
    lock = db.engine_write_lock(engines[0])
    assert lock is not None and lock is db.engine_write_lock(engines[1])  # one turn per file
    assert lock.stats()["max_wait_s"] > 0.05  # they did wait, in Python, past SQLite's timeout
    assert not lock._lock.locked()


def test_the_turn_is_given_back_on_rollback_and_when_a_connection_returns_unfinished(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _table(url)
    engine = db.make_engine(url, write_wait_s=0.5)
    lock = db.engine_write_lock(engine)
    assert lock is not None
    with Session(engine) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        assert lock._lock.locked()
        session.rollback()
    assert not lock._lock.locked()
    conn = engine.connect()
    conn.execute(text("INSERT INTO t VALUES (2)"))
    conn.close()  # never committed: the pool rolls back, the turn comes back
    assert not lock._lock.locked()
    with engine.begin() as c:  # and the next writer gets it at once
        c.execute(text("INSERT INTO t VALUES (3)"))


def test_a_second_write_on_the_same_thread_fails_at_once_instead_of_waiting_for_itself(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    _table(url)
    engine = db.make_engine(url)
    started = time.monotonic()
    with Session(engine) as first, Session(engine) as second:
        first.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(RuntimeError, match="nested write transactions"):
            second.execute(text("INSERT INTO t VALUES (2)"))
    assert time.monotonic() - started < 2


def _hold(engine, seconds: float, holding: threading.Event) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        conn.execute(text("UPDATE deployment_setting SET value = value"))
        holding.set()
        time.sleep(seconds)


def _assert_busy_problem(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["type"].endswith("/database-busy") and "again" in body["fix"]


def test_a_write_that_cannot_get_its_turn_is_a_503_with_retry_after(tmp_path: Path) -> None:
    with LiveGateway(tmp_path / "gw", database_write_wait_s=0.5) as gw:
        # Another thread of this process keeps the write turn for 3 s (as a runaway writer).
        holder_engine = db.make_engine(gw.settings.effective_database_url)
        holding = threading.Event()
        holder = threading.Thread(target=_hold, args=(holder_engine, 3.0, holding))
        holder.start()
        assert holding.wait(10)
        with gw.client() as admin:
            started = time.monotonic()
            r = admin.post("/v1/subjects", json={"name": "Busy Day", "category": "red"})
            waited = time.monotonic() - started
        holder.join(10)
        _assert_busy_problem(r)
        assert waited < 2.5  # answered after the write wait, not after the holder finished
        with gw.client() as admin:  # nothing was half-written; the retry goes through
            again = admin.post("/v1/subjects", json={"name": "Busy Day", "category": "red"})
            assert again.status_code == 201, again.text


def test_sqlite_locked_by_another_process_is_a_503_not_a_500(tmp_path: Path) -> None:
    with LiveGateway(tmp_path / "gw", sqlite_busy_timeout_s=0.3) as gw:
        path = gw.settings.effective_database_url.split("///", 1)[1]
        # A raw connection is another process as far as the gateway's turn is concerned.
        other = sqlite3.connect(path, timeout=1, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with gw.client() as admin:
                r = admin.post("/v1/subjects", json={"name": "Locked Out", "category": "red"})
        finally:
            other.execute("ROLLBACK")
            other.close()
        _assert_busy_problem(r)
