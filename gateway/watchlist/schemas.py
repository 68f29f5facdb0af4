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
    biometrics: list[dict[str, Any]] = Field(default_factory=list)
    reference_images: list[dict[str, Any]] | None = Field(
        None, description="GET only: the kept reference images, each with its URL")


class TemplatePublic(BaseModel):
    id: str
    subject_id: str
    modality: str
    position: int
    quality: dict[str, Any]
    created_at: datetime
