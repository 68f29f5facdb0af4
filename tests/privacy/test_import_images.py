"""Bulk import keeps sealed reference images like single enrolment: imported subjects can be
re-extracted and shown to reviewers, the import still resumes, the database still shows no image."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from gateway.cli import app as cli_app
from gateway.privacy.models import ReferenceImage
from gateway.privacy.service import open_reference
from gateway.settings import get_settings
from gateway.watchlist.models import BiometricTemplate
from matchers import face as face_matcher
from matchers import fingerprint as finger_matcher
from matchers.templates import FaceTemplate
from tests.conftest import LiveGateway
from tests.privacy.test_reference_images import IMAGE_SIGNATURES
from tests.watchlist.helpers import lfw_people, wait_job

PURPOSE = {"purpose": "port entry"}
EXIF_ORIENTATION, EXIF_MAKE = 0x0112, 0x010F


def sideways_with_exif(photo: Path) -> tuple[bytes, tuple[int, int]]:
    """The photo cropped to a portrait, stored sideways with EXIF orientation 6 (as a phone
    writes it) and a camera make; returns the JPEG and the upright size."""
    with Image.open(photo) as im:
        upright = im.convert("RGB").crop((25, 0, 225, 250))  # 200 x 250
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # 250 x 200, face lying on its side
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # "turn 90° clockwise to display"
    exif[EXIF_MAKE] = "PhoneCo"
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue(), upright.size


@pytest.fixture()
def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "gw"
    monkeypatch.setenv("FIELDCHECK_DATA_DIR", str(data_dir))
    get_settings.cache_clear()  # the CLI works on the gateway's own database and key file
    with LiveGateway(data_dir) as gw:
        yield gw
    get_settings.cache_clear()


def _cli(*args: str) -> dict:
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def _images_by_template(engine) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        out: dict[str, set[str]] = {t.id: set() for t in session.exec(select(BiometricTemplate))}
        for ref in session.exec(select(ReferenceImage)):
            out.setdefault(ref.template_id or "?", set()).add(ref.kind)
    return out


def _api_import_kept_images(gw: LiveGateway, shared_data: Path) -> tuple[bytes, bytes]:
    """Phase 1: an API import job keeps the images (the console's import page starts the same
    job) and they serve review; returns the imported photo and print."""
    people = lfw_people(shared_data)
    prints = shared_data / "fingerprints" / "fvc2000_db1_b"
    alice = sorted(people[71].glob("*.jpg"))
    sideways, upright_size = sideways_with_exif(alice[0])
    finger = (prints / "103_1.tif").read_bytes()
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731

    # 1. The API job (also what the console's import page starts).
    batch = {"subjects": [
        {"external_ref": "IMP-A", "name": "Imported A", "category": "red",
         "faces": [b64(sideways)], "fingerprints": [{"position": 2, "image": b64(finger)}]},
    ]}
    with gw.client() as admin:
        r = admin.post("/v1/subjects:batch", json=batch)
        assert r.status_code == 202, r.text
        job = wait_job(admin, r.json()["id"])
    assert job["status"] == "done" and job["imported"] == 1, job
    result = job["results"][0]
    sid = result["subject_id"]
    assert result["reference_images"] == 3  # face, its thumbnail, the print

    with gw.client(gw.token("ncb_analyst")) as analyst:
        subject = analyst.get(f"/v1/subjects/{sid}").json()
        refs = {i["kind"]: i for i in subject["reference_images"]}
        assert set(refs) == {"face", "face_thumb", "finger"}
        face = analyst.get(refs["face"]["url"])
        wsq = analyst.get(refs["finger"]["url"], params={"format": "original"})
    assert face.status_code == 200 and wsq.status_code == 200
    photo = Image.open(io.BytesIO(face.content))
    assert photo.format == "JPEG" and not photo.getexif()  # no orientation, no camera make
    assert photo.size == upright_size  # turned upright before storing
    assert wsq.content[:2] == b"\xff\xa0"  # the print kept as WSQ

    # The officer gets the imported subject's thumbnail; the analyst sees both sides.
    with gw.client(gw.token("device")) as dev:
        body = dev.post("/v1/checks", data=PURPOSE, files={
            "face": ("p.jpg", alice[1].read_bytes()),
            "finger_2": ("f.tif", (prints / "103_2.tif").read_bytes())}).json()
    assert body["decision"] == "hit" and body["candidates"][0]["subject_id"] == sid, body
    thumb = body["candidates"][0]["reference_thumbnail"]
    assert thumb is not None
    assert max(Image.open(io.BytesIO(base64.b64decode(thumb["data_base64"]))).size) <= 160
    with gw.client(gw.token("ncb_analyst")) as analyst:
        evidence = analyst.get(f"/v1/checks/{body['check_id']}/evidence").json()
    cand = evidence["candidates"][0]
    assert cand["subject_id"] == sid
    assert {i["kind"] for i in cand["reference_images"]} == {"face", "finger"}
    assert {i["kind"] for i in evidence["probe"]["images"]} == {"face", "finger"}
    return sideways, finger


def _no_image_in_the_file(gw: LiveGateway, sources: list[bytes]) -> None:
    """A stolen database file, without the key file, still shows no picture; the key opens it."""
    raw = b"".join(p.read_bytes() for p in gw.settings.data_dir.glob("fieldcheck.db*"))
    for signature in IMAGE_SIGNATURES:
        assert signature not in raw, signature
    for source in sources:
        assert source[300:556] not in raw
    with Session(gw.runtime.engine) as session:
        row = session.exec(select(ReferenceImage).where(ReferenceImage.kind == "face")).first()
        assert row is not None
        decoded = np.asarray(Image.open(io.BytesIO(open_reference(gw.runtime.keyring, row))))
        assert decoded.ndim == 3  # the key opens it


def test_an_api_import_keeps_sealed_images_for_review(gw: LiveGateway, shared_data: Path) -> None:
    """The default suite's test of images kept by bulk import (the API job; the CLI runs the
    same importer and is tested, with resume and re-extraction, in the slow test below)."""
    sideways, finger = _api_import_kept_images(gw, shared_data)
    _no_image_in_the_file(gw, [sideways, finger])


@pytest.mark.slow  # ~20 s: two more import runs (worker processes) and a re-extraction
def test_imported_subjects_keep_sealed_images_for_review_reextraction_and_resume(
    gw: LiveGateway, shared_data: Path, tmp_path: Path
) -> None:
    sideways, finger = _api_import_kept_images(gw, shared_data)
    people = lfw_people(shared_data)
    prints = shared_data / "fingerprints" / "fvc2000_db1_b"

    # 2. The CLI on a manifest folder, run twice: the second run resumes (skips) and adds nothing.
    bob = sorted(people[72].glob("*.jpg"))
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "bob.jpg").write_bytes(bob[0].read_bytes())
    (folder / "bob_r.tif").write_bytes((prints / "104_1.tif").read_bytes())
    with (folder / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["external_ref", "name", "category", "faces",
                                                "fingerprints"])
        writer.writeheader()
        writer.writerow({"external_ref": "IMP-B", "name": "Imported B", "category": "red",
                         "faces": "bob.jpg", "fingerprints": "3:bob_r.tif"})
    first = _cli("watchlist", "import", str(folder), "--json", "--workers", "1")
    assert first["imported"] == 1, first
    per_template = _images_by_template(gw.runtime.engine)
    assert len(per_template) == 4
    assert sorted(map(sorted, per_template.values())) == [
        ["face", "face_thumb"], ["face", "face_thumb"], ["finger"], ["finger"]]
    again = _cli("watchlist", "import", str(folder), "--json", "--workers", "1")
    assert (again["imported"], again["skipped"]) == (0, 1)
    assert _images_by_template(gw.runtime.engine) == per_template

    # 3. A matcher change: every imported template can be re-extracted from its sealed image.
    engine = gw.runtime.engine
    with Session(engine) as session:
        before = {(t.subject_id, t.modality, t.position): t.data
                  for t in session.exec(select(BiometricTemplate))}
        for tpl in session.exec(select(BiometricTemplate)):
            tpl.model = "an-older-model"
            session.add(tpl)
        session.commit()
    report = _cli("watchlist", "reextract", "--json")
    assert (report["outdated"], report["reextracted"]) == (4, 4), report
    assert report["without_image"] == [] and report["failed"] == {}
    with Session(engine) as session:
        after = list(session.exec(select(BiometricTemplate)))
        assert {t.model for t in after} == {face_matcher.MODEL_ID, finger_matcher.EXTRACTOR_ID}
        for tpl in after:
            old = before[(tpl.subject_id, tpl.modality, tpl.position)]
            if tpl.modality == "face":  # the same face from the stored JPEG
                sim = float(FaceTemplate.from_bytes(tpl.data).embedding
                            @ FaceTemplate.from_bytes(old).embedding)
                assert sim > 0.95, sim
            else:
                assert tpl.data[:4] == b"FMR\x00" and tpl.quality["minutiae"] >= 12
        assert session.exec(select(func.count()).select_from(ReferenceImage).where(
            ReferenceImage.template_id.not_in([t.id for t in after]))).one() == 0  # type: ignore[union-attr]

    # 4. A stolen database file, without the key file, still shows no picture.
    _no_image_in_the_file(gw, [sideways, bob[0].read_bytes(), finger])
