"""Red-team finding 5 (issue 14): a corrupted saved cache must be rebuilt, never trusted.

Each case enrols a real LFW face, stops the gateway (which saves the cache under
``<data>/index/``), corrupts one saved file the way the red team did, starts again and checks
that the enrolled subject is still found and the gateway did not crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import LiveGateway
from tests.watchlist.helpers import check_face, enrol, lfw_people


def _empty_cards(index: Path) -> None:
    (index / "subjects.json").write_text("[]")


def _nan_embeddings(index: Path) -> None:
    path = index / "faces" / "embeddings.npy"
    matrix = np.load(path)
    matrix[:] = np.nan
    np.save(path, matrix)


def _card_without_name(index: Path) -> None:
    cards = json.loads((index / "subjects.json").read_text())
    for card in cards:
        card.pop("name")
    (index / "subjects.json").write_text(json.dumps(cards))


def _checksum_forged_too(index: Path) -> None:
    """Cards emptied *and* the checksum recomputed: the count check against the database."""
    import hashlib

    _empty_cards(index)
    meta = json.loads((index / "meta.json").read_text())
    meta["files"]["subjects.json"] = hashlib.sha256(b"[]").hexdigest()
    (index / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("corrupt", [_empty_cards, _nan_embeddings, _card_without_name,
                                     _checksum_forged_too])
def test_corrupted_saved_cache_is_rebuilt(
    corrupt: Callable[[Path], None], tmp_path: Path, shared_data: Path
) -> None:
    person = next(p for p in lfw_people(shared_data) if len(list(p.glob("*.jpg"))) >= 2)
    photos = sorted(person.glob("*.jpg"))
    with LiveGateway(tmp_path) as gw, gw.client() as admin:
        sid = enrol(admin, person, photo=0)
    index = tmp_path / "index"
    assert (index / "meta.json").is_file()
    corrupt(index)
    with LiveGateway(tmp_path) as gw:
        assert gw.runtime.cache.counts()["subjects"] == 1
        with gw.client(gw.token("device")) as device:
            answer = check_face(device, photos[1])
    assert answer["decision"] in ("hit", "possible"), answer
    assert answer["candidates"][0]["subject_id"] == sid


def test_intact_saved_cache_is_used(tmp_path: Path, shared_data: Path) -> None:
    """The checks must not reject a good save (that would rebuild on every start)."""
    person = lfw_people(shared_data)[0]
    with LiveGateway(tmp_path) as gw, gw.client() as admin:
        enrol(admin, person)
    from sqlmodel import Session

    from gateway import db
    from gateway.watchlist.cache import WatchlistCache, database_key

    settings_url = f"sqlite:///{(tmp_path / 'fieldcheck.db').resolve()}"
    engine = db.make_engine(settings_url)
    cache = WatchlistCache("MU")
    with Session(engine) as session:
        assert cache.load_saved(session, tmp_path / "index",
                                database_key=database_key(settings_url))
    assert cache.counts()["faces"] == 1
    engine.dispose()
