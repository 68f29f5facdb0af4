"""Device adapters through the gateway: listing, raw-payload checks, ANSI/NIST round trip."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from device_adapters.ansi_nist import write_transaction
from device_adapters.capture import Capture, FingerImage
from tests.adapters.builders import TD3, seek_document
from tests.conftest import LiveGateway

FVC = "fvc2002_db1_b"


def test_adapters_are_listed(gateway: LiveGateway, device_token: str) -> None:
    with gateway.client(device_token) as c:
        listed = c.get("/v1/adapters").json()
    names = [a["name"] for a in listed]
    assert names[0] == "multipart"
    assert {"ansi-nist", "mosip-sbi", "seek-avenger", "iso-template"} <= set(names)
    for a in listed:
        assert a["content_types"] and a["description"]
    binary = {a["name"]: a["content_types"] for a in listed}
    assert "application/octet-stream" in binary["ansi-nist"]
    assert "application/octet-stream" in binary["iso-template"]


def test_unknown_adapter_and_wrong_content_type(gateway: LiveGateway, device_token: str) -> None:
    with gateway.client(device_token) as c:
        r = c.post("/v1/adapters/nope/checks", content=b"x")
        assert r.status_code == 404 and r.json()["field"] == "name"
        r = c.post("/v1/adapters/ansi-nist/checks", content=b"{}",
                   headers={"content-type": "application/json"})
        assert r.status_code == 415
        assert r.headers["content-type"].startswith("application/problem+json")
        r = c.post("/v1/adapters/ansi-nist/checks", content=b"1.001:garbage",
                   headers={"content-type": "application/octet-stream"})
        assert 400 <= r.status_code < 500 and r.json()["field"]


@pytest.fixture(scope="module")
def enrolled_print(gateway: LiveGateway, shared_data: Path) -> tuple[str, Path]:
    root = shared_data / "fingerprints" / FVC
    with gateway.client() as admin:
        sid = admin.post("/v1/subjects", json={"name": "Adapter Subject", "category": "red"}).json()["id"]
        r = admin.post(f"/v1/subjects/{sid}/fingerprints", data={"position": "2"},
                       files={"image": ("e.tif", (root / "103_1.tif").read_bytes())})
        assert r.status_code == 201, r.text
    return sid, root


def test_ansi_nist_round_trip_gives_the_same_check_result(
    gateway: LiveGateway, device_token: str, enrolled_print: tuple[str, Path],
) -> None:
    sid, root = enrolled_print
    probe = root / "103_2.tif"
    png = cv2.imencode(".png", cv2.imread(str(probe), cv2.IMREAD_GRAYSCALE))[1].tobytes()
    with gateway.client(device_token) as c:
        direct = c.post("/v1/checks", files={"finger_2": ("p.png", png)}, data={"purpose": "port entry"}).json()
        capture = Capture(fingers=[FingerImage(position=2, image=png, ppi=500)])
        transaction = write_transaction(capture, finger_compression="keep")
        via_nist = c.post("/v1/adapters/ansi-nist/checks", content=transaction,
                          params={"purpose": "port entry"},
                          headers={"content-type": "application/octet-stream"}).json()
    assert direct["decision"] in ("hit", "possible")
    assert direct["candidates"][0]["subject_id"] == sid
    assert via_nist["adapter"] == "ansi-nist"
    for key in ("decision", "candidates", "quality"):
        assert via_nist[key] == direct[key]


def test_iso_template_check_matches_without_image(
    gateway: LiveGateway, device_token: str, enrolled_print: tuple[str, Path],
) -> None:
    from matchers import fingerprint

    sid, root = enrolled_print
    template = fingerprint.extract((root / "103_3.tif").read_bytes(), position=2)
    with gateway.client(device_token) as c:
        body = c.post("/v1/adapters/iso-template/checks", content=template.to_iso(),
                      params={"purpose": "port entry"},
                      headers={"content-type": "application/octet-stream"}).json()
    assert body["adapter"] == "iso-template"
    assert body["quality"]["finger_2"]["source"] == "device_template"
    assert body["candidates"] and body["candidates"][0]["subject_id"] == sid


def test_seek_avenger_with_mrz_reports_document(gateway: LiveGateway, device_token: str) -> None:
    doc = seek_document(fingers=1)
    bad = list(TD3)
    # Flip the document number's check digit (line 2, position 10): reported, not refused.
    bad[1] = bad[1][:9] + str((int(bad[1][9]) + 1) % 10) + bad[1][10:]
    doc["mrz"] = bad
    with gateway.client(device_token) as c:
        r = c.post("/v1/adapters/seek-avenger/checks", content=json.dumps(doc),
                   headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["document"]["valid"] is False
    assert any("document_number" in e for e in body["document"]["errors"])
    assert body["document"]["surname"] == "ERIKSSON"


def test_seek_avenger_bad_base64_names_field(gateway: LiveGateway, device_token: str) -> None:
    doc = seek_document(fingers=1)
    doc["fingers"][0]["image"] = "!!!not base64!!!"
    with gateway.client(device_token) as c:
        r = c.post("/v1/adapters/seek-avenger/checks", content=json.dumps(doc),
                   headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "fingers[0]" in r.json()["field"]


def test_multipart_mrz_field_goes_into_document(gateway: LiveGateway, device_token: str,
                                                enrolled_print: tuple[str, Path]) -> None:
    _sid, root = enrolled_print
    with gateway.client(device_token) as c:
        body = c.post("/v1/checks", files={"finger_2": ("p.tif", (root / "104_1.tif").read_bytes())},
                      data={"mrz": "\n".join(TD3), "purpose": "port entry"}).json()
    assert body["document"]["valid"] is True
    assert body["document"]["document_number"] == "L898902C3"
