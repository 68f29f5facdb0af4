"""The SQLite outbox keeps SQLite's single write turn short (issue #20): an idle poll never
takes it, and a mass expiry is done in small transactions."""

from __future__ import annotations

from pathlib import Path

from gateway.db import create_all, engine_write_lock, make_engine
from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.client import FakeCentralClient
from gateway.upstream.queue import EXPIRE_BATCH, NewItem, SqlQueueStorage
from gateway.upstream.settings import UpstreamSettings
from gateway.upstream.worker import DeliveryWorker

T0 = 1_000_000.0


def _storage(tmp_path: Path) -> SqlQueueStorage:
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    create_all(engine)  # the expiry hook marks the check rows too
    return SqlQueueStorage(engine)


def _item(n: int, ttl: float = 3600.0) -> NewItem:
    return NewItem(check_id=f"chk_{n}", idempotency_key=f"chk_{n}:search",
                   payload={"v": 1, "request": {"check_id": f"chk_{n}"}}, ttl_s=ttl)


def test_an_idle_claim_or_sweep_never_takes_the_write_turn(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    storage.add(None, _item(1), now=T0)
    [held] = storage.claim(owner="w", limit=8, lease_s=30, now=T0)
    lock = engine_write_lock(storage.engine)
    assert lock is not None
    before = lock.stats()["acquired"]
    for n in range(20):  # four delivery threads polling an empty queue for a while
        assert storage.claim(owner=f"w{n}", limit=8, lease_s=30, now=T0 + 1) == []
        assert storage.expire(now=T0 + 1) == []
    assert lock.stats()["acquired"] == before
    assert storage.complete(held, owner="w", now=T0 + 2)  # real work still takes it
    assert lock.stats()["acquired"] == before + 1


def test_a_mass_expiry_is_swept_in_small_transactions(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    total = EXPIRE_BATCH * 2 + 7
    for n in range(total):
        storage.add(None, _item(n, ttl=10), now=T0)
    lock = engine_write_lock(storage.engine)
    assert lock is not None
    before = lock.stats()["acquired"]
    worker = DeliveryWorker(storage=storage, client=FakeCentralClient(),
                            breaker=CircuitBreaker(failure_threshold=3, reset_s=1),
                            settings=UpstreamSettings(), clock=lambda: T0 + 60)
    worker._sweep()  # one sweep expires them all...
    stats = storage.stats(now=T0 + 60)
    assert (stats.depth, stats.dead) == (0, total)
    assert lock.stats()["acquired"] - before == 3  # ...in three transactions, not one
