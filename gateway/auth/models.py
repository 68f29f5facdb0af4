"""Tokens: bearer secrets stored as SHA-256 hashes, one role each."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Role(StrEnum):
    device = "device"
    ncb_admin = "ncb_admin"
    ncb_analyst = "ncb_analyst"
    auditor = "auditor"


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str | None = Field(default=None, max_length=40)
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
