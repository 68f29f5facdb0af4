"""One contract suite for every queue backend: memory, SQLite (file), PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from gateway.db import make_engine
from gateway.errors import Conflict, NotFound
from gateway.upstream.models import OutboxItem
from gateway.upstream.queue import MemoryQueueStorage, NewItem, QueueStorage, SqlQueueStorage

T0 = 1_000_000.0


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueStorage]:
    if request.param == "memory":
        yield MemoryQueueStorage()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'queue.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    OutboxItem.__table__.create(engine)  # type: ignore[attr-defined]
    store = SqlQueueStorage(engine)
    yield store
    store._write_engine.dispose()
    engine.dispose()


def item(n: int, *, priority: int = 0, ttl: float = 3600.0) -> NewItem:
    return NewItem(check_id=f"chk_{n}", idempotency_key=f"chk_{n}:search",
                   payload={"v": 1, "request": {"check_id": f"chk_{n}", "faces": ["AAAA"]}},
                   ttl_s=ttl, priority=priority)


def test_claim_leases_and_counts_the_attempt(storage: QueueStorage) -> None:
    storage.add(None, item(1), now=T0)
    [got] = storage.claim(owner="w1", limit=10, lease_s=30, now=T0)
    assert (got.check_id, got.attempts, got.locked_by) == ("chk_1", 1, "w1")
    assert got.payload["request"]["faces"] == ["AAAA"]
    assert storage.claim(owner="w2", limit=10, lease_s=30, now=T0 + 1) == []
    assert storage.stats(now=T0 + 1).in_flight == 1


def test_priority_then_age(storage: QueueStorage) -> None:
    storage.add(None, item(1, priority=0), now=T0)
    storage.add(None, item(2, priority=20), now=T0 + 1)
    storage.add(None, item(3, priority=10), now=T0 + 2)
    storage.add(None, item(4, priority=20), now=T0 + 3)
    got = storage.claim(owner="w", limit=10, lease_s=30, now=T0 + 5)
    assert [g.check_id for g in got] == ["chk_2", "chk_4", "chk_3", "chk_1"]


def test_expired_lease_is_taken_over_and_old_owner_cannot_ack(storage: QueueStorage) -> None:
    storage.add(None, item(1), now=T0)
    [first] = storage.claim(owner="dead-worker", limit=1, lease_s=10, now=T0)
    [second] = storage.claim(owner="w2", limit=1, lease_s=10, now=T0 + 11)
    assert second.attempts == 2
    assert storage.complete(first, owner="dead-worker", now=T0 + 12) is False
    assert storage.complete(second, owner="w2", now=T0 + 12) is True
    assert storage.stats(now=T0 + 12).depth == 0


def test_complete_is_final_and_drops_templates(storage: QueueStorage) -> None:
    storage.add(None, item(1), now=T0)
    [got] = storage.claim(owner="w", limit=1, lease_s=30, now=T0)
    seen: list[str] = []
    assert storage.complete(got, owner="w", now=T0 + 1, hook=lambda s, i: seen.append(i.state))
    assert seen == ["done"]
    assert storage.claim(owner="w", limit=1, lease_s=30, now=T0 + 100) == []
    done = storage.get(got.id)
    assert done is not None and done.state == "done" and "faces" not in done.payload["request"]
    assert storage.stats(now=T0 + 1).done == 1


def test_retry_waits_for_its_backoff(storage: QueueStorage) -> None:
    storage.add(None, item(1), now=T0)
    [got] = storage.claim(owner="w", limit=1, lease_s=30, now=T0)
    assert storage.retry(got, owner="w", now=T0 + 1, delay_s=60, error="central answered 503")
    assert storage.claim(owner="w", limit=1, lease_s=30, now=T0 + 30) == []
    [again] = storage.claim(owner="w", limit=1, lease_s=30, now=T0 + 62)
    assert again.attempts == 2 and again.last_error == "central answered 503"


def test_release_does_not_count_an_attempt(storage: QueueStorage) -> None:
    storage.add(None, item(1), now=T0)
    [got] = storage.claim(owner="w", limit=1, lease_s=30, now=T0)
    assert storage.release(got, owner="w")
    [again] = storage.claim(owner="w", limit=1, lease_s=30, now=T0 + 1)
    assert again.attempts == 1


def test_dead_letter_and_requeue(storage: QueueStorage) -> None:
    storage.add(None, item(1), now=T0)
    [got] = storage.claim(owner="w", limit=1, lease_s=30, now=T0)
    assert storage.dead_letter(got, owner="w", now=T0 + 1, reason="rejected by central: bad")
    [dead] = storage.dead_letters()
    assert dead.state == "dead" and dead.dead_reason == "rejected by central: bad"
    assert storage.claim(owner="w", limit=1, lease_s=30, now=T0 + 2) == []
    back = storage.requeue(dead.id, now=T0 + 3, ttl_s=100)
    assert back.state == "pending" and back.attempts == 0 and back.expires_at == T0 + 103
    [again] = storage.claim(owner="w", limit=1, lease_s=30, now=T0 + 3)
    assert again.idempotency_key == "chk_1:search"  # same key: central still acts once
    with pytest.raises(Conflict):
        storage.requeue(dead.id, now=T0 + 4, ttl_s=100)
    with pytest.raises(NotFound):
        storage.requeue(999_999, now=T0 + 4, ttl_s=100)


def test_expiry_dead_letters_but_spares_live_leases(storage: QueueStorage) -> None:
    storage.add(None, item(1, ttl=10), now=T0)
    storage.add(None, item(2, ttl=10), now=T0)
    storage.add(None, item(3, ttl=1000), now=T0)
    [leased] = storage.claim(owner="w", limit=1, lease_s=100, now=T0 + 5)
    hooked: list[str] = []
    expired = storage.expire(now=T0 + 20, hook=lambda s, i: hooked.append(i.check_id))
    assert [e.check_id for e in expired] == ["chk_2"] and hooked == ["chk_2"]
    assert expired[0].dead_reason and expired[0].dead_reason.startswith("expired")
    assert leased.check_id == "chk_1"
    assert [e.check_id for e in storage.expire(now=T0 + 200)] == ["chk_1"]
    assert storage.claim(owner="w", limit=10, lease_s=30, now=T0 + 200)[0].check_id == "chk_3"


def test_reset_backoff_and_stats(storage: QueueStorage) -> None:
    storage.add(None, item(1), now=T0)
    storage.add(None, item(2), now=T0 + 10)
    [a, b] = storage.claim(owner="w", limit=2, lease_s=30, now=T0 + 10)
    storage.retry(a, owner="w", now=T0 + 11, delay_s=300, error="down")
    storage.retry(b, owner="w", now=T0 + 11, delay_s=300, error="down")
    stats = storage.stats(now=T0 + 20)
    assert (stats.depth, stats.in_flight, stats.oldest_age_s) == (2, 0, 20.0)
    assert storage.reset_backoff(now=T0 + 20) == 2
    assert len(storage.claim(owner="w", limit=5, lease_s=30, now=T0 + 20)) == 2


def test_concurrent_claims_never_share_an_item(storage: QueueStorage) -> None:
    for n in range(120):
        storage.add(None, item(n), now=T0)
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            got = storage.claim(owner=name, limit=7, lease_s=600, now=T0 + 1)
            if not got:
                return
            with lock:
                claimed.extend(g.check_id for g in got)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(f"chk_{n}" for n in range(120))


def test_add_is_part_of_the_callers_transaction(storage: QueueStorage) -> None:
    if not isinstance(storage, SqlQueueStorage):
        pytest.skip("memory storage has no transactions")
    with Session(storage.engine) as session:
        storage.add(session, item(1), now=T0)
        session.rollback()
    assert storage.stats(now=T0).depth == 0
    with Session(storage.engine) as session:
        storage.add(session, item(2), now=T0)
        session.commit()
    assert storage.stats(now=T0).depth == 1


def test_idempotency_key_is_unique(storage: QueueStorage) -> None:
    storage.add(None, item(1), now=T0)
    with pytest.raises((Conflict, IntegrityError)):
        storage.add(None, item(1), now=T0)
