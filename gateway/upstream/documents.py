"""The local copy of central's stolen/lost document list and notices, kept from the change feed,
and the instant document check against it (no network: works with the link down)."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import delete
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


def sync_feed(engine: Engine, client: CentralClient, *, page: int = 1000,
              max_pages: int = 100) -> int:
    """Read central's change feed from where we stopped; returns the changes applied.

    Each page is applied with the new feed version in one transaction, so a crash mid-sync
    resumes at the last whole page.
    """
    applied = 0
    for _ in range(max_pages):
        with Session(engine) as session:
            since = list_version(session)
        answer = client.changes(since=since, limit=page)
        changes = answer["changes"]
        with Session(engine) as session:
            for change in changes:
                _apply(session, change)
            state = session.get(FeedState, FEED) or FeedState(name=FEED)
            state.version = max(state.version, int(answer["version"]))
            state.synced_at = time.time()
            session.add(state)
            session.commit()
        applied += len(changes)
        if not answer.get("more") or not changes:
            break
    if applied:
        log.info("central change feed: %d changes applied", applied)
    return applied


def _apply(session: Session, change: dict[str, Any]) -> None:
    data = change.get("data") or {}
    version = int(change.get("version", 0))
    if change.get("kind") == "document":
        number = normalise_number(data.get("document_number"))
        # Same normal form as the lookup: "D<<" (Germany) is stored and searched as "D".
        state = (data.get("issuing_state") or "").upper().replace("<", "")
        if not number:
            return
        if change.get("op") == "delete":
            session.execute(delete(CachedDocument).where(
                CachedDocument.document_number == number, CachedDocument.issuing_state == state))
            return
        row = session.get(CachedDocument, (number, state)) or CachedDocument(
            document_number=number, issuing_state=state, status=data.get("status", "stolen"))
        row.status, row.version = data.get("status", "stolen"), version
        session.add(row)
    elif change.get("kind") == "notice":
        notice_id = str(data.get("notice_id") or change.get("key"))
        if change.get("op") == "delete":
            session.execute(delete(CachedNotice).where(CachedNotice.notice_id == notice_id))
            return
        notice = session.get(CachedNotice, notice_id) or CachedNotice(notice_id=notice_id)
        notice.surname, notice.given_names = data.get("surname"), data.get("given_names")
        notice.birth_date, notice.category = data.get("birth_date"), data.get("category")
        notice.data, notice.version = data, version
        session.add(notice)
