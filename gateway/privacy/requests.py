"""Data subject requests: export everything held about a subject or a check, or erase it.

Erasure removes the personal data and keeps the audit fact: the trail is append-only (database
triggers), and its ``privacy.erase`` entry is what shows the request was met. Callers commit;
a subject's erasure is then picked up by running gateways through the change log.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from gateway.audit.service import AuditFilter, entry_public, iter_entries, record
from gateway.checks.models import Check
from gateway.checks.service import check_view
from gateway.errors import NotFound
from gateway.privacy.crypto import Keyring
from gateway.privacy.service import (
    HELD_TYPE,
    ImageBounds,
    held_as_image,
    open_probe,
    open_reference,
    probes_of,
    references_of,
)
from gateway.upstream.models import OutboxItem
from gateway.watchlist.models import Subject
from gateway.watchlist.service import bump, subject_public, template_public, templates_of


def _subject(session: Session, subject_id: str) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound(f"no subject with id {subject_id!r}", field="subject_id")
    return subject


def _check(session: Session, check_id: str) -> Check:
    check = session.get(Check, check_id)
    if check is None:
        raise NotFound(f"no check with id {check_id!r}", field="check_id")
    return check


def _trail(session: Session, target_id: str) -> list[dict[str, Any]]:
    return [entry_public(e) for e in iter_entries(session, filters=AuditFilter(
        target_id=target_id))]


def export_subject(session: Session, keyring: Keyring, *, subject_id: str) -> dict[str, Any]:
    subject = _subject(session, subject_id)
    images = [
        {"id": r.id, "kind": r.kind, "position": r.position, "content_type": r.content_type,
         "template_id": r.template_id, "data_base64": base64.b64encode(
             open_reference(keyring, r)).decode()}
        for r in references_of(session, subject_id)
    ]
    doc = {"kind": "subject", "subject": subject_public(subject),
           "templates": [template_public(t) for t in templates_of(session, subject_id)],
           "images": images, "audit": _trail(session, subject_id)}
    record(session, actor=None, action="privacy.export", target_type="subject",
           target_id=subject_id, after={"images": len(images)}, detail="data subject request")
    return doc


def export_check(session: Session, keyring: Keyring, *, check_id: str,
                 bounds: ImageBounds | None = None) -> dict[str, Any]:
    check = _check(session, check_id)
    images = []
    for p in probes_of(session, check_id):
        if p.content_type == HELD_TYPE:
            # Held for central: served to no one, except here, to the person checked (their
            # right of access), as the image it stands for; one that does not decode shows
            # nothing.
            enc = held_as_image(keyring, p, bounds or ImageBounds(1024, 160))
            if enc is None:
                continue
            content_type, data = enc.content_type, enc.data
        else:
            content_type, data = p.content_type, open_probe(keyring, p)
        images.append({"id": p.id, "kind": p.kind, "position": p.position,
                       "content_type": content_type,
                       "data_base64": base64.b64encode(data).decode()})
    outbox = [{"id": o.id, "state": o.state, "attempts": o.attempts,
               "biometrics_held": not o.payload.get("scrubbed")}
              for o in session.exec(select(OutboxItem).where(OutboxItem.check_id == check_id))]
    doc = {"kind": "check", "check": check_view(check), "purpose": check.purpose,
           "images": images, "outbox": outbox, "audit": _trail(session, check_id)}
    record(session, actor=None, action="privacy.export", target_type="check",
           target_id=check_id, after={"images": len(images)}, detail="data subject request")
    return doc


def erase_subject(session: Session, *, subject_id: str, reason: str,
                  cache_dir: Path | None) -> dict[str, int]:
    """Remove the subject's record, templates and images; drop the saved cache files."""
    subject = _subject(session, subject_id)
    counts = {"templates": 0, "images": 0}
    for image in references_of(session, subject_id):
        session.delete(image)
        counts["images"] += 1
    session.flush()
    for tpl in templates_of(session, subject_id):
        session.delete(tpl)
        counts["templates"] += 1
    session.flush()
    session.delete(subject)
    bump(session, subject_id, "delete")
    # The audit fact only: ids and counts, no copy of the erased data.
    record(session, actor=None, action="privacy.erase", target_type="subject",
           target_id=subject_id, after=counts, detail=reason)
    if cache_dir is not None and cache_dir.exists():
        # The saved indexes hold the subject's templates: the next start rebuilds them from the
        # database (running gateways drop the subject from memory through the change log).
        shutil.rmtree(cache_dir, ignore_errors=True)
    return counts


def erase_check(session: Session, *, check_id: str, reason: str) -> dict[str, int]:
    """Remove a check's probe images, outbox biometrics and the document data of its answer."""
    check = _check(session, check_id)
    counts = {"images": 0, "outbox_payloads": 0}
    for image in probes_of(session, check_id):
        session.delete(image)
        counts["images"] += 1
    for item in session.exec(select(OutboxItem).where(OutboxItem.check_id == check_id)):
        if item.state == "pending":
            item.state, item.dead_reason = "dead", "erased on request"
        item.payload = {"v": item.payload.get("v"), "request": {"check_id": check_id},
                        "scrubbed": True, "reason": "erased"}
        session.add(item)
        counts["outbox_payloads"] += 1
    response = check.response or {}
    check.response = {
        key: response[key] for key in ("check_id", "decision", "watchlist_version", "adapter",
                                       "purpose", "elapsed_ms") if key in response
    } | {"erased": True, "candidates": [], "quality": {}}
    if check.upstream_result:
        check.upstream_result = {"erased": True}
    if check.review_comment:
        check.review_comment = "[erased]"
    session.add(check)
    record(session, actor=None, action="privacy.erase", target_type="check", target_id=check_id,
           after=counts, detail=reason)
    return counts

