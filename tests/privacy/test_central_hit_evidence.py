"""A hit raised only by central still has the probe for the analyst: a check queued for central
holds its capture (sealed, as received) until central answers; a central hit turns it into
evidence under the review's retention rules, a central no_hit deletes it with the answer.
With the bundled central stub over real HTTP."""

from __future__ import annotations

import base64
import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlmodel import Session, select

from gateway.privacy.models import ProbeImage
from gateway.privacy.requests import export_check
from gateway.privacy.retention import purge
from gateway.privacy.service import HELD_TYPE
from matchers import fingerprint as finger_matcher
from tests.conftest import LiveGateway
from tests.watchlist.helpers import lfw_people

PURPOSE = {"purpose": "port entry"}


def _probes(gw: LiveGateway, check_id: str) -> list[ProbeImage]:
    with Session(gw.runtime.engine) as session:
        return list(session.exec(select(ProbeImage).where(ProbeImage.check_id == check_id)))


def _wait_completed(dev: httpx.Client, check_id: str) -> dict:
    deadline = time.monotonic() + 120
    view: dict = {}
    while time.monotonic() < deadline:
        view = dev.get(f"/v1/checks/{check_id}/upstream", params={"wait": 5}).json()
        if view["upstream"]["status"] == "completed":
            return view
    raise AssertionError(f"central never answered {check_id}: {view}")


@pytest.fixture()
def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FIELDCHECK_UPSTREAM_STUB_SUBJECTS", "20")  # a small central, quick to seed
    with LiveGateway(tmp_path / "gw", start_upstream=True, retention_confirmed_days=1) as gw:
        assert gw.runtime.upstream.stub.wait_ready(120)
        yield gw


def test_a_hit_raised_only_by_central_keeps_the_probe_for_review(
    gw: LiveGateway, shared_data: Path
) -> None:
    people = lfw_people(shared_data)
    prints = shared_data / "fingerprints" / "fvc2000_db1_b"
    photo = sorted(people[73].glob("*.jpg"))[0].read_bytes()
    finger = (prints / "105_1.tif").read_bytes()
    # Central knows this print; the local watchlist is empty.
    iso = finger_matcher.extract(finger, position=2).to_iso()
    stub = gw.runtime.upstream.stub.url
    r = httpx.post(stub + "/admin/subjects", json={
        "id": "CENTRAL-ONLY-7", "surname": "ANDRIANINA", "given_names": "TOKY",
        "category": "red", "fingers": [{"position": 2, "iso_19794_2": base64.b64encode(iso).decode()}],
    }, timeout=30)
    assert r.status_code == 200, r.text

    device = gw.token("device", "SEEK-CENTRAL")
    with gw.client(device) as dev:
        body = dev.post("/v1/checks", data=PURPOSE, files={
            "face": ("p.jpg", photo), "finger_2": ("f.tif", finger)}).json()
        assert body["decision"] == "no_hit" and body["local_decision"] == "no_hit", body
        # Held in the check's own transaction: there before central can answer.
        held = _probes(gw, body["check_id"])
        assert sorted((p.kind, p.content_type) for p in held) == [
            ("face", HELD_TYPE), ("finger", HELD_TYPE)]
        assert all(photo[300:556] not in p.blob and finger[3000:3256] not in p.blob
                   for p in held)  # sealed
        view = _wait_completed(dev, body["check_id"])
    assert view["decision"] == "hit" and view["review"]["status"] == "pending", view
    assert view["central"]["candidates"][0]["subject_id"] == "CENTRAL-ONLY-7"
    assert len(_probes(gw, body["check_id"])) == 2  # the central hit kept them
    # A data subject's export shows the images the held capture stands for (not raw bytes).
    with Session(gw.runtime.engine) as session:
        exported = export_check(session, gw.runtime.keyring, check_id=body["check_id"])
        session.commit()
    assert sorted(i["content_type"] for i in exported["images"]) == ["image/jpeg", "image/png"]

    with gw.client(gw.token("ncb_analyst")) as analyst:
        evidence = analyst.get(f"/v1/checks/{body['check_id']}/evidence").json()
        probe = {i["kind"]: i for i in evidence["probe"]["images"]}
        assert set(probe) == {"face", "finger"}, evidence
        assert evidence["central"]["candidates"][0]["subject_id"] == "CENTRAL-ONLY-7"
        face = analyst.get(probe["face"]["url"])
        print_ = analyst.get(probe["finger"]["url"])
    assert face.status_code == 200 and face.headers["content-type"] == "image/jpeg"
    assert not Image.open(io.BytesIO(face.content)).getexif()
    assert print_.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(print_.content)).mode == "L"
    assert {p.content_type for p in _probes(gw, body["check_id"])} == {"image/jpeg", "image/png"}
    with gw.client(device) as dev:  # the device still never sees evidence
        assert dev.get(f"/v1/checks/{body['check_id']}/evidence").status_code == 403

    # The review rules apply from here: confirmed, then retention_confirmed_days (1), then gone.
    now = datetime.now(UTC)
    with gw.client(gw.token("ncb_analyst")) as analyst:
        assert analyst.post(f"/v1/checks/{body['check_id']}/review",
                            json={"outcome": "confirmed", "comment": "central hit"}
                            ).status_code == 200
    engine, settings = gw.runtime.engine, gw.settings
    assert purge(engine, settings, now=now + timedelta(hours=20)).probe_images_deleted == 0
    assert purge(engine, settings, now=now + timedelta(days=1, hours=1)).probe_images_deleted == 2
    assert _probes(gw, body["check_id"]) == []


def test_a_capture_held_for_central_survives_the_purge_then_goes_with_a_no_hit(
    gw: LiveGateway, shared_data: Path
) -> None:
    photo = sorted(lfw_people(shared_data)[74].glob("*.jpg"))[0].read_bytes()
    stub = gw.runtime.upstream.stub.url
    assert httpx.post(stub + "/admin/faults", json={"outage": True}, timeout=10).status_code == 200
    with gw.client(gw.token("device")) as dev:
        body = dev.post("/v1/checks", data=PURPOSE, files={"face": ("p.jpg", photo)}).json()
        assert body["decision"] == "no_hit", body
        # Central is down: the nightly purge must not take the capture meanwhile.
        purge(gw.runtime.engine, gw.settings)
        assert [p.content_type for p in _probes(gw, body["check_id"])] == [HELD_TYPE]
        # Held for central is not evidence: no reviewer sees it while the check is no hit.
        with gw.client(gw.token("ncb_analyst")) as analyst:
            evidence = analyst.get(f"/v1/checks/{body['check_id']}/evidence").json()
        assert evidence["probe"]["images"] == []
        assert [p.content_type for p in _probes(gw, body["check_id"])] == [HELD_TYPE]
        httpx.post(stub + "/admin/faults", json={"outage": False}, timeout=10)
        view = _wait_completed(dev, body["check_id"])
    assert view["decision"] == "no_hit" and view["upstream"]["result"]["decision"] == "no_hit"
    assert _probes(gw, body["check_id"]) == []  # deleted with central's answer
