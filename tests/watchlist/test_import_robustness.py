"""One bad image never stops a bulk import: a corrupt WSQ print and an unreadable file."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from tests.conftest import LiveGateway
from tests.watchlist.helpers import lfw_people, wait_job


def _corrupt_wsq(shared_data: Path) -> bytes:
    """A valid WSQ print with a few bytes in the middle of its coded data overwritten."""
    import wsq  # noqa: F401 - registers the WSQ codec with Pillow
    from PIL import Image

    src = shared_data / "fingerprints" / "fvc2002_db1_b" / "101_1.tif"
    buf = io.BytesIO()
    Image.open(src).convert("L").save(buf, "WSQ")
    data = bytearray(buf.getvalue())
    middle = len(data) // 2
    data[middle : middle + 4] = b"\xff\xff\xff\xff"  # stray markers: the NBIS decoder gives up
    return bytes(data)


def _zip_with_bad_member(members: dict[str, bytes], bad: str) -> bytes:
    """Stored (uncompressed) members, then one byte of ``bad``'s data flipped: its CRC fails."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    blob = bytearray(buf.getvalue())
    at = bytes(blob).index(members[bad]) + len(members[bad]) // 2
    blob[at] ^= 0xFF
    return bytes(blob)


def test_corrupt_wsq_and_unreadable_file_do_not_stop_the_job(
    gateway: LiveGateway, shared_data: Path
) -> None:
    people = lfw_people(shared_data)[50:52]
    face_a, face_b = (sorted(p.glob("*.jpg"))[0].read_bytes() for p in people)
    members = {
        "manifest.csv": (
            b"external_ref,name,category,faces,fingerprints\n"
            b"ROB-1,Corrupt Print,red,img/a.jpg,2:prints/bad.wsq\n"
            b"ROB-2,Unreadable Photo,red,img/unreadable.jpg,\n"
            b"ROB-3,Good Photo,red,img/b.jpg,\n"
        ),
        "img/a.jpg": face_a,
        "prints/bad.wsq": _corrupt_wsq(shared_data),
        "img/unreadable.jpg": b"\x89JPEG-ish " + bytes(range(256)) * 8,
        "img/b.jpg": face_b,
    }
    blob = _zip_with_bad_member(members, "img/unreadable.jpg")
    with gateway.client() as admin:
        r = admin.post(
            "/v1/subjects:batch", content=blob, headers={"content-type": "application/zip"}
        )
        assert r.status_code == 202, r.text
        job = wait_job(admin, r.json()["id"])
    assert job["status"] == "done", job
    assert job["processed"] == job["total"] == 3
    by_ref = {r["external_ref"]: r for r in job["results"]}
    assert by_ref["ROB-1"]["status"] == "imported" and by_ref["ROB-1"]["faces"] == 1
    refused = {i["file"]: i["reason"] for i in job["summary"]["refused_images"]}
    assert "corrupt" in refused["prints/bad.wsq"], refused
    assert "unreadable" in refused["img/unreadable.jpg"], refused
    assert by_ref["ROB-2"]["status"] == "rejected"
    assert "no usable image" in by_ref["ROB-2"]["reason"]
    assert by_ref["ROB-3"]["status"] == "imported"
