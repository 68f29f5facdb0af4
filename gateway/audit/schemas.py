"""Response shapes of the audit API: an entry (``service.entry_public`` renders it) and a page."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class AuditEntryPublic(BaseModel):
    """One audit entry: who (token, name, role, device) did what (action) to which record."""

    id: int | None
    at: str | None = Field(description="ISO 8601 (UTC)")
    actor_token_id: str | None
    actor_name: str | None
    actor_role: str | None
    device_id: str | None
    action: str = Field(description="e.g. subject.create, check.create, evidence.read")
    target_type: str | None
    target_id: str | None
    before: dict[str, Any] | None = Field(description="the record before (changes only)")
    after: dict[str, Any] | None = Field(description="the record after, or what was shown")
    detail: str | None


class AuditPage(BaseModel):
    """A page of ``GET /v1/audit``, newest first."""

    items: list[AuditEntryPublic]
    total: int = Field(description="entries matching the filters (all pages)")
    limit: int
    offset: int
