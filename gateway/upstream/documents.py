"""The local copy of central's stolen/lost document list and notices, kept from the change feed,
and the instant document check against it (no network: works with the link down)."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from device_adapters.capture import DocumentData
from gateway.upstream.client import CentralClient
from gateway.upstream.models import CachedDocument, CachedNotice, FeedState

log = logging.getLogger(__name__)
FEED = "central"


def normalise_number(value: str | None) -> str:
    """Document numbers as central keys them: upper case, filler '<' and spaces dropped."""
    return "".join(ch for ch in (value or "").upper() if ch.isalnum())


def list_version(session: Session) -> int:
    state = session.get(FeedState, FEED)
    return state.version if state else 0


def check_document_locally(session: Session, document: DocumentData) -> dict[str, Any] | None:
    """The MRZ's document against the cached stolen/lost list; None without a number."""
    number = normalise_number(document.document_number)
    if not number:
        return None
    query = select(CachedDocument).where(CachedDocument.document_number == number)
    state = (document.issuing_state or "").upper().replace("<", "")
    if state:
        query = query.where(CachedDocument.issuing_state == state)
    row = session.exec(query).first()
    status = row.status if row else "clear"
    return {"status": status, "hit": row is not None, "list_version": list_version(session),
            "source": "local", "notices": match_notices(session, document)}


def _name_key(value: str | None) -> str:
    return " ".join("".join(ch if ch.isalpha() else " " for ch in (value or "").upper()).split())


def match_notices(session: Session, document: DocumentData) -> list[dict[str, Any]]:
    """International notices (cached from central's feed) whose surname and birth date match
    the document holder's. A nominal match is not an identification: the gateway treats it as
    a "possible" for an analyst, never as a hit."""
    surname = _name_key(document.surname)
    if not surname or not document.birth_date:
        return []
    rows = session.exec(
        select(CachedNotice).where(CachedNotice.birth_date == document.birth_date)
    )
    return [
        {"notice_id": n.notice_id, "category": n.category, "surname": n.surname,
         "given_names": n.given_names, "birth_date": n.birth_date}
        for n in rows
        if _name_key(n.surname) == surname
    ]


# Changes applied per transaction. A page of the feed holds up to 1,000 (a first sync after
# install several thousand); applied in one go it kept SQLite's single write turn for seconds
# while enrolments, checks and the delivery workers queued behind it.
FEED_APPLY_CHUNK = 200


def sync_feed(engine: Engine, client: CentralClient, *, page: int = 1000,
              max_pages: int = 100, chunk: int = FEED_APPLY_CHUNK) -> int:
    """Read central's change feed from where we stopped; returns the changes applied.

    Each page is applied in small transactions of about ``chunk`` changes, each committing the
    feed version of its last change, so a crash mid-sync resumes after the last whole chunk
    (changes are idempotent and in version order). Within a chunk the rows are looked up first
    and written in one flush at the commit, so the write turn is held for that flush only.
    """
    applied = 0
    for _ in range(max_pages):
        with Session(engine) as session:
            since = list_version(session)
        answer = client.changes(since=since, limit=page)
        changes = answer["changes"]
        for part in _chunks(changes, chunk):
            _apply_chunk(engine, part, version=int(part[-1].get("version", 0)))
        # The page's own version (may be past its last change, or the page may be empty).
        _apply_chunk(engine, [], version=int(answer["version"]))
        applied += len(changes)
        if not answer.get("more") or not changes:
            break
    if applied:
        log.info("central change feed: %d changes applied", applied)
    return applied


def _chunks(changes: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    """Consecutive runs of about ``size`` changes, never splitting one version (resuming
    after a version must not skip the rest of it)."""
    out: list[list[dict[str, Any]]] = []
    for change in changes:
        if out and (len(out[-1]) < size or out[-1][-1].get("version") == change.get("version")):
            out[-1].append(change)
        else:
            out.append([change])
    return out


def _apply_chunk(engine: Engine, changes: list[dict[str, Any]], *, version: int) -> None:
    with Session(engine) as session:
        # No autoflush: every lookup runs before the first write, which waits for the commit.
        with session.no_autoflush:
            rows: dict[tuple[type, Any], Any] = {}  # this chunk's rows by key (None: deleted)
            for change in changes:
                _apply(session, change, rows)
            state = session.get(FeedState, FEED) or FeedState(name=FEED)
        if changes or version > state.version:
            state.version = max(state.version, version)
            state.synced_at = time.time()
            session.add(state)
            session.commit()


def _row(session: Session, rows: dict[tuple[type, Any], Any], model: type, key: Any) -> Any:
    """The chunk's current row for ``key``: one changed earlier in the chunk (not flushed yet,
    so ``session.get`` cannot see it), else the stored one."""
    if (model, key) not in rows:
        rows[(model, key)] = session.get(model, key)
    return rows[(model, key)]


def _drop(session: Session, rows: dict[tuple[type, Any], Any], model: type, key: Any) -> None:
    row = _row(session, rows, model, key)
    if row is not None:
        if row in session.new:
            session.expunge(row)
        else:
            session.delete(row)
    rows[(model, key)] = None


def _apply(session: Session, change: dict[str, Any], rows: dict[tuple[type, Any], Any]) -> None:
    data = change.get("data") or {}
    version = int(change.get("version", 0))
    if change.get("kind") == "document":
        number = normalise_number(data.get("document_number"))
        # Same normal form as the lookup: "D<<" (Germany) is stored and searched as "D".
        state = (data.get("issuing_state") or "").upper().replace("<", "")
        if not number:
            return
        key = (number, state)
        if change.get("op") == "delete":
            _drop(session, rows, CachedDocument, key)
            return
        row = _row(session, rows, CachedDocument, key) or CachedDocument(
            document_number=number, issuing_state=state, status=data.get("status", "stolen"))
        row.status, row.version = data.get("status", "stolen"), version
        session.add(row)
        rows[(CachedDocument, key)] = row
    elif change.get("kind") == "notice":
        notice_id = str(data.get("notice_id") or change.get("key"))
        if change.get("op") == "delete":
            _drop(session, rows, CachedNotice, notice_id)
            return
        notice = _row(session, rows, CachedNotice, notice_id) or CachedNotice(
            notice_id=notice_id)
        notice.surname, notice.given_names = data.get("surname"), data.get("given_names")
        notice.birth_date, notice.category = data.get("birth_date"), data.get("category")
        notice.data, notice.version = data, version
        session.add(notice)
        rows[(CachedNotice, notice_id)] = notice
