"""The changes feed and its application: what changed since version V, for one target country.

The feed is state-based: for every subject touched after ``since`` it carries the subject's
*current* state (an upsert with metadata and templates) or a delete. Replaying pages in order
therefore converges on the source's watchlist even when a subject changed several times, and
re-applying a page is harmless.

Sharing: an upsert is sent only when the target (and this gateway) may see the subject now; a
delete is sent only when the target could have seen it at some point (``SubjectScope``), so a
gateway that was never allowed to see a record never even learns its id.

Trust: pages travel signed (``snapshots.sign_feed``), and applying one only ever touches the
subjects that came from the page's ``source_gateway`` (``replica.require_owner``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import FlushError
from sqlmodel import Session, col, select

from gateway.auth.service import Principal
from gateway.errors import Conflict, DomainError, Invalid
from gateway.watchlist import replica, service
from gateway.watchlist.cache import visible_to
from gateway.watchlist.models import (
    SnapshotLoad,
    Subject,
    SubjectOrigin,
    WatchlistChange,
    WatchlistMeta,
)
from matchers.errors import MatcherError

log = logging.getLogger(__name__)
MAX_PAGE = 5000


def gateway_source_id(session: Session) -> str:
    """This watchlist database's stable id (several gateways sharing one database share it)."""
    row = session.get(WatchlistMeta, "source_id")
    if row is None:
        row = WatchlistMeta(key="source_id", value="wl_" + uuid.uuid4().hex[:16])
        session.add(row)
        session.commit()
    return row.value


def _shareable(subject: Subject, *, target: str, source_country: str) -> bool:
    # A gateway never passes on what it may not see itself.
    return visible_to(subject, target) and visible_to(subject, source_country)


def changes_since(
    session: Session,
    *,
    since: int,
    target: str,
    source_country: str,
    limit: int = 1000,
) -> dict[str, Any]:
    """One page of the feed; follow ``next_since`` while ``has_more``."""
    if since < 0:
        raise Invalid("since cannot be negative", field="since")
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be 1-{MAX_PAGE}", field="limit")
    rows = list(
        session.exec(
            select(WatchlistChange)
            .where(col(WatchlistChange.version) > since)
            .order_by(col(WatchlistChange.version))
            .limit(limit)
        )
    )
    to_version = int(rows[-1].version or since) if rows else since
    # The last change of each subject decides its position: deltas apply in version order.
    last_seen: dict[str, int] = {}
    for row in rows:
        last_seen[row.subject_id] = int(row.version or 0)
    changes: list[dict[str, Any]] = []
    for subject_id, version in sorted(last_seen.items(), key=lambda kv: kv[1]):
        subject = session.get(Subject, subject_id)
        if subject is not None and _shareable(
            subject, target=target, source_country=source_country
        ):
            state = replica.subject_state(subject, service.templates_of(session, subject_id))
            changes.append({"op": "upsert", "version": version, "subject": state})
        elif replica.ever_visible(session, subject_id=subject_id, country=target):
            changes.append({"op": "delete", "version": version, "subject_id": subject_id})
    current = replica.current_version(session)
    return {
        "source_gateway": gateway_source_id(session),
        "source_country": source_country,
        "target_country": target,
        "since": since,
        "to_version": to_version,
        "current_version": current,
        "has_more": to_version < current,
        "next_since": to_version,
        "changes": changes,
    }


def full_state(session: Session, *, target: str, source_country: str) -> dict[str, Any]:
    """Every subject the target may see, as upserts (the body of a full snapshot)."""
    version = replica.current_version(session)
    changes = []
    for subject in session.exec(select(Subject).order_by(col(Subject.id))):
        if _shareable(subject, target=target, source_country=source_country):
            state = replica.subject_state(subject, service.templates_of(session, subject.id))
            changes.append({"op": "upsert", "version": version, "subject": state})
    return {
        "source_gateway": gateway_source_id(session),
        "source_country": source_country,
        "target_country": target,
        "since": 0,
        "to_version": version,
        "current_version": version,
        "has_more": False,
        "next_since": version,
        "changes": changes,
    }


# Versions stay integers JSON carries exactly; one load may advance a source by at most
# MAX_VERSION_JUMP changes (a national list's whole history is far below it).
MAX_VERSION = 2**53 - 1
MAX_VERSION_JUMP = 10_000_000


class Change(BaseModel):
    """One entry of a page: an upsert carries the subject's state, a delete its id."""

    model_config = ConfigDict(extra="ignore")

    op: Literal["upsert", "delete"]
    version: int = Field(0, ge=0, le=MAX_VERSION)
    # The subject's content is validated per record (``replica._clean_state``), so one bad
    # record is rejected alone instead of refusing the whole page.
    subject: dict[str, Any] | None = None
    subject_id: str | None = Field(None, min_length=1, max_length=40)

    @model_validator(mode="after")
    def _has_target(self) -> Change:
        if self.op == "upsert" and self.subject is None:
            raise ValueError("an upsert needs the subject")
        if self.op == "delete" and not self.subject_id:
            raise ValueError("a delete needs the subject_id")
        return self

    @property
    def target_id(self) -> str:
        return self.subject_id or str((self.subject or {}).get("id") or "")


class ChangesPage(BaseModel):
    """A feed page or a snapshot body (a snapshot adds format, ids and dates: ignored here)."""

    model_config = ConfigDict(extra="ignore")

    source_gateway: str = Field(min_length=1, max_length=60)
    source_country: str | None = None
    target_country: str | None = None
    since: int = Field(0, ge=0, le=MAX_VERSION)
    to_version: int = Field(0, ge=0, le=MAX_VERSION)
    has_more: bool = False
    changes: list[Change] = Field(default_factory=list)

    @model_validator(mode="after")
    def _versions_in_range(self) -> ChangesPage:
        if self.to_version < self.since:
            raise ValueError("to_version is before since")
        if any(c.version > self.to_version for c in self.changes):
            raise ValueError("a change is newer than the page's to_version")
        return self


