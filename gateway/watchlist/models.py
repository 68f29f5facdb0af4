"""Watchlist tables: subjects, their biometric templates, and the change log that versions them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary
from sqlmodel import Field, SQLModel

from gateway.auth.models import utcnow


class Subject(SQLModel, table=True):
    __tablename__ = "subject"

    id: str = Field(primary_key=True, max_length=40)
    external_ref: str | None = Field(default=None, unique=True, index=True, max_length=100)
    name: str = Field(index=True, max_length=200)
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    date_of_birth: date | None = None
    nationality: str | None = Field(default=None, max_length=2)
    category: str = Field(index=True, max_length=30)
    originating_country: str = Field(max_length=2)
    sharing: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    handling_instructions: str | None = Field(default=None, max_length=2000)
    expires_at: datetime | None = None
    notes: str | None = Field(default=None, max_length=4000)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class BiometricTemplate(SQLModel, table=True):
    __tablename__ = "biometric_template"

    id: str = Field(primary_key=True, max_length=40)
    subject_id: str = Field(foreign_key="subject.id", index=True, max_length=40, ondelete="CASCADE")
    modality: str = Field(max_length=10)  # "face" | "finger"
    position: int = 0  # ANSI/NIST finger position; 0 for faces and unknown fingers
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    quality: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class WatchlistChange(SQLModel, table=True):
    """One row per change; its autoincrement ``version`` is the watchlist version after it."""

    __tablename__ = "watchlist_change"

    version: int | None = Field(default=None, primary_key=True)
    subject_id: str = Field(index=True, max_length=40)
    op: str = Field(max_length=10)  # "upsert" | "delete"
    at: datetime = Field(default_factory=utcnow)
