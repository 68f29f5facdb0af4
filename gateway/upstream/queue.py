"""Queue storage: the durable outbox of central queries, with leases, priorities and expiry.

Contract (``QueueStorage``), shared by every backend and checked by one contract test suite:

- ``add`` writes an item inside the caller's transaction (the check's), so a check and its
  query commit or vanish together.
- ``claim`` leases up to ``limit`` claimable items (pending, available, lease free, not
  expired), highest priority first then oldest, and counts the attempt. Two workers never hold
  the same item; an item whose lease ran out (its worker died, even by kill -9) is claimable
  again. A delivery may therefore happen twice; the idempotency key makes central act once.
- ``complete`` / ``retry`` / ``dead_letter`` / ``release`` change an item only while the caller
  still holds its lease (they return False otherwise), and run ``hook(session, item)`` in the
  same transaction, so the check row changes with the item (a crash leaves both or neither).
- ``complete`` drops the templates from the payload (search data is not kept).
- ``expire`` moves pending, unleased items past their TTL to the dead-letter list.

Backends: ``SqlQueueStorage`` (SQLite: every transaction ``BEGIN IMMEDIATE`` so a claim never
reads a stale snapshot; PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``) and
``MemoryQueueStorage`` (tests and the simulator).
"""

from __future__ import annotations

import copy
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, event, func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.db import make_engine
from gateway.errors import Conflict, NotFound
from gateway.upstream.models import OutboxItem


@dataclass
class NewItem:
    check_id: str
    idempotency_key: str
    payload: dict[str, Any]
    ttl_s: float
    priority: int = 0
    kind: str = "search"


@dataclass
class QueueItem:
    id: int
    check_id: str
    kind: str
    idempotency_key: str
    priority: int
    payload: dict[str, Any]
    state: str
    attempts: int
    created_at: float
    available_at: float
    expires_at: float
    locked_by: str | None = None
    locked_until: float = 0.0
    last_error: str | None = None
    dead_reason: str | None = None
    finished_at: float | None = None


@dataclass
class QueueStats:
    depth: int = 0  # pending (waiting or in flight)
    in_flight: int = 0  # pending with a live lease
    dead: int = 0
    done: int = 0
    oldest_age_s: float = 0.0  # age of the oldest pending item


Hook = Callable[[Session | None, QueueItem], None]
# Items expired per transaction: each one also updates its check row (the hook), and on SQLite
# the whole transaction holds the single write turn. The worker's sweep repeats until done.
EXPIRE_BATCH = 50
COLUMNS = [c.name for c in OutboxItem.__table__.columns]  # type: ignore[attr-defined]


class QueueStorage(ABC):
    @abstractmethod
    def add(self, session: Session | None, item: NewItem, *, now: float) -> None:
        """Write ``item`` in the caller's transaction (``session``); the caller commits."""

    @abstractmethod
    def claim(self, *, owner: str, limit: int, lease_s: float, now: float,
              hook: Hook | None = None) -> list[QueueItem]:
        """Lease up to ``limit`` items for ``owner`` until ``now + lease_s``."""

    @abstractmethod
    def complete(self, item: QueueItem, *, owner: str, now: float,
                 hook: Hook | None = None) -> bool:
        """Mark delivered (done)."""

    @abstractmethod
    def retry(self, item: QueueItem, *, owner: str, now: float, delay_s: float, error: str,
              hook: Hook | None = None) -> bool:
        """Free the lease; claimable again after ``delay_s``."""

    @abstractmethod
    def release(self, item: QueueItem, *, owner: str, hook: Hook | None = None) -> bool:
        """Give the lease back untried (shutdown, open circuit): the attempt is not counted."""

    @abstractmethod
    def dead_letter(self, item: QueueItem, *, owner: str | None, now: float, reason: str,
                    hook: Hook | None = None) -> bool:
        """Move to the dead-letter list (``owner`` None: no lease needed)."""

    @abstractmethod
    def expire(self, *, now: float, limit: int = EXPIRE_BATCH,
               hook: Hook | None = None) -> list[QueueItem]:
        """Dead-letter pending unleased items past their TTL; returns them."""

    @abstractmethod
    def requeue(self, item_id: int, *, now: float, ttl_s: float,
                hook: Hook | None = None) -> QueueItem:
        """Put a dead item back (fresh TTL and attempts; same idempotency key)."""

    @abstractmethod
    def reset_backoff(self, *, now: float) -> int:
        """Make every waiting item available now (the link came back)."""

    @abstractmethod
    def get(self, item_id: int) -> QueueItem | None: ...

    @abstractmethod
    def dead_letters(self, *, limit: int = 100, offset: int = 0) -> list[QueueItem]: ...

    @abstractmethod
    def stats(self, *, now: float) -> QueueStats: ...