def parse_page(payload: Any) -> ChangesPage:
    """Validate a page; a malformed one is a 422 naming the fields, never a 500."""
    try:
        return ChangesPage.model_validate(payload)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        raise Invalid(
            "the changes are malformed: "
            + "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10]),
            field=errors[0]["field"] if errors else "body",
            errors=errors[:50],
            fix="send a page of GET /v1/watchlist/changes unchanged",
        ) from None


@dataclass
class ApplySummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    restricted: int = 0
    pruned: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "restricted": self.restricted,
            "pruned": self.pruned,
            "rejected": self.rejected,
        }


def check_sequence(
    session: Session, *, source: str, since: int, to_version: int, kind: str
) -> None:
    """Refuse replays of older data, deltas that would leave a gap, and implausible jumps."""
    last = session.exec(
        select(SnapshotLoad)
        .where(SnapshotLoad.source_gateway == source)
        .order_by(col(SnapshotLoad.version).desc())
    ).first()
    have = last.version if last else 0
    if to_version - have > MAX_VERSION_JUMP:
        # Versions count changes one by one; a far-future version (the red team's forged
        # "full" snapshot) would make every genuine later snapshot look "older" here for ever.
        raise Conflict(
            f"this {kind} jumps from version {have} to {to_version} of {source}: more than "
            f"{MAX_VERSION_JUMP:,} changes at once is not plausible",
            field="to_version",
            reason="implausible_version",
            fix="check the source gateway; load its snapshots in smaller steps (--since)",
        )
    if last is not None and to_version < last.version:
        raise Conflict(
            f"this {kind} is at version {to_version} of {source}, older than version "
            f"{last.version} already loaded from it",
            field="body",
            fix="export a newer snapshot from the source gateway",
        )
    if kind == "delta" and since > 0 and (last is None or last.version < since):
        have = last.version if last else 0
        raise Conflict(
            f"this delta starts after version {since} of {source} but only version {have} "
            "was loaded from it: applying it would leave a gap",
            field="body",
            fix=f"export the changes since {have} (or a full snapshot) and load that",
        )


def apply_changes(
    session: Session,
    *,
    payload: dict[str, Any] | ChangesPage,
    actor: Principal | None,
    country: str,
    kind: str,
    snapshot_id: str,
    prune: bool = False,
) -> ApplySummary:
    """Apply a feed page or a snapshot body; commits each subject so one bad record stays alone.

    The payload must already be authenticated (signature checked by the caller). Only subjects
    received from the page's ``source_gateway`` are updated, deleted or pruned.
    """
    page = payload if isinstance(payload, ChangesPage) else parse_page(payload)
    source = page.source_gateway
    if source == gateway_source_id(session):
        raise Conflict(
            "these changes come from this watchlist itself",
            field="source_gateway",
            fix="load them into another gateway",
        )
    since, to_version = page.since, page.to_version
    check_sequence(session, source=source, since=since, to_version=to_version, kind=kind)
    summary = ApplySummary()
    detail = f"{kind} {snapshot_id} from {source} v{to_version}"
    seen: set[str] = set()
    for change in page.changes:
        subject_id = change.target_id
        try:
            if change.op == "upsert":
                assert change.subject is not None  # the model guarantees it
                seen.add(subject_id)
                outcome = replica.apply_upsert(
                    session,
                    state=change.subject,
                    actor=actor,
                    country=country,
                    detail=detail,
                    source=source,
                )
                setattr(summary, outcome, getattr(summary, outcome) + 1)
            elif replica.apply_delete(
                session, subject_id=subject_id, actor=actor, detail=detail, source=source
            ):
                summary.deleted += 1
            session.commit()
        except (IntegrityError, FlushError):
            # A uniqueness clash the checks could not see (a template id used by another
            # subject here, an external_ref taken concurrently): this record only.
            session.rollback()
            reason = replica.explain_conflict(session, change.subject or {})
            log.warning("%s: subject %s rejected: %s", detail, subject_id, reason)
            summary.rejected.append({"subject_id": subject_id, "reason": reason})
        except (DomainError, MatcherError, KeyError, TypeError, ValueError) as exc:
            session.rollback()
            reason = exc.detail if isinstance(exc, DomainError) else f"malformed: {exc!r}"
            summary.rejected.append({"subject_id": subject_id, "reason": reason})
    if prune and kind == "full":
        # A full snapshot is the whole list its source shares with us: what it lacks of *that
        # source's* subjects is gone. Subjects from other sources and our own are not its to drop.
        owned = session.exec(
            select(SubjectOrigin.subject_id).where(SubjectOrigin.source_gateway == source)
        )
        for subject_id in [s for s in owned if s not in seen]:
            try:
                if replica.apply_delete(
                    session,
                    subject_id=subject_id,
                    actor=actor,
                    detail=f"{detail}: not in the full snapshot (prune)",
                    source=source,
                ):
                    summary.pruned += 1
                session.commit()
            except (DomainError, IntegrityError) as exc:
                session.rollback()
                summary.rejected.append({"subject_id": subject_id, "reason": str(exc)[:500]})
    session.add(
        SnapshotLoad(
            snapshot_id=snapshot_id,
            source_gateway=source,
            kind=kind,
            version=to_version,
            summary=summary.as_dict(),
        )
    )
    session.commit()
    log.info("applied %s %s from %s: %s", kind, snapshot_id, source, summary.as_dict())
    return summary
