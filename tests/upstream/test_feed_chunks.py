"""The central change feed is applied in small transactions (issue #20): a page of a thousand
changes no longer holds SQLite's single write turn for seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from device_adapters.capture import DocumentData
from gateway.db import create_all, make_engine
from gateway.upstream import documents
from gateway.upstream.client import FakeCentralClient
from gateway.upstream.documents import check_document_locally, list_version, sync_feed
from gateway.upstream.models import CachedNotice


def _doc(version: int, number: str, op: str = "upsert", status: str = "stolen") -> dict[str, Any]:
    return {"version": version, "kind": "document", "op": op,
            "data": {"document_number": number, "issuing_state": "MUS", "status": status}}


@pytest.fixture()
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    eng = make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    create_all(eng)
    yield eng
    eng.dispose()


def _commits(engine) -> list[int]:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen


def _status(engine, number: str) -> str:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        found = check_document_locally(session, DocumentData(
            mrz_lines=[], document_number=number, issuing_state="MUS"))
    assert found is not None
    return str(found["status"])


def test_a_page_is_applied_in_small_transactions(engine) -> None:  # type: ignore[no-untyped-def]
    central = FakeCentralClient()
    central.feed = [_doc(v, f"P{v:05d}") for v in range(1, 1001)]
    commits = _commits(engine)
    assert sync_feed(engine, central, page=1000, chunk=100) == 1000
    assert len(commits) >= 10  # one page, ten transactions (it was one)
    assert _status(engine, "P00001") == "stolen" and _status(engine, "P01000") == "stolen"
    with Session(engine) as session:
        assert list_version(session) == 1000


def test_a_sync_that_fails_mid_page_resumes_after_the_last_whole_chunk(
    engine, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    central = FakeCentralClient()
    central.feed = [_doc(v, f"R{v:04d}") for v in range(1, 301)]
    real_apply = documents._apply

    def failing(session, change, rows):  # type: ignore[no-untyped-def]
        if change["version"] == 130:
            raise RuntimeError("crash in the middle of the page")
        real_apply(session, change, rows)

    monkeypatch.setattr(documents, "_apply", failing)
    with pytest.raises(RuntimeError):
        sync_feed(engine, central, page=300, chunk=50)
    with Session(engine) as session:
        assert list_version(session) == 100  # chunks 1-50 and 51-100 are in, 101-150 is not
    assert _status(engine, "R0100") == "stolen" and _status(engine, "R0101") == "clear"
    monkeypatch.setattr(documents, "_apply", real_apply)
    assert sync_feed(engine, central, page=300, chunk=50) == 200
    assert _status(engine, "R0101") == "stolen" and _status(engine, "R0300") == "stolen"


def test_changes_to_one_key_inside_one_chunk_apply_in_order(engine) -> None:  # type: ignore[no-untyped-def]
    central = FakeCentralClient()
    central.feed = [
        _doc(1, "K1"), _doc(2, "K1", status="lost"),  # twice: one row, the last status
        _doc(3, "K2"), _doc(4, "K2", op="delete"),  # added then removed in the same chunk
        _doc(5, "K3"),
        {"version": 6, "kind": "notice", "op": "upsert",
         "data": {"notice_id": "N1", "surname": "A"}},
        {"version": 7, "kind": "notice", "op": "upsert",
         "data": {"notice_id": "N1", "surname": "B"}},
    ]
    sync_feed(engine, central, page=100, chunk=100)
    central.feed += [_doc(8, "K3", op="delete"), _doc(9, "K3", status="lost")]  # stored row
    sync_feed(engine, central, page=100, chunk=100)
    assert _status(engine, "K1") == "lost"
    assert _status(engine, "K2") == "clear"
    assert _status(engine, "K3") == "lost"
    with Session(engine) as session:
        notice = session.get(CachedNotice, "N1")
        assert notice is not None and notice.surname == "B"


def test_chunks_never_split_one_version() -> None:
    changes = [{"version": v} for v in (1, 2, 3, 3, 3, 4, 5)]
    parts = documents._chunks(changes, 2)
    assert [[c["version"] for c in p] for p in parts] == [[1, 2], [3, 3, 3], [4, 5]]