def scrubbed(item: QueueItem) -> dict[str, Any]:
    """A delivered item's payload without the biometrics: search data is not kept after the
    search (as INTERPOL's Biometric Hub does)."""
    return {"v": item.payload.get("v"), "request": {"check_id": item.check_id}, "scrubbed": True}


def _requeue_guard(item: QueueItem | None, item_id: int) -> QueueItem:
    if item is None:
        raise NotFound(f"no queue item {item_id}", field="id")
    if item.state != "dead":
        raise Conflict(f"queue item {item_id} is {item.state}, not in the dead-letter list",
                       field="id", fix="only dead-lettered items can be re-queued")
    if item.payload.get("scrubbed"):
        raise Conflict(f"queue item {item_id}'s biometrics were deleted after the retention "
                       "period (FIELDCHECK_RETENTION_UNDELIVERED_DAYS)", field="id",
                       fix="the officer must check the person again")
    return item


# --------------------------------------------------------------------------------------------
# In memory


class MemoryQueueStorage(QueueStorage):
    """Same contract, in a dict; hooks get ``session=None``."""

    def __init__(self) -> None:
        self._items: dict[int, QueueItem] = {}
        self._keys: set[str] = set()
        self._next = 1
        self._lock = threading.Lock()

    def add(self, session: Session | None, item: NewItem, *, now: float) -> None:
        with self._lock:
            if item.idempotency_key in self._keys:
                raise Conflict(f"idempotency key {item.idempotency_key!r} already queued")
            self._keys.add(item.idempotency_key)
            self._items[self._next] = QueueItem(
                id=self._next, check_id=item.check_id, kind=item.kind,
                idempotency_key=item.idempotency_key, priority=item.priority,
                payload=copy.deepcopy(item.payload), state="pending", attempts=0,
                created_at=now, available_at=now, expires_at=now + item.ttl_s,
            )
            self._next += 1

    def _held(self, item: QueueItem, owner: str | None) -> QueueItem | None:
        row = self._items.get(item.id)
        if row is None or row.state != "pending":
            return None
        if owner is not None and row.locked_by != owner:
            return None
        return row

    def claim(self, *, owner: str, limit: int, lease_s: float, now: float,
              hook: Hook | None = None) -> list[QueueItem]:
        with self._lock:
            ready = [
                i for i in self._items.values()
                if i.state == "pending" and i.available_at <= now and i.locked_until <= now
                and i.expires_at > now
            ]
            ready.sort(key=lambda i: (-i.priority, i.id))
            out = []
            for row in ready[:limit]:
                row.locked_by, row.locked_until = owner, now + lease_s
                row.attempts += 1
                out.append(copy.deepcopy(row))
            for row in out:
                if hook:
                    hook(None, row)
            return out

    def _finish(self, item: QueueItem, owner: str | None, hook: Hook | None,
                change: Callable[[QueueItem], None]) -> bool:
        with self._lock:
            row = self._held(item, owner)
            if row is None:
                return False
            change(row)
            if hook:
                hook(None, copy.deepcopy(row))
            return True

    def complete(self, item: QueueItem, *, owner: str, now: float,
                 hook: Hook | None = None) -> bool:
        def change(row: QueueItem) -> None:
            row.state, row.finished_at, row.locked_by, row.locked_until = "done", now, None, 0.0
            row.payload = scrubbed(row)
        return self._finish(item, owner, hook, change)

    def retry(self, item: QueueItem, *, owner: str, now: float, delay_s: float, error: str,
              hook: Hook | None = None) -> bool:
        def change(row: QueueItem) -> None:
            row.available_at, row.last_error = now + delay_s, error[:1000]
            row.locked_by, row.locked_until = None, 0.0
        return self._finish(item, owner, hook, change)

    def release(self, item: QueueItem, *, owner: str, hook: Hook | None = None) -> bool:
        def change(row: QueueItem) -> None:
            row.locked_by, row.locked_until = None, 0.0
            row.attempts = max(0, row.attempts - 1)
        return self._finish(item, owner, hook, change)

    def dead_letter(self, item: QueueItem, *, owner: str | None, now: float, reason: str,
                    hook: Hook | None = None) -> bool:
        def change(row: QueueItem) -> None:
            row.state, row.dead_reason, row.finished_at = "dead", reason[:1000], now
            row.locked_by, row.locked_until = None, 0.0
        return self._finish(item, owner, hook, change)

    def expire(self, *, now: float, limit: int = EXPIRE_BATCH,
               hook: Hook | None = None) -> list[QueueItem]:
        with self._lock:
            rows = [i for i in self._items.values() if i.state == "pending"
                    and i.expires_at <= now and i.locked_until <= now][:limit]
            for row in rows:
                row.state, row.finished_at, row.locked_by = "dead", now, None
                row.dead_reason = "expired: not delivered to central within its time-to-live"
                if hook:
                    hook(None, copy.deepcopy(row))
            return [copy.deepcopy(r) for r in rows]

    def requeue(self, item_id: int, *, now: float, ttl_s: float,
                hook: Hook | None = None) -> QueueItem:
        with self._lock:
            row = _requeue_guard(self._items.get(item_id), item_id)
            row.state, row.attempts, row.available_at = "pending", 0, now
            row.expires_at, row.dead_reason, row.finished_at = now + ttl_s, None, None
            row.locked_by, row.locked_until = None, 0.0
            if hook:
                hook(None, copy.deepcopy(row))
            return copy.deepcopy(row)

    def reset_backoff(self, *, now: float) -> int:
        with self._lock:
            rows = [i for i in self._items.values() if i.state == "pending"
                    and i.available_at > now]
            for row in rows:
                row.available_at = now
            return len(rows)

    def get(self, item_id: int) -> QueueItem | None:
        with self._lock:
            row = self._items.get(item_id)
            return copy.deepcopy(row) if row else None

    def dead_letters(self, *, limit: int = 100, offset: int = 0) -> list[QueueItem]:
        with self._lock:
            rows = sorted((i for i in self._items.values() if i.state == "dead"),
                          key=lambda i: -(i.finished_at or 0))
            return [copy.deepcopy(r) for r in rows[offset:offset + limit]]

    def stats(self, *, now: float) -> QueueStats:
        with self._lock:
            pending = [i for i in self._items.values() if i.state == "pending"]
            return QueueStats(
                depth=len(pending), in_flight=sum(1 for i in pending if i.locked_until > now),
                dead=sum(1 for i in self._items.values() if i.state == "dead"),
                done=sum(1 for i in self._items.values() if i.state == "done"),
                oldest_age_s=max((now - i.created_at for i in pending), default=0.0),
            )


