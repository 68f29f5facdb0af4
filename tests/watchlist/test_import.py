"""Bulk import: the CLI on a manifest folder (progress, summary, resumable) and the API job."""

from __future__ import annotations

import base64
import csv
import io
import json
import time
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import LiveGateway
from tests.watchlist.helpers import check_face, lfw_people

FIELDS = ["external_ref", "name", "category", "aliases", "nationality", "faces"]


def _write_manifest(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return folder


def _lfw_rows(people: list[Path], photos: int) -> list[dict]:
    return [
        {
            "external_ref": f"LFW-{p.name}",
            "name": p.name.replace("_", " "),
            "category": "red",
            "faces": ";".join(str(x) for x in sorted(p.glob("*.jpg"))[:photos]),
        }
        for p in people
    ]


@pytest.fixture()
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from gateway.settings import get_settings

    monkeypatch.setenv("FIELDCHECK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIELDCHECK_COUNTRY", "KE")
    get_settings.cache_clear()
    # The gateway's database exists (the CLI refuses to create one where none is expected).
    from gateway import db

    (tmp_path / "data").mkdir()
    db.create_all(db.make_engine(get_settings().effective_database_url))
    yield tmp_path / "data"
    get_settings.cache_clear()


def _run(args: list[str]):  # type: ignore[no-untyped-def]
    from gateway.cli import app

    return CliRunner().invoke(app, args, catch_exceptions=False)


def test_cli_import_summary_and_resume(cli_env: Path, shared_data: Path, tmp_path: Path) -> None:
    people = lfw_people(shared_data)[:6]
    not_a_face = shared_data / "fingerprints" / "fvc2002_db1_b" / "101_1.tif"
    rows = _lfw_rows(people, 2)
    rows[0]["faces"] += f";{not_a_face}"  # refused image, the record still goes in
    rows += [
        {
            "external_ref": "X-1",
            "name": "Missing Photo",
            "category": "red",
            "faces": str(tmp_path / "nowhere.jpg"),
        },
        {"external_ref": "X-2", "name": "Bad Category", "category": "violet", "faces": ""},
        {"external_ref": "X-3", "name": "Bad Country", "category": "red", "nationality": "XX"},
        {"external_ref": rows[1]["external_ref"], "name": "Duplicate", "category": "red"},
        {"external_ref": "X-4", "name": "Aliased", "category": "deportee", "aliases": "A1;A2"},
    ]
    folder = _write_manifest(tmp_path / "batch", rows)
    result = _run(["watchlist", "import", str(folder), "--json", "--allow-outside"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert (summary["imported"], summary["skipped"], summary["rejected"]) == (6, 0, 5)
    reasons = {r["external_ref"]: r["reason"] for r in summary["rejected_records"]}
    assert "no biometric" in reasons["X-4"]  # a name-only record could never match
    assert "missing" in reasons["X-1"]
    assert "unknown category 'violet'" in reasons["X-2"]
    assert "ISO 3166" in reasons["X-3"]
    assert "duplicate external_ref" in reasons[rows[1]["external_ref"]]
    refused = {i["file"]: i["reason"] for i in summary["refused_images"]}
    assert refused.keys() == {str(not_a_face), str(tmp_path / "nowhere.jpg")}
    assert refused[str(not_a_face)].startswith("no_face")
    assert "Rejected records" in result.output  # the human-readable table too
    assert "loading matcher models" in result.output  # its own phase, not a bar stuck at 0

    again = json.loads(
        _run(["watchlist", "import", str(folder), "--json", "--allow-outside"]).output.splitlines()[-1]
    )
    assert (again["imported"], again["skipped"], again["rejected"]) == (0, 6, 5)

    from sqlmodel import Session, select

    from gateway import db
    from gateway.audit.models import AuditEntry
    from gateway.settings import get_settings
    from gateway.watchlist.models import BiometricTemplate, Subject

    engine = db.make_engine(get_settings().effective_database_url)
    with Session(engine) as session:
        subjects = list(session.exec(select(Subject)))
        assert len(subjects) == 6
        assert len(list(session.exec(select(BiometricTemplate)))) == 12
        actions = [e.action for e in session.exec(select(AuditEntry))]
    assert actions.count("subject.create") == 6 and actions.count("biometric.face.enrol") == 12
    assert actions.count("watchlist.batch.start") == 2 == actions.count("watchlist.batch.finish")


def test_json_manifest_and_fingerprints(cli_env: Path, shared_data: Path, tmp_path: Path) -> None:
    prints = shared_data / "fingerprints" / "fvc2002_db1_b"
    folder = tmp_path / "json"
    folder.mkdir()
    doc = {
        "subjects": [
            {
                "external_ref": "FP-1",
                "name": "Print One",
                "category": "blue",
                "fingerprints": [
                    {"position": 2, "path": str(prints / "101_1.tif")},
                    {"position": 2, "path": str(prints / "101_2.tif")},
                ],
            },
            {
                "external_ref": "FP-2",
                "name": "Bad Position",
                "category": "blue",
                "fingerprints": [{"position": 14, "path": str(prints / "102_1.tif")}],
            },
        ]
    }
    (folder / "manifest.json").write_text(json.dumps(doc))
    summary = json.loads(
        _run(["watchlist", "import", str(folder), "--json", "--allow-outside"]).output.splitlines()[-1]
    )
    assert summary["imported"] == 1 and summary["rejected"] == 1
    assert "position" in summary["rejected_records"][0]["reason"]


def _wait_job(admin, job_id: str) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = admin.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError("job did not finish")


def test_api_batch_job_json_and_zip(
    gateway: LiveGateway, device_token: str, shared_data: Path
) -> None:
    people = lfw_people(shared_data)[40:44]
    photo = sorted(people[0].glob("*.jpg"))
    body = {
        "subjects": [
            {
                "external_ref": "API-1",
                "name": "Api One",
                "category": "orange",
                "faces": [base64.b64encode(photo[0].read_bytes()).decode(), "bm90IGFuIGltYWdl"],
            },
            {"external_ref": "API-2", "name": "No Pictures", "category": "yellow", "faces": ["%%"]},
        ]
    }
    with gateway.client() as admin:
        r = admin.post("/v1/subjects:batch", json=body)
        assert r.status_code == 202, r.text
        assert r.headers["location"] == f"/v1/jobs/{r.json()['id']}"
        job = _wait_job(admin, r.json()["id"])
        assert job["status"] == "done" and job["progress"] == 1.0
        assert (job["imported"], job["rejected"]) == (1, 1)
        assert job["summary"]["refused_images"][0]["file"] == "subjects[0].faces[1]"
        sid = job["results"][0]["subject_id"]

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            lines = ["external_ref,name,category,faces"]
            for p in people[1:]:
                img = sorted(p.glob("*.jpg"))[0]
                zf.writestr(f"batch/img/{img.name}", img.read_bytes())
                lines.append(f"ZIP-{p.name},{p.name},green,img/{img.name}")
            lines.append("ZIP-missing,Ghost,green,img/ghost.jpg")
            zf.writestr("batch/manifest.csv", "\n".join(lines))
        r = admin.post(
            "/v1/subjects:batch",
            content=buf.getvalue(),
            headers={"content-type": "application/zip"},
        )
        job = _wait_job(admin, r.json()["id"])
        assert (job["imported"], job["rejected"]) == (3, 1), job
        assert "missing" in job["summary"]["rejected_records"][0]["reason"]
        assert admin.get("/v1/jobs").json()[0]["id"] == job["id"]
        bad = admin.post("/v1/subjects:batch", content=b"x", headers={"content-type": "text/plain"})
        assert bad.status_code == 422
    with gateway.client(device_token) as dev:
        found = check_face(dev, photo[1])  # searchable at once, no restart
    assert found["decision"] == "hit" and found["candidates"][0]["subject_id"] == sid


@pytest.mark.slow
def test_full_lfw_import(cli_env: Path, shared_data: Path, tmp_path: Path) -> None:
    """All 75 identities x 10 photos; any refused photo is listed with its reason."""
    people = lfw_people(shared_data)
    folder = _write_manifest(tmp_path / "lfw", _lfw_rows(people, 10))
    summary = json.loads(
        _run(["watchlist", "import", str(folder), "--json", "--allow-outside"]).output.splitlines()[-1]
    )
    assert summary["imported"] == 75 and summary["rejected"] == 0
    assert all(r["reason"] for r in summary["refused_images"])
    assert len(summary["refused_images"]) < 40
