"""Purpose required, reference images sealed at rest, read by NCB staff only, and audited."""

from __future__ import annotations

import base64
import io
import os
import stat
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import Session, select

from gateway.privacy.crypto import ImageKeyUnavailable, Keyring
from gateway.privacy.models import ReferenceImage
from gateway.privacy.service import open_reference
from tests.conftest import LiveGateway
from tests.watchlist.helpers import lfw_people

PURPOSE = {"purpose": "port entry"}
# Signatures of every image format the gateway writes or receives: none may appear in clear.
IMAGE_SIGNATURES = [b"JFIF\x00", b"\x89PNG\r\n\x1a\n", b"IHDR", b"\xff\xa0\xff\xa8", b"Exif\x00"]


@pytest.fixture(scope="module")
def people(shared_data: Path) -> list[Path]:
    return lfw_people(shared_data)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with LiveGateway(tmp_path_factory.mktemp("privacy-ref"),
                     answer_thumbnail_excluded_categories="black") as gw:
        yield gw


@pytest.fixture(scope="module")
def enrolled(gw: LiveGateway, people: list[Path], shared_data: Path) -> dict:
    person = people[61]
    photos = sorted(person.glob("*.jpg"))
    prints = shared_data / "fingerprints" / "fvc2000_db1_b"
    with gw.client() as admin:
        sid = admin.post("/v1/subjects", json={"name": person.name, "category": "red"}).json()["id"]
        r = admin.post(f"/v1/subjects/{sid}/faces", files={"image": ("a.jpg", photos[0].read_bytes())})
        assert r.status_code == 201, r.text
        r = admin.post(f"/v1/subjects/{sid}/fingerprints", data={"position": "2"},
                       files={"image": ("f.tif", (prints / "101_1.tif").read_bytes())})
        assert r.status_code == 201, r.text
    return {"sid": sid, "photo": photos[0], "print": prints / "101_1.tif"}


def test_a_check_needs_a_purpose_from_the_list(gw: LiveGateway, enrolled: dict) -> None:
    face = enrolled["photo"].read_bytes()
    with gw.client(gw.token("device")) as dev:
        missing = dev.post("/v1/checks", files={"face": ("p.jpg", face)})
        unknown = dev.post("/v1/checks", files={"face": ("p.jpg", face)},
                           data={"purpose": "curiosity"})
        spelled = dev.post("/v1/checks", files={"face": ("p.jpg", face)},
                           data={"purpose": "Port_Entry"})
    for r in (missing, unknown):
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == "purpose" and "port entry" in r.json()["fix"]
    assert spelled.status_code == 200, spelled.text
    assert spelled.json()["purpose"] == "port entry"  # stored in the configured spelling


def test_adapter_payload_without_purpose_takes_it_from_the_url(gw: LiveGateway,
                                                               enrolled: dict) -> None:
    from matchers import fingerprint

    iso = fingerprint.extract(enrolled["print"].read_bytes(), position=2).to_iso()
    headers = {"content-type": "application/octet-stream"}
    with gw.client(gw.token("device")) as dev:
        refused = dev.post("/v1/adapters/iso-template/checks", content=iso, headers=headers)
        taken = dev.post("/v1/adapters/iso-template/checks", content=iso, headers=headers,
                         params={"purpose": "patrol"})
    assert refused.status_code == 422 and refused.json()["field"] == "purpose"
    assert taken.status_code == 200 and taken.json()["purpose"] == "patrol"


