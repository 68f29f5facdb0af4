"""Concurrency: the face models and NBIS in parallel threads, checks during watchlist updates."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from matchers import face
from tests.conftest import LiveGateway


def test_parallel_face_extraction_is_safe_and_deterministic(shared_data: Path) -> None:
    photos = sorted((shared_data / "faces" / "lfw").glob("*/*_0001.jpg"))[:12]
    data = [p.read_bytes() for p in photos]
    serial = [face.extract(d).embedding for d in data]
    with ThreadPoolExecutor(max_workers=6) as pool:
        parallel = list(pool.map(lambda d: face.extract(d).embedding, data * 2))
    for a, b in zip(serial * 2, parallel, strict=True):
        assert (abs(a - b) < 1e-5).all()


def test_checks_keep_finding_a_subject_while_it_is_being_updated(
    gateway: LiveGateway, device_token: str, shared_data: Path,
) -> None:
    prints = shared_data / "fingerprints" / "fvc2002_db1_b"
    photo = sorted((shared_data / "faces" / "lfw").glob("*/*_0003.jpg"))[5]
    with gateway.client() as admin:
        sid = admin.post("/v1/subjects", json={"name": "Moving Target", "category": "red"}).json()["id"]
        assert admin.post(f"/v1/subjects/{sid}/fingerprints", data={"position": "2"},
                          files={"image": ("e.tif", (prints / "108_1.tif").read_bytes())}).status_code == 201
        assert admin.post(f"/v1/subjects/{sid}/faces",
                          files={"image": ("f.jpg", photo.read_bytes())}).status_code == 201
    stop = threading.Event()
    updates = 0

    def keep_updating() -> None:
        nonlocal updates
        with gateway.client() as admin:
            while not stop.is_set():
                admin.patch(f"/v1/subjects/{sid}", json={"notes": f"update {updates}"})
                updates += 1

    def check(i: int) -> tuple[str, str | None]:
        files = {"finger_2": ("p.tif", (prints / "108_1.tif").read_bytes())}
        if i % 2:
            files["face"] = ("f.jpg", photo.read_bytes())
        with gateway.client(device_token) as c:
            body = c.post("/v1/checks", files=files, data={"purpose": "port entry"}).json()
        top = body["candidates"][0]["subject_id"] if body.get("candidates") else None
        return body["decision"], top

    updater = threading.Thread(target=keep_updating)
    updater.start()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(check, range(16)))
    finally:
        stop.set()
        updater.join(30)
    assert updates > 3
    # The enrolled print itself is probed: every check must find the subject, update or not.
    assert all(decision == "hit" and top == sid for decision, top in results), results
    with gateway.client(token=None) as c:
        assert c.get("/healthz").status_code == 200
