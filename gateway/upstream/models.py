"""Central-link tables: the outbox (written with the check, in its transaction) and the local
copy of central's stolen/lost document list and international notices (kept from the feed).

Times are UNIX seconds (float) so that lease and expiry comparisons behave the same on SQLite
and PostgreSQL whatever the server's time zone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

OUTBOX_VERSION = 1  # payload["v"]: bump when the payload shape changes; old rows still decode


class OutboxItem(SQLModel, table=True):
    """One query for central. ``state``: pending (waiting or leased) -> done | dead."""

    __tablename__ = "upstream_outbox"
    __table_args__ = (Index("ix_upstream_outbox_claim", "state", "priority", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    check_id: str = Field(index=True, max_length=40)
    kind: str = Field(default="search", max_length=16)
    idempotency_key: str = Field(unique=True, max_length=120)
    priority: int = 0  # higher first: local hits before possibles before the rest
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    state: str = Field(default="pending", max_length=8)
    attempts: int = 0
    created_at: float
    available_at: float  # not before (retry backoff)
    expires_at: float  # after this it goes to the dead-letter list, reason "expired"
    locked_by: str | None = Field(default=None, max_length=80)
    locked_until: float = 0.0  # lease: another worker may take the item after this
    last_error: str | None = Field(default=None, max_length=1000)
    dead_reason: str | None = Field(default=None, max_length=1000)
    finished_at: float | None = None


class CachedDocument(SQLModel, table=True):
    """One stolen or lost travel document from central's list (normalised number)."""

    __tablename__ = "upstream_document"

    document_number: str = Field(primary_key=True, max_length=40)
    issuing_state: str = Field(primary_key=True, max_length=3)
    status: str = Field(max_length=8)  # stolen | lost
    version: int = 0


class CachedNotice(SQLModel, table=True):
    """One international notice's nominal data from central's feed (no templates)."""

    __tablename__ = "upstream_notice"

    notice_id: str = Field(primary_key=True, max_length=60)
    surname: str | None = Field(default=None, index=True, max_length=100)
    given_names: str | None = Field(default=None, max_length=200)
    birth_date: str | None = Field(default=None, max_length=10)
    category: str | None = Field(default=None, max_length=30)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    version: int = 0


class FeedState(SQLModel, table=True):
    """How far the local copy has read central's change feed."""

    __tablename__ = "upstream_feed_state"

    name: str = Field(primary_key=True, max_length=40)
    version: int = 0
    synced_at: float = 0.0