# --------------------------------------------------------------------------------------------
# SQL: SQLite and PostgreSQL


def immediate_sqlite_engine(url: str) -> Engine:
    """An engine whose every transaction starts with ``BEGIN IMMEDIATE``.

    In WAL mode a deferred transaction that reads and then writes fails at once with
    SQLITE_BUSY (no busy wait) if another connection wrote in between; taking the write lock
    up front makes claims and acknowledgements wait their turn instead.
    """
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class SqlQueueStorage(QueueStorage):
    """The outbox table in the gateway's database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_engine = engine
        url = engine.url
        if self.dialect == "sqlite" and url.database not in (None, "", ":memory:"):
            self._write_engine = immediate_sqlite_engine(url.render_as_string(hide_password=False))
            translate = engine.get_execution_options().get("schema_translate_map")
            if translate:
                self._write_engine = self._write_engine.execution_options(
                    schema_translate_map=translate)
        self.table = OutboxItem.__table__  # type: ignore[attr-defined]

    def _nothing_to_do(self, query: Select) -> bool:
        """SQLite: a plain read first, so an idle worker's poll never takes the write turn
        (``BEGIN IMMEDIATE`` takes it even when nothing is claimable). PostgreSQL's SKIP LOCKED
        claim is cheap as it is."""
        if self.dialect != "sqlite":
            return False
        with Session(self.engine) as session:
            return session.execute(query.limit(1)).first() is None

    def _lock_ids(self, session: Session, query: Select) -> list[int]:
        """Run an id query inside the claiming transaction. On PostgreSQL the rows are locked
        with SKIP LOCKED, so concurrent workers pass over each other's rows instead of waiting
        (SQLite's BEGIN IMMEDIATE already serialises the claim)."""
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(session.execute(query).scalars())

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with Session(self._write_engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    def _row(self, row: Any) -> QueueItem:
        data = dict(row._mapping)
        return QueueItem(**{k: data[k] for k in COLUMNS})

    def add(self, session: Session | None, item: NewItem, *, now: float) -> None:
        row = OutboxItem(
            check_id=item.check_id, kind=item.kind, idempotency_key=item.idempotency_key,
            priority=item.priority, payload=item.payload, state="pending", attempts=0,
            created_at=now, available_at=now, expires_at=now + item.ttl_s,
        )
        if session is None:
            with self._tx() as own:
                own.add(row)
        else:
            session.add(row)

    def claim(self, *, owner: str, limit: int, lease_s: float, now: float,
              hook: Hook | None = None) -> list[QueueItem]:
        t = self.table
        query = (
            select(t.c.id)
            .where(t.c.state == "pending", t.c.available_at <= now, t.c.locked_until <= now,
                   t.c.expires_at > now)
            .order_by(t.c.priority.desc(), t.c.id)
        )
        if self._nothing_to_do(query):
            return []
        with self._tx() as session:
            ids = self._lock_ids(session, query.limit(limit))
            if not ids:
                return []
            session.execute(
                update(t).where(t.c.id.in_(ids))
                .values(locked_by=owner, locked_until=now + lease_s, attempts=t.c.attempts + 1)
            )
            rows = session.execute(
                select(t).where(t.c.id.in_(ids)).order_by(t.c.priority.desc(), t.c.id)
            ).all()
            items = [self._row(r) for r in rows]
            if hook:
                for item in items:
                    hook(session, item)
            return items

    def _finish(self, item: QueueItem, owner: str | None, values: dict[str, Any],
                hook: Hook | None) -> bool:
        t = self.table
        cond = [t.c.id == item.id, t.c.state == "pending"]
        if owner is not None:
            cond.append(t.c.locked_by == owner)
        with self._tx() as session:
            result = session.execute(update(t).where(*cond).values(**values))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            if hook:
                row = session.execute(select(t).where(t.c.id == item.id)).one()
                hook(session, self._row(row))
            return True

    def complete(self, item: QueueItem, *, owner: str, now: float,
                 hook: Hook | None = None) -> bool:
        return self._finish(item, owner, {"state": "done", "finished_at": now, "locked_by": None,
                                          "locked_until": 0.0, "payload": scrubbed(item)}, hook)

    def retry(self, item: QueueItem, *, owner: str, now: float, delay_s: float, error: str,
              hook: Hook | None = None) -> bool:
        return self._finish(item, owner, {"available_at": now + delay_s, "last_error": error[:1000],
                                          "locked_by": None, "locked_until": 0.0}, hook)

    def release(self, item: QueueItem, *, owner: str, hook: Hook | None = None) -> bool:
        t = self.table
        return self._finish(item, owner, {"locked_by": None, "locked_until": 0.0,
                                          "attempts": func.max(t.c.attempts - 1, 0)
                                          if self.dialect == "sqlite"
                                          else func.greatest(t.c.attempts - 1, 0)}, hook)

    def dead_letter(self, item: QueueItem, *, owner: str | None, now: float, reason: str,
                    hook: Hook | None = None) -> bool:
        return self._finish(item, owner, {"state": "dead", "dead_reason": reason[:1000],
                                          "finished_at": now, "locked_by": None,
                                          "locked_until": 0.0}, hook)

    def expire(self, *, now: float, limit: int = EXPIRE_BATCH,
               hook: Hook | None = None) -> list[QueueItem]:
        t = self.table
        query = (
            select(t.c.id)
            .where(t.c.state == "pending", t.c.expires_at <= now, t.c.locked_until <= now)
            .order_by(t.c.id)
        )
        if self._nothing_to_do(query):
            return []
        with self._tx() as session:
            ids = self._lock_ids(session, query.limit(limit))
            if not ids:
                return []
            session.execute(
                update(t).where(t.c.id.in_(ids)).values(
                    state="dead", finished_at=now, locked_by=None, locked_until=0.0,
                    dead_reason="expired: not delivered to central within its time-to-live",
                )
            )
            items = [self._row(r) for r in session.execute(select(t).where(t.c.id.in_(ids)))]
            if hook:
                for item in items:
                    hook(session, item)
            return items

    def requeue(self, item_id: int, *, now: float, ttl_s: float,
                hook: Hook | None = None) -> QueueItem:
        t = self.table
        with self._tx() as session:
            query = select(t).where(t.c.id == item_id)
            if self.dialect == "postgresql":
                query = query.with_for_update()
            found = session.execute(query).first()
            _requeue_guard(self._row(found) if found else None, item_id)
            session.execute(update(t).where(t.c.id == item_id).values(
                state="pending", attempts=0, available_at=now, expires_at=now + ttl_s,
                dead_reason=None, finished_at=None, locked_by=None, locked_until=0.0,
            ))
            item = self._row(session.execute(select(t).where(t.c.id == item_id)).one())
            if hook:
                hook(session, item)
            return item

    def reset_backoff(self, *, now: float) -> int:
        t = self.table
        with self._tx() as session:
            result = session.execute(
                update(t).where(t.c.state == "pending", t.c.available_at > now)
                .values(available_at=now)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def get(self, item_id: int) -> QueueItem | None:
        with Session(self.engine) as session:
            row = session.execute(select(self.table).where(self.table.c.id == item_id)).first()
            return self._row(row) if row else None

    def dead_letters(self, *, limit: int = 100, offset: int = 0) -> list[QueueItem]:
        t = self.table
        with Session(self.engine) as session:
            rows = session.execute(
                select(t).where(t.c.state == "dead")
                .order_by(t.c.finished_at.desc(), t.c.id.desc()).limit(limit).offset(offset)
            ).all()
            return [self._row(r) for r in rows]

    def stats(self, *, now: float) -> QueueStats:
        t = self.table
        with Session(self.engine) as session:
            counts = dict(session.execute(
                select(t.c.state, func.count()).group_by(t.c.state)
            ).all())
            pending = session.execute(
                select(func.min(t.c.created_at),
                       func.count().filter(t.c.locked_until > now))
                .where(t.c.state == "pending")
            ).one()
        oldest, in_flight = pending
        return QueueStats(
            depth=int(counts.get("pending", 0)), in_flight=int(in_flight or 0),
            dead=int(counts.get("dead", 0)), done=int(counts.get("done", 0)),
            oldest_age_s=max(0.0, now - oldest) if oldest is not None else 0.0,
        )
