"""Request and response shapes of the watchlist API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from device_adapters.textpolicy import first_unsafe
from gateway.boundary import UtcDatetime


class _Policed(BaseModel):
    """Every text field passes the boundary text policy (``device_adapters.textpolicy``)."""

    @field_validator("*", mode="after")
    @classmethod
    def _text_policy(cls, value: Any) -> Any:
        found = first_unsafe(value) if isinstance(value, (str, list, dict)) else None
        if found:
            where = "" if found[0] == "body" else f" (item {found[0]})"
            raise ValueError(f"contains {found[1]}{where}: send text without control characters "
                             "or lone surrogates")
        return value


class SubjectCreate(_Policed):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    category: str = Field(description="red, yellow, blue, black, green, orange, purple, "
                          "un_special, national_wanted, deportee")
    external_ref: str | None = Field(None, max_length=100, description="e.g. a notice number")
    aliases: list[str] = Field(default_factory=list)
    date_of_birth: date | None = None
    nationality: str | None = Field(None, description="ISO 3166 alpha-2")
    originating_country: str | None = Field(None, description="ISO 3166 alpha-2; default: ours")
    sharing: list[str] | None = Field(
        None, description="countries allowed to see the record; absent: all"
    )
    handling_instructions: str | None = Field(None, max_length=2000)
    expires_at: UtcDatetime | None = Field(None, description="ISO 8601 with a time zone")
    notes: str | None = Field(None, max_length=4000)


class SubjectUpdate(_Policed):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    category: str | None = None
    external_ref: str | None = Field(None, max_length=100)
    aliases: list[str] | None = None
    date_of_birth: date | None = None
    nationality: str | None = None
    originating_country: str | None = None
    sharing: list[str] | None = None
    handling_instructions: str | None = Field(None, max_length=2000)
    expires_at: UtcDatetime | None = Field(None, description="ISO 8601 with a time zone")
    notes: str | None = Field(None, max_length=4000)


class TemplatePublic(BaseModel):
    id: str
    subject_id: str
    modality: str
    position: int
    quality: dict[str, Any]
    created_at: datetime


class ReferenceImagePublic(BaseModel):
    """A kept reference image of a subject (no bytes): read it at ``url`` (audited)."""

    id: str
    kind: str = Field(description="face, face_thumb, finger...")
    position: int | None
    template_id: str | None = Field(description="the template it was enrolled with")
    content_type: str = Field(description="as stored (prints: image/x-wsq)")
    width: int | None
    height: int | None
    size: int = Field(description="bytes (before sealing)")
    created_at: str | None = Field(description="ISO 8601")
    url: str


class SubjectPublic(BaseModel):
    id: str
    name: str
    category: str
    external_ref: str | None
    aliases: list[str]
    date_of_birth: date | None
    nationality: str | None
    originating_country: str
    sharing: list[str] | None
    handling_instructions: str
    handling_instructions_overridden: bool
    expires_at: datetime | None
    notes: str | None
    created_at: datetime
    updated_at: datetime
    biometrics: list[TemplatePublic] = Field(default_factory=list)
    reference_images: list[ReferenceImagePublic] | None = Field(
        None, description="GET only: the kept reference images, each with its URL")



class BiometricCounts(BaseModel):
    faces: int
    fingerprints: int


class SubjectListed(SubjectPublic):
    """A subject in a search page: the subject and how many biometrics it has enrolled."""

    biometric_counts: BiometricCounts


class SubjectPage(BaseModel):
    """A page of ``GET /v1/subjects``."""

    items: list[SubjectListed]
    total: int = Field(description="subjects matching the filters (all pages)")
    limit: int
    offset: int
    watchlist_version: int


# --- bulk import jobs ---------------------------------------------------------------------------


class JobSummary(BaseModel):
    """An import job's progress (``GET /v1/jobs``: without its per-record results)."""

    id: str
    status: str = Field(description="queued | running | done | failed | interrupted")
    source: str
    total: int
    processed: int
    imported: int
    skipped: int
    rejected: int
    progress: float = Field(description="processed / total, 0 to 1")
    created_by: str | None
    created_at: str | None = Field(description="ISO 8601")
    started_at: str | None = Field(description="ISO 8601")
    finished_at: str | None = Field(description="ISO 8601")
    error: str | None


