"""The append-only audit trail: who did what to which record, when, before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from gateway.auth.models import utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_token_id: str | None = Field(default=None, index=True, max_length=40)
    actor_name: str | None = Field(default=None, max_length=200)
    actor_role: str | None = Field(default=None, max_length=20)
    device_id: str | None = Field(default=None, max_length=100)
    action: str = Field(index=True, max_length=60)  # e.g. subject.create, check.create
    target_type: str | None = Field(default=None, max_length=40)
    target_id: str | None = Field(default=None, index=True, max_length=60)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    detail: str | None = Field(default=None, max_length=2000)
