"""The check answer as a type: what ``POST /v1/checks`` and ``GET /v1/checks/{id}`` return.

The stored ``Check`` row holds the facts: the decisions, the central link's and the review's
state in columns, and in ``Check.response`` (``CheckFacts``) what has no column of its own
(candidates, quality, document, the officer's message). ``render`` is the one function that
turns a row into a ``CheckAnswer``; no decision is stored twice (a merge of central's result
changes ``Check.decision`` only).

Answers omit what a check does not have (no ``document`` without an MRZ, no ``central`` until
central reported something, no ``reference_thumbnail`` when thumbnails are off): the routes
serialise with ``response_model_exclude_unset``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.checks.models import Check, ReviewStatus
from gateway.upstream.status import UpstreamStatus
from matchers.calibration import Decision


class ScoreEvidence(BaseModel):
    score: float = Field(description="the matcher's raw score for this capture")
    evidence: float = Field(description="-log10 FMR of the score (docs/CALIBRATION.md)")


class Thumbnail(BaseModel):
    content_type: str
    width: int | None = None
    height: int | None = None
    data_base64: str


class Candidate(BaseModel):
    """A watchlist subject the check found at hit or possible (others are never shown)."""

    subject_id: str
    name: str
    category: str
    category_name: str | None = Field(None, description="the category in the officer's language")
    decision: Decision
    scores: dict[str, ScoreEvidence] = Field(
        description="per capture key (the same keys as `quality`): the evidence kept in fusion"
    )
    fused_score: float = Field(description="summed evidence")
    expected_fpir: float = Field(description="expected false positive identification rate")
    handling_instructions: str
    reference_thumbnail: Thumbnail | None = None


class CaptureQuality(BaseModel):
    """One capture's quality, keyed in the answer by its capture key (``face``, ``finger_2``,
    ``finger_2_2``...). Face captures add the detector's measurements."""

    model_config = ConfigDict(extra="allow")

    status: Literal["ok", "unusable", "skipped"]
    reason: str | None = Field(None, description="why unusable/skipped: a stable code")
    detail: str | None = None
    nfiq2: int | None = Field(None, description="NFIQ 2 (null: could not be computed)")
    minutiae: int | None = None
    ppi: int | None = None
    source: str | None = Field(None, description="device_template: matched without an image")


class DocumentCheck(BaseModel):
    """The travel document against the stolen/lost list and the notices' nominal data."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="clear | stolen | lost")
    hit: bool
    list_version: int | None = None
    source: str | None = None
    notices: list[dict[str, Any]] = Field(default_factory=list)


class DocumentResult(BaseModel):
    """The MRZ as read (never the raw lines) and its check."""

    model_config = ConfigDict(extra="allow")

    valid: bool
    errors: list[str] = Field(default_factory=list)
    mrz_format: str | None = None
    document_type: str | None = None
    issuing_state: str | None = None
    document_number: str | None = None
    nationality: str | None = None
    surname: str | None = None
    given_names: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    expiry_date: str | None = None
    check: DocumentCheck | None = None


class CentralResult(BaseModel):
    """What central reported when it found something (its subjects, or the document)."""

    decision: Decision
    candidates: list[dict[str, Any]] = Field(default_factory=list)
    document: dict[str, Any] | None = None


class UpstreamState(BaseModel):
    status: UpstreamStatus
    result: dict[str, Any] | None = Field(
        None, description="central's answer (decision, search_id, candidates) or the error"
    )


class ReviewState(BaseModel):
    status: ReviewStatus | None = Field(None, description="null: the check needs no review")
    comment: str | None = None
    reviewed_at: str | None = None
    reviewed_by: str | None = Field(None, description="staff answers only")


class CheckFacts(BaseModel):
    """What ``Check.response`` stores: the facts of the answer that have no column."""

    model_config = ConfigDict(extra="ignore")  # rows of older code also hold column copies

    candidates: list[Candidate] = Field(default_factory=list)
    quality: dict[str, CaptureQuality] = Field(default_factory=dict)
    message: str | None = None
    language: str | None = None
    document: DocumentResult | None = None
    central: CentralResult | None = None
    elapsed_ms: float | None = None
    erased: bool | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class CheckAnswer(BaseModel):
    """A check's answer: the decision, the candidates at hit/possible, each capture's quality,
    the document's result, and the central link's and the review's current state."""

    check_id: str
    decision: Decision = Field(description="after merging central's result (never lowered)")
    local_decision: Decision = Field(description="what this gateway's watchlist said")
    candidates: list[Candidate]
    quality: dict[str, CaptureQuality]
    watchlist_version: int
    message: str | None = Field(None, description="for the officer, in `language`")
    language: str | None = None
    adapter: str
    purpose: str | None
    document: DocumentResult | None = None
    central: CentralResult | None = None
    elapsed_ms: float | None = None
    erased: bool | None = Field(None, description="true: erased on request (privacy)")
    device_id: str | None
    created_at: str | None
    upstream: UpstreamState
    review: ReviewState
    token_id: str | None = Field(None, description="staff answers only")


class AdapterInfo(BaseModel):
    """A device payload format the gateway reads (``POST /v1/adapters/{name}/checks``)."""

    name: str
    content_types: list[str] = Field(description="the request content types it accepts")
    description: str


class ReviewPage(BaseModel):
    """A page of the NCB review list: staff answers (``render(check, staff=True)``)."""

    items: list[CheckAnswer]
    total: int
    limit: int
    offset: int


def facts_of(check: Check) -> CheckFacts:
    return CheckFacts.model_validate(check.response or {})


def render(check: Check, *, staff: bool = False) -> CheckAnswer:
    """The answer for a stored check. ``staff``: the review list adds who reviewed it and the
    token that made it."""
    facts = facts_of(check)
    answer = CheckAnswer(
        check_id=check.id, decision=check.decision, local_decision=check.local_decision,
        candidates=facts.candidates, quality=facts.quality,
        watchlist_version=check.watchlist_version, adapter=check.adapter,
        purpose=check.purpose, device_id=check.device_id,
        created_at=check.created_at.isoformat() if check.created_at else None,
        upstream=UpstreamState(status=check.upstream_status, result=check.upstream_result),
        review=ReviewState(
            status=check.review_status, comment=check.review_comment,
            reviewed_at=check.reviewed_at.isoformat() if check.reviewed_at else None,
            **({"reviewed_by": check.reviewed_by} if staff else {}),
        ),
        **({"token_id": check.token_id} if staff else {}),
        # Only what the check has: no document without an MRZ, no central until it reported.
        **{k: getattr(facts, k) for k in ("message", "language", "document", "central",
                                          "elapsed_ms", "erased") if k in facts.model_fields_set},
    )
    return answer


def answer_dict(check: Check, *, staff: bool = False) -> dict[str, Any]:
    """``render`` as JSON-ready data (the console, the review list, privacy exports)."""
    return render(check, staff=staff).model_dump(mode="json", exclude_unset=True)
