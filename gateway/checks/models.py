"""Checks as stored: who sent them, the answer given, the central link's state, the review."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import JSON, Column, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from gateway.auth.models import utcnow
from gateway.upstream.status import UpstreamStatus
from matchers.calibration import Decision


class ReviewStatus(StrEnum):
    """An NCB analyst's review of a hit or possible (``None`` on a check that needs none)."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E], Generic[E]):
    """A ``StrEnum`` stored as plain VARCHAR (no database enum type: adding a value needs no
    migration) and read back as the enum member."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        # A plain string passes unchanged: a filter on an unknown value matches nothing.
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class Check(SQLModel, table=True):
    """The facts of one check. The device's answer is rendered from them by
    ``gateway.checks.answer.render`` (``CheckAnswer``); nothing here is the answer itself."""

    __tablename__ = "check_record"

    id: str = Field(primary_key=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    token_id: str = Field(index=True, max_length=40)
    device_id: str | None = Field(default=None, max_length=100)
    adapter: str = Field(default="multipart", max_length=40)
    purpose: str | None = Field(default=None, max_length=60)
    # What the local watchlist said, and the decision after merging central's result.
    local_decision: Decision = Field(sa_type=EnumText(Decision, 12))
    decision: Decision = Field(index=True, sa_type=EnumText(Decision, 12))
    watchlist_version: int = 0
    response: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    upstream_status: UpstreamStatus = Field(
        default=UpstreamStatus.NOT_FORWARDED, index=True, sa_type=EnumText(UpstreamStatus, 16),
    )
    upstream_result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    review_status: ReviewStatus | None = Field(
        default=None, index=True, sa_type=EnumText(ReviewStatus, 12),
    )
    review_comment: str | None = Field(default=None, max_length=2000)
    reviewed_by: str | None = Field(default=None, max_length=40)
    reviewed_at: datetime | None = None
