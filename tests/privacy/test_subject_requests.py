"""Data subject requests (export, erase) and re-extraction, through the ``fieldcheck`` CLI on the
database of a running gateway."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import Session, select
from typer.testing import CliRunner

from gateway.checks.models import Check
from gateway.cli import app as cli_app
from gateway.privacy.models import ProbeImage, ReferenceImage
from gateway.settings import get_settings
from gateway.watchlist.models import BiometricTemplate, Subject
from matchers import face as face_matcher
from matchers.templates import FaceTemplate
from tests.conftest import LiveGateway
from tests.watchlist.helpers import lfw_people

PURPOSE = {"purpose": "port entry"}


@pytest.fixture()
def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "gw"
    monkeypatch.setenv("FIELDCHECK_DATA_DIR", str(data_dir))
    get_settings.cache_clear()  # the CLI reads the same data dir as the gateway
    with LiveGateway(data_dir) as gw:
        yield gw
    get_settings.cache_clear()


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _enrol_and_hit(gw: LiveGateway, person: Path) -> tuple[str, str, bytes]:
    photo = sorted(person.glob("*.jpg"))[0].read_bytes()
    with gw.client() as admin:
        sid = admin.post("/v1/subjects", json={"name": person.name, "category": "red"}).json()["id"]
        assert admin.post(f"/v1/subjects/{sid}/faces",
                          files={"image": ("a.jpg", photo)}).status_code == 201
    with gw.client(gw.token("device")) as dev:
        body = dev.post("/v1/checks", data=PURPOSE, files={"face": ("p.jpg", photo)}).json()
    assert body["decision"] == "hit"
    return sid, body["check_id"], photo


def test_export_then_erase_a_subject(gw: LiveGateway, shared_data: Path) -> None:
    sid, check_id, photo = _enrol_and_hit(gw, lfw_people(shared_data)[66])
    gw.runtime.cache.save(gw.settings.data_dir / "index", database_key="x")  # a saved cache
    doc = json.loads(_cli("privacy", "export", "--subject", sid))
    assert doc["subject"]["id"] == sid and len(doc["templates"]) == 1
    kinds = {i["kind"]: i for i in doc["images"]}
    assert set(kinds) == {"face", "face_thumb"}
    Image.open(io.BytesIO(base64.b64decode(kinds["face"]["data_base64"]))).verify()
    assert "subject.create" in [e["action"] for e in doc["audit"]]

    out = json.loads(_cli("privacy", "erase", "--subject", sid, "--reason", "request 2026-17"))
    assert out == {"erased": sid, "templates": 1, "images": 2}
    with Session(gw.runtime.engine) as session:
        assert session.get(Subject, sid) is None
        assert session.exec(select(BiometricTemplate).where(
            BiometricTemplate.subject_id == sid)).all() == []
        assert session.exec(select(ReferenceImage).where(
            ReferenceImage.subject_id == sid)).all() == []
    assert not (gw.settings.data_dir / "index").exists()
    # The running gateway drops the subject from its cache through the change log.
    deadline = time.monotonic() + 30
    while gw.runtime.cache.card(sid) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert gw.runtime.cache.card(sid) is None
    with gw.client(gw.token("device")) as dev:
        again = dev.post("/v1/checks", data=PURPOSE, files={"face": ("p.jpg", photo)}).json()
    assert again["decision"] == "no_hit"
    with gw.client() as admin:
        trail = admin.get("/v1/audit", params={"target_id": sid}).json()["items"]
        assert admin.get(f"/v1/subjects/{sid}").status_code == 404
        evidence = admin.get(f"/v1/checks/{check_id}/evidence").json()
    erased = [e for e in trail if e["action"] == "privacy.erase"]
    assert len(erased) == 1 and erased[0]["detail"] == "request 2026-17"
    assert "privacy.export" in [e["action"] for e in trail]
    assert "subject.create" in [e["action"] for e in trail]  # the audit facts stay
    assert evidence["candidates"] == [{"subject_id": sid, "available": False,
                                       "reference_images": []}]


def test_export_then_erase_a_check(gw: LiveGateway, shared_data: Path) -> None:
    sid, check_id, _ = _enrol_and_hit(gw, lfw_people(shared_data)[67])
    doc = json.loads(_cli("privacy", "export", "--check", check_id))
    assert doc["check"]["check_id"] == check_id and doc["purpose"] == "port entry"
    assert [i["kind"] for i in doc["images"]] == ["face"]
    out = json.loads(_cli("privacy", "erase", "--check", check_id, "--reason", "traveller asked"))
    assert out["images"] == 1
    with Session(gw.runtime.engine) as session:
        assert session.exec(select(ProbeImage).where(ProbeImage.check_id == check_id)).all() == []
        check = session.get(Check, check_id)
        assert check is not None and check.response["erased"] and check.response["candidates"] == []
    with gw.client() as admin:
        assert admin.get(f"/v1/subjects/{sid}").status_code == 200  # the subject is not touched


def test_cli_refuses_two_targets_and_unknown_ids(gw: LiveGateway) -> None:
    both = CliRunner().invoke(cli_app, ["privacy", "erase", "--subject", "a", "--check", "b",
                                        "--reason", "x"])
    unknown = CliRunner().invoke(cli_app, ["privacy", "export", "--subject", "sub_nope"])
    assert both.exit_code == 2 and unknown.exit_code == 2
    assert "sub_nope" in unknown.output


def test_reextract_replaces_templates_of_another_model(gw: LiveGateway, shared_data: Path) -> None:
    sid, _, photo = _enrol_and_hit(gw, lfw_people(shared_data)[68])
    with Session(gw.runtime.engine) as session:
        tpl = session.exec(select(BiometricTemplate).where(
            BiometricTemplate.subject_id == sid)).one()
        assert tpl.model == face_matcher.MODEL_ID
        old_id, old_data = tpl.id, tpl.data
        tpl.model, tpl.data = "an-older-model", b"\x00" * len(tpl.data)  # as an old model left it
        session.add(tpl)
        # And one template enrolled before images were kept: it cannot be re-extracted.
        session.add(BiometricTemplate(id="tpl_noimage", subject_id=sid, modality="face",
                                      data=old_data, quality={}, model="an-older-model"))
        session.commit()
    report = json.loads(_cli("watchlist", "reextract", "--json"))
    assert report["outdated"] == 2 and report["reextracted"] == 1
    assert report["without_image"] == ["tpl_noimage"]
    with Session(gw.runtime.engine) as session:
        rows = {t.id: t for t in session.exec(select(BiometricTemplate).where(
            BiometricTemplate.subject_id == sid))}
        new = [t for t in rows.values() if t.id not in (old_id, "tpl_noimage")]
        assert old_id not in rows and len(new) == 1
        assert new[0].model == face_matcher.MODEL_ID
        # From the stored (normalised, re-encoded) photo: the same face, not the same bytes.
        similarity = float(FaceTemplate.from_bytes(new[0].data).embedding
                           @ FaceTemplate.from_bytes(old_data).embedding)
        assert similarity > 0.95, similarity
        images = session.exec(select(ReferenceImage).where(ReferenceImage.subject_id == sid)).all()
        assert {i.template_id for i in images} == {new[0].id}
    again = json.loads(_cli("watchlist", "reextract", "--json", "--dry-run"))
    assert again["outdated"] == 1 and again["reextracted"] == 0


def test_rotate_key_and_reencrypt_while_the_gateway_runs(gw: LiveGateway,
                                                        shared_data: Path) -> None:
    sid, check_id, _ = _enrol_and_hit(gw, lfw_people(shared_data)[70])
    out = _cli("privacy", "rotate-key", "--reencrypt")
    assert "current image key: k2" in out and "re-encrypted 3 images" in out
    with Session(gw.runtime.engine) as session:
        keys = {r.key_id for r in session.exec(select(ReferenceImage))} | {
            p.key_id for p in session.exec(select(ProbeImage))}
    assert keys == {"k2"}
    # The running gateway (started with k1 only) reads the new key from the file when it meets it.
    with gw.client(gw.token("ncb_analyst")) as analyst:
        evidence = analyst.get(f"/v1/checks/{check_id}/evidence").json()
        for image in evidence["probe"]["images"] + evidence["candidates"][0]["reference_images"]:
            assert analyst.get(image["url"]).status_code == 200
