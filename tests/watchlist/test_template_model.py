"""Templates name their model: old databases get the column, other models are never searched."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from gateway import db
from gateway.watchlist import replica, service
from gateway.watchlist.cache import WatchlistCache, database_key
from gateway.watchlist.models import LEGACY_MODELS, BiometricTemplate, Subject, current_model
from gateway.watchlist.schemas import SubjectCreate
from matchers import face
from matchers.templates import FaceTemplate
from tests.gateway.test_persistence import _face, _finger


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return request.getfixturevalue("pg_url")


def _old_database(url: str):  # type: ignore[no-untyped-def]
    """A database as gateways made it before the model column (and before migrations, so no
    ``alembic_version``): one face and one finger row."""
    eng = db.make_engine(url)
    db.create_all(eng)
    with eng.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("ALTER TABLE biometric_template DROP COLUMN model"))
        conn.execute(text(
            "INSERT INTO subject (id, name, aliases, category, originating_country, created_at, "
            "updated_at) VALUES ('sub_old', 'Old', '[]', 'red', 'MU', '2025-01-01', '2025-01-01')"
        ))
        for tid, modality, data in (("tpl_f", "face", _face(1)), ("tpl_p", "finger", _finger(1, 2))):
            conn.execute(text(
                "INSERT INTO biometric_template (id, subject_id, modality, position, data, "
                "quality, created_at) VALUES (:id, 'sub_old', :m, 0, :d, '{}', '2025-01-01')"
            ), {"id": tid, "m": modality, "d": data})
        conn.execute(text("INSERT INTO watchlist_change (subject_id, op, at) "
                          "VALUES ('sub_old', 'upsert', '2025-01-01')"))
    return eng


def test_old_database_gets_the_column_with_legacy_models(url: str) -> None:
    eng = _old_database(url)
    db.create_all(eng)  # start-up on the old database
    db.create_all(eng)  # and again: idempotent
    with Session(eng) as s:
        models = {t.modality: t.model for t in s.exec(select(BiometricTemplate))}
    assert models == {"face": "dlib-resnet-v1", "finger": "nbis-mindtct"}
    assert LEGACY_MODELS["face"] != face.MODEL_ID
    eng.dispose()


def test_templates_of_another_model_are_not_searched_and_are_counted(url: str) -> None:
    eng = _old_database(url)
    db.create_all(eng)
    cache = WatchlistCache("MU")
    with Session(eng, expire_on_commit=False) as s:
        cache.load(s)
        # The dlib face and the mindtct fingerprint are left out (issue 12 moved fingerprints
        # to LEADER minutiae) and both are reported for re-enrolment.
        assert cache.counts() == {"subjects": 1, "faces": 0, "fingerprints": 0}
        assert cache.needs_reenrolment() == {"faces": 1, "fingerprints": 1}
        assert cache.faces.search(FaceTemplate.from_bytes(_face(1)).embedding, 1) == []
        # Re-enrolled with today's model: searched; the stale one still counted until deleted.
        new = service.add_template(s, subject_id="sub_old", modality="face", position=0,
                                   data=_face(1), quality={}, actor=None, country="MU")
        s.commit()
        assert new.model == face.MODEL_ID
        cache.sync(s)
        assert cache.counts()["faces"] == 1 and cache.needs_reenrolment()["faces"] == 1
        service.delete_template(s, subject_id="sub_old", template_id="tpl_f", actor=None,
                                country="MU")
        s.commit()
        cache.sync(s)
        assert cache.needs_reenrolment() == {"faces": 0, "fingerprints": 1}
        assert cache.faces.search(FaceTemplate.from_bytes(_face(1)).embedding, 1)[0].template_id == new.id
    eng.dispose()


def test_saved_cache_of_another_model_is_rebuilt(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    eng = db.make_engine(url)
    db.create_all(eng)
    with Session(eng, expire_on_commit=False) as s:
        subject = service.create_subject(s, data=SubjectCreate(name="Saved", category="red"),
                                         actor=None, country="MU")
        service.add_template(s, subject_id=subject.id, modality="face", position=0,
                             data=_face(2), quality={}, actor=None, country="MU")
        s.commit()
        cache = WatchlistCache("MU")
        cache.load(s)
    cache.save(tmp_path / "index", database_key=database_key(url))
    with Session(eng) as s:
        assert WatchlistCache("MU").load_saved(s, tmp_path / "index", database_key=database_key(url))
    # A gateway whose face model changed must not memory-map the old model's embeddings.
    monkeypatch.setattr(face, "MODEL_ID", "some-other-model")
    with Session(eng) as s:
        upgraded = WatchlistCache("MU")
        assert not upgraded.load_saved(s, tmp_path / "index", database_key=database_key(url))
        upgraded.load(s)
    assert upgraded.counts()["faces"] == 0 and upgraded.needs_reenrolment()["faces"] == 1


def test_snapshot_states_carry_the_model_and_old_ones_read_as_legacy(tmp_path: Path) -> None:
    eng = db.make_engine(f"sqlite:///{tmp_path / 's.db'}")
    db.create_all(eng)
    with Session(eng, expire_on_commit=False) as s:
        subject = service.create_subject(s, data=SubjectCreate(name="Shared", category="red"),
                                         actor=None, country="MU")
        service.add_template(s, subject_id=subject.id, modality="face", position=0,
                             data=_face(3), quality={}, actor=None, country="MU")
        s.commit()
        state = replica.subject_state(s.get(Subject, subject.id), service.templates_of(s, subject.id))
    assert state["templates"][0]["model"] == current_model("face")
    _, templates = replica._clean_state(state)
    assert templates[0].model == face.MODEL_ID
    # A snapshot written before templates named their model holds dlib embeddings.
    del state["templates"][0]["model"]
    _, templates = replica._clean_state(state)
    assert templates[0].model == "dlib-resnet-v1"
    assert base64.b64decode(state["templates"][0]["data"]) == templates[0].data
    assert np.isfinite(FaceTemplate.from_bytes(templates[0].data).embedding).all()


def test_gateway_on_an_old_database_reports_faces_to_re_enrol(tmp_path: Path, monkeypatch,
                                                              caplog) -> None:
    import logging

    from typer.testing import CliRunner

    from gateway.cli import app
    from gateway.settings import Settings, get_settings
    from tests.conftest import LiveGateway

    data_dir = tmp_path / "data"
    _old_database(Settings(data_dir=data_dir).effective_database_url).dispose()
    with caplog.at_level(logging.WARNING, logger="gateway.watchlist.cache"), \
            LiveGateway(data_dir) as gateway, gateway.client() as admin:
        ready = admin.get("/readyz").json()
        metrics = admin.get("/metrics").text
    assert ready["status"] == "ready"
    same = int(current_model("finger") == LEGACY_MODELS["finger"])
    assert ready["watchlist"]["faces"] == 0 and ready["watchlist"]["fingerprints"] == same
    assert ready["watchlist"]["needs_reenrolment"] == {"faces": 1, "fingerprints": 1 - same}
    assert 'fieldcheck_watchlist_needs_reenrolment{kind="faces"} 1.0' in metrics
    assert any("re-enrol" in r.getMessage() for r in caplog.records)
    monkeypatch.setenv("FIELDCHECK_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["watchlist", "status"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "1 face templates of model dlib-resnet-v1: NOT searched" in result.output
    assert "1 finger templates of model nbis-mindtct: " + (
        "searched" if same else "NOT searched") in result.output
