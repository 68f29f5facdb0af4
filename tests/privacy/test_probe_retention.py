"""Probe data: nothing left after a no_hit, a hit's evidence kept until review + retention, the
evidence side by side for analysts and never for devices."""

from __future__ import annotations

import base64
import io
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import Session, select

from gateway.checks.models import Check
from gateway.errors import Conflict
from gateway.privacy.models import ProbeImage
from gateway.privacy.retention import PurgeJob, evidence_deadline, purge
from gateway.upstream.models import OutboxItem
from gateway.upstream.queue import SqlQueueStorage
from matchers import face as face_matcher
from matchers import fingerprint as finger_matcher
from tests.conftest import LiveGateway
from tests.watchlist.helpers import lfw_people

PURPOSE = {"purpose": "port entry"}


def _files_bytes(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _wait_completed(dev, check_id: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        view = dev.get(f"/v1/checks/{check_id}/upstream", params={"wait": 5}).json()
        if view["upstream"]["status"] == "completed":
            return
    raise AssertionError(f"check {check_id} was never acknowledged by central: {view}")


def test_a_no_hit_leaves_no_probe_biometric_anywhere_after_delivery(
    tmp_path: Path, shared_data: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("FIELDCHECK_UPSTREAM_STUB_SUBJECTS", "20")  # a small central, quick to seed
    person = lfw_people(shared_data)[63]
    photo = sorted(person.glob("*.jpg"))[0].read_bytes()
    finger = (shared_data / "fingerprints" / "fvc2000_db1_b" / "108_1.tif").read_bytes()
    # What the probe becomes: the embedding and minutiae the gateway sends to central.
    embedding = face_matcher.extract(photo, refuse_ambiguous=True).to_bytes()
    minutiae = finger_matcher.extract(finger, position=2).to_iso()
    secrets = {
        "face embedding": embedding, "face embedding b64": base64.b64encode(embedding),
        "minutiae": minutiae, "minutiae b64": base64.b64encode(minutiae),
        "photo": photo[200:456], "photo b64": base64.b64encode(photo[300:600])[8:200],
        "print": finger[2000:2256],
    }
    data_dir = tmp_path / "gw"
    # The bundled central stub keeps its files inside the data dir: they are searched too.
    with LiveGateway(data_dir, start_upstream=True) as gw:
        assert gw.runtime.upstream.stub.wait_ready(120)
        with gw.client(gw.token("device")) as dev:
            body = dev.post("/v1/checks", data=PURPOSE,
                            files={"face": ("p.jpg", photo), "finger_2": ("f.tif", finger)}).json()
            assert body["decision"] == "no_hit", body
            _wait_completed(dev, body["check_id"])
        with Session(gw.runtime.engine) as session:
            items = list(session.exec(select(OutboxItem).where(
                OutboxItem.check_id == body["check_id"])))
            probes = list(session.exec(select(ProbeImage)))
        assert len(items) == 1 and items[0].state == "done"  # the delivery record stays
        assert items[0].payload == {"v": 1, "request": {"check_id": body["check_id"]},
                                    "scrubbed": True}
        assert probes == []
        # The nightly purge truncates SQLite's write-ahead log (older page images).
        report = purge(gw.runtime.engine, gw.settings)
        assert report.wal_truncated
    files = _files_bytes(data_dir)
    assert any(p.name == "fieldcheck.db" for p in files)
    assert any(p.parent.name == "index" for p in files)  # the saved cache is searched too
    assert any("central-stub" in p.parts for p in files)
    for path, content in files.items():
        for what, secret in secrets.items():
            assert secret not in content, f"{what} found in {path}"
    logged = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert logged  # the gateway did log its work
    for what, secret in secrets.items():
        if what.endswith("b64"):
            assert secret not in logged, f"{what} found in the log"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with LiveGateway(tmp_path_factory.mktemp("privacy-evidence"), retention_confirmed_days=1,
                     retention_rejected_days=0.5, retention_unreviewed_days=3) as gw:
        yield gw


@pytest.fixture(scope="module")
def hit(gw: LiveGateway, shared_data: Path) -> dict:
    """A subject enrolled with face and print, and a device check that hits it."""
    person = lfw_people(shared_data)[64]
    photos = sorted(person.glob("*.jpg"))
    prints = shared_data / "fingerprints" / "fvc2000_db1_b"
    with gw.client() as admin:
        sid = admin.post("/v1/subjects", json={"name": person.name, "category": "red"}).json()["id"]
        assert admin.post(f"/v1/subjects/{sid}/faces",
                          files={"image": ("a.jpg", photos[0].read_bytes())}).status_code == 201
        assert admin.post(f"/v1/subjects/{sid}/fingerprints", data={"position": "2"},
                          files={"image": ("f.tif", (prints / "102_1.tif").read_bytes())}
                          ).status_code == 201
    device = gw.token("device", "SEEK-EVIDENCE")
    probe_photo = photos[0].read_bytes()
    with gw.client(device) as dev:
        body = dev.post("/v1/checks", data=PURPOSE, files={
            "face": ("p.jpg", probe_photo),
            "finger_2": ("f.tif", (prints / "102_2.tif").read_bytes())}).json()
    assert body["decision"] == "hit" and body["candidates"][0]["subject_id"] == sid
    return {"sid": sid, "check_id": body["check_id"], "device": device}


def test_analyst_sees_probe_and_reference_side_by_side_and_a_device_does_not(
    gw: LiveGateway, hit: dict
) -> None:
    url = f"/v1/checks/{hit['check_id']}/evidence"
    with gw.client(gw.token("ncb_analyst")) as analyst:
        r = analyst.get(url, headers={"X-Access-Reason": "review queue"})
        assert r.status_code == 200, r.text
        evidence = r.json()
        probe = {i["kind"]: i for i in evidence["probe"]["images"]}
        assert set(probe) == {"face", "finger"} and probe["finger"]["position"] == 2
        cand = evidence["candidates"][0]
        assert cand["subject_id"] == hit["sid"] and cand["available"]
        refs = {i["kind"]: i for i in cand["reference_images"]}
        assert set(refs) == {"face", "finger"}  # the thumbnail is for the officer's answer
        served = {k: analyst.get(i["url"]) for k, i in
                  [("probe_face", probe["face"]), ("probe_finger", probe["finger"]),
                   ("ref_face", refs["face"]), ("ref_finger", refs["finger"])]}
    for name, resp in served.items():
        assert resp.status_code == 200, (name, resp.text)
        assert resp.headers["cache-control"] == "no-store"
        Image.open(io.BytesIO(resp.content)).verify()
    assert served["probe_finger"].headers["content-type"] == "image/png"
    assert evidence["retention"]["probe_images_deleted_after"]  # pending: the unreviewed bound
    other_device = gw.token("device", "SEEK-OTHER")
    for token in (hit["device"], other_device):
        with gw.client(token) as dev:
            assert dev.get(url).status_code == 403
            assert dev.get(probe["face"]["url"]).status_code == 403
            assert dev.get(refs["face"]["url"]).status_code == 403
    with gw.client() as admin:
        trail = admin.get("/v1/audit", params={"target_id": hit["check_id"]}).json()["items"]
    reads = [e for e in trail if e["action"].startswith("evidence.")]
    assert {e["action"] for e in reads} == {"evidence.read", "evidence.image.read"}
    first = [e for e in reads if e["action"] == "evidence.read"][0]
    assert first["detail"] == "reason: review queue" and first["actor_role"] == "ncb_analyst"
    assert hit["sid"] in first["after"]["subjects"]


def test_a_hit_keeps_its_evidence_until_review_plus_retention_then_it_is_gone(
    gw: LiveGateway, hit: dict
) -> None:
    engine, settings, check_id = gw.runtime.engine, gw.settings, hit["check_id"]
    with Session(engine) as session:
        blobs = [p.blob for p in session.exec(select(ProbeImage).where(
            ProbeImage.check_id == check_id))]
    assert len(blobs) == 2
    now = datetime.now(UTC)
    assert purge(engine, settings, now=now + timedelta(days=2)).probe_images_deleted == 0
    with gw.client(gw.token("ncb_analyst")) as analyst:
        r = analyst.post(f"/v1/checks/{check_id}/review",
                         json={"outcome": "confirmed", "comment": "same person"})
        assert r.status_code == 200, r.text
        # Review closed: kept for retention_confirmed_days (1) more, then deleted.
        assert purge(engine, settings, now=now + timedelta(hours=20)).probe_images_deleted == 0
        assert len(analyst.get(f"/v1/checks/{check_id}/evidence").json()["probe"]["images"]) == 2
        report = purge(engine, settings, now=now + timedelta(days=1, hours=1))
        assert report.probe_images_deleted == 2 and report.wal_truncated
        after = analyst.get(f"/v1/checks/{check_id}/evidence").json()
    assert after["probe"]["images"] == [] and after["retention"]["probe_images_deleted_after"]
    assert after["candidates"][0]["reference_images"]  # the watchlist's images are not probe data
    with Session(engine) as session:
        assert session.exec(select(ProbeImage).where(ProbeImage.check_id == check_id)).all() == []
    raw = b"".join(p.read_bytes() for p in gw.settings.data_dir.glob("fieldcheck.db*"))
    for blob in blobs:  # not even the sealed bytes remain in the file (secure_delete + WAL)
        assert blob[:64] not in raw
    with gw.client() as admin:
        purges = admin.get("/v1/audit", params={"action": "privacy.purge"}).json()["items"]
    assert any(check_id in e["after"]["checks"] for e in purges)


def test_purge_leaves_nothing_older_than_its_rule(gw: LiveGateway, shared_data: Path) -> None:
    """Checks in every review state and a stale dead letter; after a purge at time T, every
    probe image left is one whose deadline is after T."""
    person = lfw_people(shared_data)[65]
    photo = sorted(person.glob("*.jpg"))[0].read_bytes()
    with gw.client() as admin:
        sid = admin.post("/v1/subjects", json={"name": person.name, "category": "blue"}).json()["id"]
        assert admin.post(f"/v1/subjects/{sid}/faces",
                          files={"image": ("a.jpg", photo)}).status_code == 201
    with gw.client(gw.token("device")) as dev:
        ids = [dev.post("/v1/checks", data=PURPOSE, files={"face": ("p.jpg", photo)}).json()
               ["check_id"] for _ in range(3)]
    with gw.client(gw.token("ncb_analyst")) as analyst:
        analyst.post(f"/v1/checks/{ids[0]}/review", json={"outcome": "rejected", "comment": "no"})
        analyst.post(f"/v1/checks/{ids[1]}/review", json={"outcome": "confirmed", "comment": "yes"})
    engine, settings = gw.runtime.engine, gw.settings
    now = datetime.now(UTC)
    with Session(engine) as session:
        session.add(OutboxItem(check_id=ids[2], idempotency_key=f"{ids[2]}:old", payload={
            "v": 1, "request": {"check_id": ids[2], "faces": ["AAAA"]}}, state="dead",
            created_at=0, available_at=0, expires_at=0,
            finished_at=(now - timedelta(days=settings.retention_undelivered_days + 1)).timestamp()))
        session.commit()
    for days in (0.75, 1.5, 3.5):  # rejected (0.5 d) goes, then confirmed (1 d), then unreviewed (3 d)
        at = now + timedelta(days=days)
        purge(engine, settings, now=at)
        with Session(engine) as session:
            left = {p.check_id for p in session.exec(select(ProbeImage))}
            for check_id in left:
                deadline = evidence_deadline(session.get(Check, check_id), settings)
                assert deadline is not None and deadline > at, (days, check_id)
            assert (ids[0] in left, ids[1] in left, ids[2] in left) == (
                False, days < 1, days < 3)
            dead = session.exec(select(OutboxItem).where(
                OutboxItem.idempotency_key == f"{ids[2]}:old")).one()
            assert dead.payload["scrubbed"] and "faces" not in dead.payload["request"]
    # A scrubbed dead letter cannot be sent to central again: it has no biometrics left.
    with pytest.raises(Conflict, match="retention"):
        SqlQueueStorage(engine).requeue(dead.id or 0, now=time.time(), ttl_s=60)


def test_nightly_job_waits_for_the_configured_hour(gw: LiveGateway) -> None:
    job = PurgeJob(gw.runtime.engine, gw.settings)  # default hour 02:00 UTC
    assert job.seconds_to_next(datetime(2026, 12, 1, 1, 30, tzinfo=UTC)) == 1800
    assert job.seconds_to_next(datetime(2026, 12, 1, 2, 0, tzinfo=UTC)) == 24 * 3600
    assert job.seconds_to_next(datetime(2026, 12, 1, 23, 0, tzinfo=UTC)) == 3 * 3600