def test_reference_images_are_kept_sealed_and_shown_to_analysts_only(
    gw: LiveGateway, enrolled: dict
) -> None:
    sid = enrolled["sid"]
    analyst = gw.token("ncb_analyst")
    with gw.client(analyst) as c:
        r = c.get(f"/v1/subjects/{sid}", headers={"X-Access-Reason": "case 2026/114"})
        assert r.status_code == 200, r.text
        images = {i["kind"]: i for i in r.json()["reference_images"]}
        assert set(images) == {"face", "face_thumb", "finger"}
        assert len(c.get(f"/v1/subjects/{sid}/biometrics").json()) == 2
        face = c.get(images["face"]["url"])
        finger = c.get(images["finger"]["url"])
        wsq = c.get(images["finger"]["url"], params={"format": "original"})
        # Analysts read, they do not write.
        assert c.patch(f"/v1/subjects/{sid}", json={"notes": "x"}).status_code == 403
        assert c.post(f"/v1/subjects/{sid}/faces",
                      files={"image": ("a.jpg", enrolled["photo"].read_bytes())}).status_code == 403
    assert face.status_code == 200 and face.headers["content-type"] == "image/jpeg"
    assert face.headers["cache-control"] == "no-store"
    photo = Image.open(io.BytesIO(face.content))
    assert photo.format == "JPEG" and max(photo.size) <= gw.settings.reference_face_max_px
    assert not photo.getexif()  # metadata (place, time, device) is not kept
    assert finger.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(finger.content)).mode == "L"
    assert wsq.content[:2] == b"\xff\xa0"  # the stored original is WSQ
    with gw.client(gw.token("device")) as dev:
        assert dev.get(f"/v1/subjects/{sid}").status_code == 403
        assert dev.get(images["face"]["url"]).status_code == 403
    with gw.client() as admin:
        audit = admin.get("/v1/audit", params={"action": "subject.", "target_id": sid}).json()
    reads = [e for e in audit["items"] if e["action"] in ("subject.read", "subject.image.read")]
    assert "subject.biometrics.read" in {e["action"] for e in audit["items"]}
    assert {e["action"] for e in reads} == {"subject.read", "subject.image.read"}
    assert all(e["actor_role"] == "ncb_analyst" for e in reads)
    assert any(e["detail"] == "reason: case 2026/114" for e in reads)


def test_hit_answer_carries_the_reference_thumbnail_unless_turned_off(
    gw: LiveGateway, enrolled: dict, people: list[Path]
) -> None:
    with gw.client(gw.token("device")) as dev:
        body = dev.post("/v1/checks", files={"face": ("p.jpg", enrolled["photo"].read_bytes())},
                        data=PURPOSE).json()
    assert body["decision"] == "hit"
    thumb = body["candidates"][0]["reference_thumbnail"]
    image = Image.open(io.BytesIO(base64.b64decode(thumb["data_base64"])))
    assert image.format == "JPEG" and max(image.size) <= gw.settings.thumbnail_px
    # The check row itself keeps no image: the thumbnail is added to the answer only.
    from gateway.checks.models import Check

    with Session(gw.runtime.engine) as session:
        stored = session.get(Check, body["check_id"])
        assert stored is not None and "reference_thumbnail" not in str(stored.response)
    # Category "black" is turned off in this gateway's settings.
    person = people[62]
    photo = sorted(person.glob("*.jpg"))[0]
    with gw.client() as admin:
        sid = admin.post("/v1/subjects", json={"name": person.name, "category": "black"}).json()["id"]
        assert admin.post(f"/v1/subjects/{sid}/faces",
                          files={"image": ("a.jpg", photo.read_bytes())}).status_code == 201
    with gw.client(gw.token("device")) as dev:
        body = dev.post("/v1/checks", files={"face": ("p.jpg", photo.read_bytes())},
                        data=PURPOSE).json()
    assert body["candidates"][0]["subject_id"] == sid
    assert body["candidates"][0]["reference_thumbnail"] is None


