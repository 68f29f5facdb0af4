"""Response shape of ``GET /v1/checks/{id}/evidence`` (``routes.evidence_view`` renders it).

Image bytes are not in the JSON: each image has a ``url`` of the image routes, which answer the
decrypted bytes with their own content type.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from gateway.checks.answer import CaptureQuality, CentralResult, ScoreEvidence
from gateway.checks.models import ReviewStatus
from matchers.calibration import Decision


class ImageRef(BaseModel):
    """A kept image, to be read at ``url`` (analysts; every read is audited)."""

    id: str
    kind: str = Field(description="face, face_thumb, finger...")
    position: int | None = Field(description="finger position (ISO/IEC 19794-4); null for faces")
    content_type: str = Field(description="as served at `url` (prints: image/png)")
    width: int | None
    height: int | None
    url: str


class EvidenceReview(BaseModel):
    status: ReviewStatus | None = Field(description="null: the check needs no review")
    comment: str | None
    reviewed_by: str | None
    reviewed_at: str | None = Field(description="ISO 8601")


class EvidenceProbe(BaseModel):
    images: list[ImageRef] = Field(description="the probe images kept for the review")
    quality: dict[str, CaptureQuality] = Field(description="per capture key, as in the check "
                                               "answer")


class EvidenceCandidate(BaseModel):
    """A candidate of the check. ``available: false`` (erased, or no longer shared with this
    country) carries only the id: nothing else of the subject is shown."""

    subject_id: str | None
    available: bool
    name: str | None = None
    category: str | None = None
    decision: Decision | None = None
    scores: dict[str, ScoreEvidence] | None = None
    fused_score: float | None = None
    reference_images: list[ImageRef]


class EvidenceRetention(BaseModel):
    probe_images_deleted_after: str | None = Field(
        description="ISO 8601; null: the check needs no review, so none are kept")


class Evidence(BaseModel):
    """A check's probe beside its candidates' reference images, for the reviewer."""

    check_id: str
    created_at: str | None = Field(description="ISO 8601")
    decision: Decision
    purpose: str | None
    device_id: str | None
    review: EvidenceReview
    probe: EvidenceProbe
    candidates: list[EvidenceCandidate]
    central: CentralResult | None
    retention: EvidenceRetention
