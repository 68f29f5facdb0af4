"""Real data through the whole HTTP path: LFW faces and FVC fingerprints.

Enrol one LFW photo per identity for half the identities; check other photos of the enrolled
(expect a hit on the right subject) and of the others (expect no hit). Enrol FVC impression 1 of
each finger; probe with the other impressions. Thresholds assert the calibrated decision rule
works on real data; the measured rates are in the issue notes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import LiveGateway

FVC_SET = "fvc2002_db1_b"


def _enrol_first_usable(admin, sid: str, photos: list[Path]) -> Path:  # type: ignore[no-untyped-def]
    """Enrol the first photo the gateway accepts (a few LFW photos show several faces)."""
    for photo in photos:
        r = admin.post(f"/v1/subjects/{sid}/faces", files={"image": (photo.name, photo.read_bytes())})
        if r.status_code == 201:
            return photo
        assert r.status_code == 422, r.text
    raise AssertionError(f"no photo of {sid} could be enrolled")


@pytest.fixture(scope="module")
def lfw(shared_data: Path) -> list[Path]:
    root = shared_data / "faces" / "lfw"
    if not root.is_dir():
        pytest.skip("LFW not in shared data")
    return sorted(p for p in root.iterdir() if p.is_dir())


def test_lfw_enrolled_are_hits_and_strangers_are_not(gateway: LiveGateway, device_token: str,
                                                      lfw: list[Path]) -> None:
    enrolled, strangers = lfw[:30], lfw[30:50]
    ids: dict[str, str] = {}
    used: dict[str, Path] = {}
    with gateway.client() as admin:
        for person in enrolled:
            sid = admin.post("/v1/subjects", json={"name": person.name, "category": "red"}).json()["id"]
            enrolled_photo = _enrol_first_usable(admin, sid, sorted(person.glob("*.jpg")))
            ids[person.name] = sid
            used[person.name] = enrolled_photo
    right = wrong_hit = wrong_possible = probes = 0
    false_alarms = stranger_probes = 0
    with gateway.client(device_token) as dev:
        for person in enrolled:
            for photo in [p for p in sorted(person.glob("*.jpg")) if p != used[person.name]][:2]:
                body = dev.post("/v1/checks", files={"face": (photo.name, photo.read_bytes())},
                                data={"purpose": "port entry"}).json()
                probes += 1
                if body["decision"] in ("hit", "possible"):
                    if body["candidates"][0]["subject_id"] == ids[person.name]:
                        right += 1
                    elif body["decision"] == "hit":
                        wrong_hit += 1
                    else:
                        wrong_possible += 1
        for person in strangers:
            photo = sorted(person.glob("*.jpg"))[0]
            body = dev.post("/v1/checks", files={"face": (photo.name, photo.read_bytes())},
                                data={"purpose": "port entry"}).json()
            stranger_probes += 1
            false_alarms += body["decision"] in ("hit", "possible")
    # A few hard LFW pairs (profile, age) miss at these false-match rates (docs/CALIBRATION.md)
    assert right / probes >= 0.85, (right, probes)
    # A wrong "hit" would send officers after the wrong person; a wrong "possible" goes to an
    # analyst's review queue, which is what that level is for, but it must stay rare.
    assert wrong_hit == 0
    assert wrong_possible / probes <= 0.05
    # POSSIBLE_TARGET_FPIR is 5%: one stranger in 20 may raise a 'possible', never a hit here
    assert false_alarms / stranger_probes <= 0.15


@pytest.mark.slow  # 40 LEADER extractions over HTTP: ~60 s of the default run
def test_fvc_impression_one_enrolled_other_impressions_hit(gateway: LiveGateway,
                                                           device_token: str,
                                                           shared_data: Path) -> None:
    root = shared_data / "fingerprints" / FVC_SET
    if not root.is_dir():
        pytest.skip(f"{FVC_SET} not in shared data")
    ids: dict[str, str] = {}
    with gateway.client() as admin:
        for finger in range(101, 111):
            sid = admin.post("/v1/subjects", json={"name": f"FVC {finger}", "category": "blue"}).json()["id"]
            img = root / f"{finger}_1.tif"
            r = admin.post(f"/v1/subjects/{sid}/fingerprints",
                           files={"image": (img.name, img.read_bytes())}, data={"position": "2"})
            if r.status_code == 201:
                ids[str(finger)] = sid
    assert len(ids) >= 8
    right = probes = 0
    with gateway.client(device_token) as dev:
        for finger, sid in ids.items():
            for imp in (2, 3, 4):
                img = root / f"{finger}_{imp}.tif"
                body = dev.post("/v1/checks", files={"finger_2": (img.name, img.read_bytes())},
                                data={"purpose": "port entry"}).json()
                probes += 1
                top = body["candidates"][0]["subject_id"] if body["candidates"] else None
                right += body["decision"] in ("hit", "possible") and top == sid
    assert right / probes >= 0.8, (right, probes)


def test_face_plus_finger_fuses_to_hit_and_get_returns_same(gateway: LiveGateway,
                                                           device_token: str, lfw: list[Path],
                                                           shared_data: Path) -> None:
    person = lfw[60]
    photos = sorted(person.glob("*.jpg"))
    prints = shared_data / "fingerprints" / "fvc2000_db1_b"
    with gateway.client() as admin:
        sid = admin.post("/v1/subjects", json={"name": person.name, "category": "yellow",
                                              "handling_instructions": "Call NCB desk 3"}).json()["id"]
        assert admin.post(f"/v1/subjects/{sid}/faces", files={"image": ("a.jpg", photos[0].read_bytes())}).status_code == 201
        r = admin.post(f"/v1/subjects/{sid}/fingerprints",
                       files={"image": ("f.tif", (prints / "105_1.tif").read_bytes())}, data={"position": "7"})
        assert r.status_code == 201, r.text
    with gateway.client(device_token) as dev:
        r = dev.post("/v1/checks", files={"face": ("b.jpg", photos[1].read_bytes()),
                                          "finger_7": ("f.tif", (prints / "105_2.tif").read_bytes())},
                     data={"purpose": "port entry", "device_id": "SEEK-7"})
        body = r.json()
        assert r.status_code == 200
        assert body["decision"] == "hit"
        top = body["candidates"][0]
        assert top["subject_id"] == sid
        assert set(top["scores"]) == {"face", "finger_7"}
        assert top["fused_score"] == pytest.approx(sum(s["evidence"] for s in top["scores"].values()), abs=0.02)
        assert "Call NCB desk 3" in body["message"]
        assert body["quality"]["face"]["status"] == "ok" and body["quality"]["finger_7"]["nfiq2"] > 0
        again = dev.get(f"/v1/checks/{body['check_id']}").json()
        for key in ("check_id", "decision", "candidates", "quality", "watchlist_version", "message"):
            assert again[key] == body[key]
        assert again["device_id"] == "SEEK-7"
    other_device = gateway.token("device", "another device")
    with gateway.client(other_device) as dev2:
        assert dev2.get(f"/v1/checks/{body['check_id']}").status_code == 404
    with gateway.client(gateway.token("ncb_analyst")) as analyst:
        assert analyst.get(f"/v1/checks/{body['check_id']}").json()["decision"] == "hit"


def test_enrolment_is_searchable_without_restart(gateway: LiveGateway, device_token: str,
                                                 lfw: list[Path]) -> None:
    # The behaviour under test is the cache update, not matching: probe with the enrolled photo.
    person = lfw[70]
    photos = sorted(person.glob("*.jpg"))
    with gateway.client(device_token) as dev:
        before = dev.post("/v1/checks", files={"face": ("p.jpg", photos[0].read_bytes())},
                          data={"purpose": "port entry"}).json()
    assert before["decision"] == "no_hit"
    with gateway.client() as admin:
        sid = admin.post("/v1/subjects", json={"name": person.name, "category": "red"}).json()["id"]
        admin.post(f"/v1/subjects/{sid}/faces", files={"image": ("a.jpg", photos[0].read_bytes())})
    with gateway.client(device_token) as dev:
        after = dev.post("/v1/checks", files={"face": ("p.jpg", photos[0].read_bytes())},
                          data={"purpose": "port entry"}).json()
    assert after["decision"] == "hit" and after["candidates"][0]["subject_id"] == sid
    assert after["watchlist_version"] > before["watchlist_version"]