def test_a_stolen_database_file_reveals_no_image(gw: LiveGateway, enrolled: dict) -> None:
    with gw.client(gw.token("device")) as dev:  # a hit: its probe images are kept too
        assert dev.post("/v1/checks", files={"face": ("p.jpg", enrolled["photo"].read_bytes())},
                        data=PURPOSE).json()["decision"] == "hit"
    data_dir = gw.settings.data_dir
    files = [p for p in data_dir.glob("fieldcheck.db*") if p.is_file()]
    raw = b"".join(p.read_bytes() for p in files)
    assert len(raw) > 100_000  # the images are in there, sealed
    for signature in IMAGE_SIGNATURES:
        assert signature not in raw, signature
    assert enrolled["photo"].read_bytes()[:256] not in raw
    # The key file lives beside it, readable by its owner only.
    key_file = data_dir / "image-keys.json"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    with Session(gw.runtime.engine) as session:
        row = session.exec(select(ReferenceImage).where(ReferenceImage.kind == "face")).first()
        assert row is not None
        assert open_reference(gw.runtime.keyring, row)[:2] == b"\xff\xd8"
        thief = Keyring.parse("k1:" + base64.b64encode(os.urandom(32)).decode())
        with pytest.raises(ImageKeyUnavailable):
            open_reference(thief, row)


def test_removing_a_biometric_removes_its_image(gw: LiveGateway, people: list[Path]) -> None:
    photo = sorted(people[69].glob("*.jpg"))[0]
    with gw.client() as admin:
        sid = admin.post("/v1/subjects", json={"name": "Removed", "category": "red"}).json()["id"]
        tpl = admin.post(f"/v1/subjects/{sid}/faces",
                         files={"image": ("a.jpg", photo.read_bytes())}).json()
        assert len(admin.get(f"/v1/subjects/{sid}").json()["reference_images"]) == 2
        assert admin.delete(f"/v1/subjects/{sid}/biometrics/{tpl['id']}").status_code == 204
        assert admin.get(f"/v1/subjects/{sid}").json()["reference_images"] == []
        assert admin.delete(f"/v1/subjects/{sid}", params={"reason": "test"}).status_code == 204
    with Session(gw.runtime.engine) as session:
        assert session.exec(select(ReferenceImage).where(
            ReferenceImage.subject_id == sid)).all() == []


def test_rotated_keys_still_open_old_images(tmp_path: Path) -> None:
    ring = Keyring.from_file(tmp_path / "keys.json")
    old = ring.seal(b"old photo", aad="reference_image:img_1")
    new_id = ring.rotate()
    new = ring.seal(b"new photo", aad="reference_image:img_2")
    again = Keyring.from_file(tmp_path / "keys.json")  # as the next start reads it
    assert (old.key_id, new.key_id) == ("k1", new_id) and new_id == "k2"
    assert again.open(old.key_id, old.blob, aad="reference_image:img_1") == b"old photo"
    assert again.open(new.key_id, new.blob, aad="reference_image:img_2") == b"new photo"
    with pytest.raises(ImageKeyUnavailable):  # a blob moved to another row does not open
        again.open(old.key_id, old.blob, aad="reference_image:img_2")


def test_a_thumbnail_this_gateway_cannot_open_is_left_out_not_a_503(
    tmp_path: Path, people: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the scale-out benchmark: gateways sharing one PostgreSQL database each made
    their own image key file, so a check on B that found a subject enrolled on A answered 503
    (the thumbnail would not decrypt) after the check had run and been stored; devices then
    send it again."""
    photo = sorted(people[63].glob("*.jpg"))[0]
    with LiveGateway(tmp_path / "gw") as gw:
        with gw.client() as admin:
            sid = admin.post("/v1/subjects", json={"name": "Sealed Elsewhere",
                                                   "category": "red"}).json()["id"]
            assert admin.post(f"/v1/subjects/{sid}/faces",
                              files={"image": ("a.jpg", photo.read_bytes())}).status_code == 201
        # This gateway now holds another key under the same id, as a second gateway would.
        monkeypatch.setattr(gw.runtime, "keyring", Keyring({"k1": os.urandom(32)}, "k1"))
        with gw.client(gw.token("device")) as dev:
            r = dev.post("/v1/checks", files={"face": ("p.jpg", photo.read_bytes())},
                         data=PURPOSE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["decision"] == "hit" and body["candidates"][0]["subject_id"] == sid
    assert body["candidates"][0]["reference_thumbnail"] is None
