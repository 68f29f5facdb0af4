"""The persistence layer on both databases: SQLite files and PostgreSQL (same code)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, select

from gateway import db
from gateway.auth.service import authenticate, create_token, revoke_token
from gateway.checks.models import Check
from gateway.errors import Conflict
from gateway.watchlist import service
from gateway.watchlist.cache import WatchlistCache
from gateway.watchlist.models import BiometricTemplate, WatchlistChange
from gateway.watchlist.schemas import SubjectCreate
from matchers.templates import FaceTemplate, FingerprintTemplate


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'p.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    eng = db.make_engine(url)
    db.create_all(eng)
    yield eng
    eng.dispose()


def _face(seed: int) -> bytes:
    return FaceTemplate(np.random.default_rng(seed).normal(size=128)).to_bytes()


def _finger(seed: int, position: int) -> bytes:
    rng = np.random.default_rng(seed)
    n = 40
    minutiae = np.column_stack([
        rng.uniform(20, 280, n), rng.uniform(20, 280, n), rng.uniform(0, 2 * np.pi, n),
        rng.uniform(0.2, 1, n),
    ]).astype(np.float32)
    return FingerprintTemplate(minutiae, 300, 300, position=position).to_iso()


def test_tokens_subjects_templates_checks_round_trip(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as s:
        row, secret = create_token(s, role="device", name="dev")
        s.commit()
        assert authenticate(s, secret).token_id == row.id  # type: ignore[union-attr]
        subject = service.create_subject(
            s, data=SubjectCreate(name="Persisted", category="red", external_ref="A-1/2026",
                                  aliases=["P. One"], nationality="ke", sharing=["MU", "KE"]),
            actor=None, country="MU",
        )
        subject_id = subject.id
        for i in range(2):
            service.add_template(s, subject_id=subject_id, modality="face", position=0,
                                 data=_face(i), quality={"i": i}, actor=None, country="MU")
        service.add_template(s, subject_id=subject_id, modality="finger", position=7,
                             data=_finger(1, 7), quality={"nfiq2": 50}, actor=None, country="MU")
        s.add(Check(id="chk_1", token_id=row.id, local_decision="hit", decision="hit",
                    response={"decision": "hit", "candidates": [{"subject_id": subject_id}]}))
        s.commit()
        with pytest.raises(Conflict):
            service.create_subject(s, data=SubjectCreate(name="Dup", category="red",
                                                         external_ref="A-1/2026"),
                                   actor=None, country="MU")
        s.rollback()
        revoke_token(s, row.id)
        s.commit()
        assert authenticate(s, secret) is None

    with Session(engine, expire_on_commit=False) as s:
        versions = [c.version for c in s.exec(select(WatchlistChange))]
        assert versions == sorted(versions) and len(versions) == 4  # create + 3 templates
        stored = s.get(Check, "chk_1")
        assert stored.response["candidates"][0]["subject_id"] == subject_id  # type: ignore[union-attr]
        got = service.get_visible_subject(s, subject_id=subject_id, country="MU")
        assert got.aliases == ["P. One"] and got.nationality == "KE" and got.sharing == ["KE", "MU"]

    cache = WatchlistCache("MU")
    with Session(engine, expire_on_commit=False) as s:
        cache.load(s)
    assert cache.counts() == {"subjects": 1, "faces": 2, "fingerprints": 1}
    assert cache.version == max(versions)
    probe = FaceTemplate.from_bytes(_face(1)).embedding
    assert cache.faces.search(probe, 3)[0].subject_id == subject_id

    with Session(engine, expire_on_commit=False) as s:
        service.delete_subject(s, subject_id=subject_id, reason="notice withdrawn", actor=None,
                               country="MU")
        s.commit()
        assert s.exec(select(BiometricTemplate)).first() is None
        cache.sync(s)
    assert cache.counts() == {"subjects": 0, "faces": 0, "fingerprints": 0}


def test_restricted_subject_is_not_loaded_by_other_country(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as s:
        restricted = service.create_subject(
            s, data=SubjectCreate(name="Restricted", category="red", sharing=["KE"]),
            actor=None, country="MU",
        )
        service.add_template(s, subject_id=restricted.id, modality="face", position=0,
                             data=_face(7), quality={}, actor=None, country="MU")
        s.commit()
    seen = {}
    for country in ("MU", "KE", "TZ"):
        cache = WatchlistCache(country)
        with Session(engine, expire_on_commit=False) as s:
            cache.load(s)
        seen[country] = len(cache.faces)
    assert seen == {"MU": 1, "KE": 1, "TZ": 0}


def test_saved_cache_restarts_with_replay_of_newer_changes(tmp_path: Path) -> None:
    from gateway.watchlist.cache import database_key

    url = f"sqlite:///{tmp_path / 'c.db'}"
    key = database_key(url)
    eng = db.make_engine(url)
    db.create_all(eng)
    with Session(eng, expire_on_commit=False) as s:
        first = service.create_subject(s, data=SubjectCreate(name="Saved", category="red"),
                                       actor=None, country="MU")
        service.add_template(s, subject_id=first.id, modality="face", position=0, data=_face(1),
                             quality={}, actor=None, country="MU")
        service.add_template(s, subject_id=first.id, modality="finger", position=2,
                             data=_finger(2, 2), quality={}, actor=None, country="MU")
        s.commit()
        cache = WatchlistCache("MU")
        cache.load(s)
    cache.save(tmp_path / "index", database_key=key)
    with Session(eng, expire_on_commit=False) as s:  # changes after the save
        later = service.create_subject(s, data=SubjectCreate(name="Later", category="red"),
                                       actor=None, country="MU")
        service.add_template(s, subject_id=later.id, modality="face", position=0, data=_face(3),
                             quality={}, actor=None, country="MU")
        service.delete_subject(s, subject_id=first.id, reason="withdrawn", actor=None,
                               country="MU")
        s.commit()
    restarted = WatchlistCache("MU")
    with Session(eng) as s:
        assert restarted.load_saved(s, tmp_path / "index", database_key=key)
        fresh = WatchlistCache("MU")
        fresh.load(s)
    assert restarted.counts() == fresh.counts() == {"subjects": 1, "faces": 1, "fingerprints": 0}
    assert restarted.version == fresh.version
    probe = FaceTemplate.from_bytes(_face(3)).embedding
    assert restarted.faces.search(probe, 1)[0].subject_id == later.id
    # A snapshot made for another database or country is refused, leaving a full load to run.
    other = WatchlistCache("KE")
    with Session(eng) as s:
        assert not other.load_saved(s, tmp_path / "index", database_key=key)
        assert not WatchlistCache("MU").load_saved(s, tmp_path / "index", database_key="x")


def test_postgres_watchlist_versions_follow_commit_order(pg_url: str) -> None:
    """A slow writer must not commit a lower version after a reader moved past it."""
    import threading

    eng = db.make_engine(pg_url)
    db.create_all(eng)
    slow = Session(eng, expire_on_commit=False)
    service.create_subject(slow, data=SubjectCreate(name="Slow writer", category="red"),
                           actor=None, country="MU")  # holds the write turn, not committed
    done = threading.Event()

    def fast_writer() -> None:
        with Session(eng, expire_on_commit=False) as s:
            service.create_subject(s, data=SubjectCreate(name="Fast writer", category="red"),
                                   actor=None, country="MU")
            s.commit()
        done.set()

    thread = threading.Thread(target=fast_writer)
    thread.start()
    assert not done.wait(1.0), "the second writer should wait for the first to commit"
    slow.commit()
    slow.close()
    thread.join(10)
    assert done.is_set()
    cache = WatchlistCache("MU")
    with Session(eng) as s:
        cache.load(s)
    assert sorted(c.name for c in cache.subjects.values()) == ["Fast writer", "Slow writer"]
    eng.dispose()


def test_a_database_serves_one_country(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app
    from gateway.deployment.service import CountryMismatch, bind_country
    from gateway.settings import get_settings

    eng = db.make_engine(f"sqlite:///{tmp_path / 'fieldcheck.db'}")
    db.create_all(eng)
    with Session(eng) as s:
        bind_country(s, "MU")
        bind_country(s, "MU")  # the same country again is fine
        with pytest.raises(CountryMismatch, match="belongs to the MU gateway network"):
            bind_country(s, "KE")
    eng.dispose()
    env = {"FIELDCHECK_DATA_DIR": str(tmp_path), "FIELDCHECK_COUNTRY": "KE"}
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", "--port", "1"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "belongs to the MU gateway network" in result.output


def test_audit_trail_is_append_only_in_the_database(engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from gateway.audit.service import record

    with Session(engine) as s:
        record(s, actor=None, action="test.append", target_type="test", target_id="t1")
        s.commit()
    for statement in ("UPDATE audit_entry SET action = 'forged'", "DELETE FROM audit_entry"):
        with Session(engine) as s, pytest.raises(DBAPIError, match="append-only"):
            s.execute(text(statement))
            s.commit()
    with Session(engine) as s:
        assert s.execute(text("SELECT action FROM audit_entry")).scalars().all() == ["test.append"]
