"""What the central-link routes answer, as types (``/v1/upstream/*``, a check's central state)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.checks.answer import CentralResult, UpstreamState
from gateway.checks.models import ReviewStatus
from matchers.calibration import Decision


class Failure(BaseModel):
    at: float = Field(description="UNIX seconds")
    check_id: str
    queue_item: int
    reason: str
    outcome: Literal["retry", "dead"]


class LinkStatus(BaseModel):
    url: str | None
    bundled_stub: bool
    link: Literal["up", "degraded", "down", "starting", "unknown"]
    circuit: Literal["closed", "half_open", "open"]
    circuit_opened: int
    policy: str = Field(description="FIELDCHECK_UPSTREAM_POLICY as set")
    queue_depth: int
    in_flight: int
    oldest_item_age_s: float
    dead_letters: int
    delivered_total: int
    delivery_rate_per_s: float
    drain_limit_per_s: float
    upgraded_total: int
    recent_failures: list[Failure]
    document_list_version: int
    feed_synced_at: float | None
    feed_error: str | None


class DeadLetter(BaseModel):
    id: int
    check_id: str
    state: str = Field(description="dead, or pending once requeued")
    attempts: int
    reason: str | None
    last_error: str | None
    created_at: float
    dead_at: float | None
    expires_at: float
    priority: int


class DeadLetterPage(BaseModel):
    items: list[DeadLetter]
    count: int
    limit: int
    offset: int


class CheckReview(BaseModel):
    status: ReviewStatus | None


class CheckUpstream(BaseModel):
    """A check's central state, as the long-poll and each event give it."""

    check_id: str
    decision: Decision
    local_decision: Decision
    upstream: UpstreamState
    review: CheckReview
    central: CentralResult | None
    changed: bool | None = Field(None, description="long-poll: did the status change")


EVENT_STREAM: dict[int | str, dict[str, Any]] = {200: {
    "description": "Server-sent events: `upstream` (data: a CheckUpstream) at each status "
                   "change until it is final, then the stream ends; `timeout` at the limit",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}}
