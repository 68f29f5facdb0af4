"""Checks as stored: who sent them, the answer given, the central link's state, the review."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from gateway.auth.models import utcnow

# How serious a decision is: a merge (central's result, a stolen document) only ever raises it.
DECISION_RANK = {"no_hit": 0, "recapture": 0, "possible": 1, "hit": 2}


class Check(SQLModel, table=True):
    __tablename__ = "check_record"

    id: str = Field(primary_key=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    token_id: str = Field(index=True, max_length=40)
    device_id: str | None = Field(default=None, max_length=100)
    adapter: str = Field(default="multipart", max_length=40)
    purpose: str | None = Field(default=None, max_length=60)
    local_decision: str = Field(max_length=12)  # what the local watchlist said
    decision: str = Field(index=True, max_length=12)  # after merging central's result
    watchlist_version: int = 0
    response: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    upstream_status: str = Field(default="not_forwarded", index=True, max_length=16)
    upstream_result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    review_status: str | None = Field(default=None, index=True, max_length=12)
    review_comment: str | None = Field(default=None, max_length=2000)
    reviewed_by: str | None = Field(default=None, max_length=40)
    reviewed_at: datetime | None = None