class RefusedImage(BaseModel):
    """An image of a record that was not enrolled (the record may still be, from others)."""

    model_config = ConfigDict(extra="allow")

    file: str
    reason: str


class ImportRecordResult(BaseModel):
    """What became of one record of an import: only what applies is present."""

    model_config = ConfigDict(extra="allow")  # results are stored: rows of older code too

    # Fields in the order the importer writes them (the stored results are served as written).
    row: int = Field(description="the record's row in the manifest (1: the first record)")
    external_ref: str | None
    refused_images: list[RefusedImage] | None = None
    status: str = Field(description="imported | skipped | rejected")
    reason: str | None = Field(None, description="why skipped or rejected")
    subject_id: str | None = Field(None, description="imported: the new subject")
    faces: int | None = None
    fingerprints: int | None = None
    reference_images: int | None = Field(None, description="images kept (image keys set)")


class RefusedImageOfRecord(BaseModel):
    """A refused image with its record (``importer.summarise`` order)."""

    model_config = ConfigDict(extra="allow")

    row: int
    external_ref: str | None
    file: str
    reason: str


class ImportSummary(BaseModel):
    total: int
    imported: int
    skipped: int
    rejected: int
    rejected_records: list[ImportRecordResult]
    refused_images: list[RefusedImageOfRecord]


class JobPublic(JobSummary):
    """An import job with its results (``GET /v1/jobs/{id}``, ``POST /v1/subjects:batch``)."""

    summary: ImportSummary | None = Field(
        description="counts, rejected records and refused images (null until results exist)"
    )
    results: list[ImportRecordResult] = Field(description="one entry per record, in order")


# --- versions, feeds, snapshots -----------------------------------------------------------------


class SnapshotLoadPublic(BaseModel):
    snapshot_id: str
    source_gateway: str
    kind: str = Field(description="full | delta")
    version: int
    loaded_at: str = Field(description="ISO 8601")
    summary: dict[str, Any] = Field(description="what it changed (created, updated...)")


class WatchlistStatus(BaseModel):
    """``GET /v1/watchlist``: this gateway's version and counts, and the last snapshots loaded."""

    version: int
    country: str
    source_gateway: str = Field(description="this gateway's id in feeds and snapshots")
    subjects: int
    faces: int
    fingerprints: int
    snapshot_signing_key_id: str | None
    snapshot_trusted_key_ids: list[str]
    loaded: list[SnapshotLoadPublic] = Field(description="the last 20, newest first")


class SignedChangesPage(BaseModel):
    """``GET /v1/watchlist/changes``: a signed page; POST it unchanged to ``changes:apply``.

    Only ``payload`` (JSON text) is signed; the other fields are unsigned paging hints."""

    format: str
    signature: str
    payload: str = Field(description="the page as JSON text (the signed bytes)")
    source_gateway: str | None
    target_country: str | None
    since: int | None
    to_version: int | None
    has_more: bool | None
    next_since: int | None


class RejectedChange(BaseModel):
    subject_id: str
    reason: str


class ChangeCounts(BaseModel):
    created: int
    updated: int
    unchanged: int
    deleted: int
    restricted: int
    pruned: int
    rejected: list[RejectedChange] = Field(
        description="records left unchanged, each with the reason (another source's subject...)"
    )


class ChangesApplied(ChangeCounts):
    """``POST /v1/watchlist/changes:apply``: what the page changed, and the version after."""

    version: int = Field(description="this gateway's watchlist version after applying")


class SnapshotLoaded(ChangeCounts):
    """``POST /v1/watchlist/import``: the snapshot loaded, what it changed, the version after."""

    snapshot_id: str
    kind: str = Field(description="full | delta")
    source_gateway: str
    to_version: int
    has_more: bool
    version: int = Field(description="this gateway's watchlist version after loading")
