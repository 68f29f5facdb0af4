"""The scale-out benchmark's COPY seeding writes what a gateway would: its cache loads every row."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import scaleout_seed  # noqa: E402

from gateway.db import create_all, make_engine  # noqa: E402
from gateway.watchlist.cache import WatchlistCache  # noqa: E402

pytestmark = pytest.mark.postgres


def _conninfo(url: str) -> str:
    parsed = urlparse(url)
    options = unquote(parsed.query.split("options=", 1)[1]) if "options=" in parsed.query else ""
    return (f"host={parsed.hostname} port={parsed.port} user={parsed.username} "
            f"dbname={parsed.path.lstrip('/')} options='{options}'")


def test_seeded_rows_load_into_the_gateway_cache_with_the_planned_mix(pg_url: str) -> None:
    engine = make_engine(pg_url)
    create_all(engine)
    spec = scaleout_seed.SeedSpec(subjects=400, unique_fingers=20)
    counts = scaleout_seed.seed(_conninfo(pg_url), spec, log=lambda _msg: None)
    planned = scaleout_seed.plan(spec)
    faces = sum(1 for face, _ in planned if face)
    prints = sum(len(fingers) for _, fingers in planned)
    assert counts["faces"] == faces and counts["fingerprints"] == prints
    assert {len(f) for _, f in planned} == {0, 2, 10}  # every kind of the mix occurs

    cache = WatchlistCache("MU")
    with Session(engine) as session:
        cache.load(session)
        # Same check a gateway makes before trusting a saved cache: nothing left out.
        assert cache._count_mismatch(session) is None
    assert cache.counts() == {"subjects": 400, "faces": faces, "fingerprints": prints}
    assert cache.needs_reenrolment() == {"faces": 0, "fingerprints": 0}
    assert cache.version == 400  # one change per subject, like enrolment leaves
    engine.dispose()


def test_seed_key_changes_with_what_a_seed_depends_on(monkeypatch: pytest.MonkeyPatch) -> None:
    base = scaleout_seed.SeedSpec(subjects=1000, unique_fingers=10).key()
    assert scaleout_seed.SeedSpec(subjects=1001, unique_fingers=10).key() != base
    monkeypatch.setattr("matchers.fingerprint.EXTRACTOR_ID", "another-extractor")
    assert scaleout_seed.SeedSpec(subjects=1000, unique_fingers=10).key() != base
