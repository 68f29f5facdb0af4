"""Image tables. Every image is sealed (AES-256-GCM, ``gateway.privacy.crypto``): the database
alone holds no readable picture; ``key_id`` names the key that sealed it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from gateway.auth.models import utcnow


class ReferenceImage(SQLModel, table=True):
    """What an NCB enrolled on purpose: the face photo (and its thumbnail) or the print a
    watchlist template was extracted from. Goes with its template (and its subject)."""

    __tablename__ = "reference_image"

    id: str = Field(primary_key=True, max_length=40)
    subject_id: str = Field(foreign_key="subject.id", index=True, max_length=40,
                            ondelete="CASCADE")
    template_id: str | None = Field(default=None, foreign_key="biometric_template.id",
                                    index=True, max_length=40, ondelete="CASCADE")
    kind: str = Field(max_length=16)  # "face" | "face_thumb" | "finger"
    position: int = 0
    content_type: str = Field(max_length=40)  # of the plaintext: image/jpeg, image/x-wsq
    width: int = 0
    height: int = 0
    ppi: int = 0  # fingers: always 500 (resampled before encoding)
    key_id: str = Field(max_length=20)
    blob: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int = 0  # plaintext bytes
    created_at: datetime = Field(default_factory=utcnow)


class ProbeImage(SQLModel, table=True):
    """A probe image of a hit/possible check, kept for its review only (then purged)."""

    __tablename__ = "probe_image"

    id: str = Field(primary_key=True, max_length=40)
    check_id: str = Field(index=True, max_length=40)
    kind: str = Field(max_length=16)  # "face" | "finger"
    position: int = 0
    content_type: str = Field(max_length=40)
    width: int = 0
    height: int = 0
    key_id: str = Field(max_length=20)
    blob: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int = 0
    created_at: datetime = Field(default_factory=utcnow, index=True)
