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
    # The extractor that made ``data`` (matchers.face.MODEL_ID, matchers.fingerprint.EXTRACTOR_ID):
    # templates of another model are never compared with this one's (left out of the cache and
    # reported as needing re-enrolment).
    model: str = Field(default="", max_length=60)
    created_at: datetime = Field(default_factory=utcnow)


# The models of templates stored before the ``model`` column existed (gateway.db adds it).
LEGACY_MODELS = {"face": "dlib-resnet-v1", "finger": "nbis-mindtct"}


def current_model(modality: str) -> str:
    """The model this gateway's extractors use for ``modality`` ("face" | "finger")."""
    if modality == "face":
        from matchers.face import MODEL_ID

        return MODEL_ID
    from matchers.fingerprint import EXTRACTOR_ID

    return EXTRACTOR_ID


class WatchlistChange(SQLModel, table=True):
    """One row per change; its autoincrement ``version`` is the watchlist version after it."""

    __tablename__ = "watchlist_change"

    version: int | None = Field(default=None, primary_key=True)
    subject_id: str = Field(index=True, max_length=40)
    op: str = Field(max_length=10)  # "upsert" | "delete"
    at: datetime = Field(default_factory=utcnow)


class SubjectScope(SQLModel, table=True):
    """Who could see a subject, each time its sharing changed.

    Kept after the subject is deleted so the changes feed can tell a gateway that once saw a
    record to drop it, without ever naming a record to a country that was never allowed to see it.
    """

    __tablename__ = "subject_scope"

    id: int | None = Field(default=None, primary_key=True)
    subject_id: str = Field(index=True, max_length=40)
    originating_country: str = Field(max_length=2)
    sharing: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    at: datetime = Field(default_factory=utcnow)


class SubjectOrigin(SQLModel, table=True):
    """The gateway a replicated subject came from (``source_gateway`` of the feed or snapshot).

    No row: the subject was created here. Only the recorded source may update or delete a
    replicated subject, and nothing received may touch a subject created here, so a feed or
    snapshot from one gateway can never rewrite records owned by this gateway or by another.
    """

    __tablename__ = "subject_origin"

    subject_id: str = Field(primary_key=True, max_length=40)
    source_gateway: str = Field(index=True, max_length=60)
    at: datetime = Field(default_factory=utcnow)


class WatchlistMeta(SQLModel, table=True):
    """Small key/value facts about this watchlist database (e.g. its snapshot source id)."""

    __tablename__ = "watchlist_meta"

    key: str = Field(primary_key=True, max_length=60)
    value: str = Field(max_length=200)


class SnapshotLoad(SQLModel, table=True):
    """One snapshot or delta applied here: replay protection and provenance."""

    __tablename__ = "snapshot_load"

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: str = Field(index=True, max_length=60)
    source_gateway: str = Field(index=True, max_length=60)
    kind: str = Field(max_length=10)  # "full" | "delta"
    version: int
    loaded_at: datetime = Field(default_factory=utcnow)
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ImportJob(SQLModel, table=True):
    """A bulk import (API ``POST /v1/subjects:batch``): progress and the per-record results."""

    __tablename__ = "import_job"

    id: str = Field(primary_key=True, max_length=40)
    status: str = Field(default="queued", max_length=12)  # queued|running|done|failed|interrupted
    source: str = Field(default="", max_length=200)
    total: int = 0
    processed: int = 0
    imported: int = 0
    skipped: int = 0
    rejected: int = 0
    created_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = Field(default=None, max_length=2000)
    results: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )


class ImportJobOwner(SQLModel, table=True):
    """The process running an import job, and when it last showed signs of life.

    Jobs run in a thread of the gateway process that accepted them: when that process ends, its
    queued and running jobs stop with it. This row lets any later process tell such jobs apart
    from jobs still alive in another gateway sharing the database (``jobs.mark_interrupted``).
    """

    __tablename__ = "import_job_owner"

    job_id: str = Field(primary_key=True, max_length=40)
    process_id: str = Field(index=True, max_length=120)
    heartbeat_at: datetime = Field(default_factory=utcnow)
