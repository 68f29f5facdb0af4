"""Concurrent checks and enrolments: dlib and NBIS run in parallel threads without crashing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from matchers import face


def test_parallel_face_extraction_is_safe_and_deterministic(shared_data: Path) -> None:
    photos = sorted((shared_data / "faces" / "lfw").glob("*/*_0001.jpg"))[:12]
    data = [p.read_bytes() for p in photos]
    serial = [face.extract(d).embedding for d in data]
    with ThreadPoolExecutor(max_workers=6) as pool:
        parallel = list(pool.map(lambda d: face.extract(d).embedding, data * 2))
    for a, b in zip(serial * 2, parallel, strict=True):
        assert (abs(a - b) < 1e-5).all()


def test_concurrent_checks_over_http(gateway, device_token, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    photos = sorted((shared_data / "faces" / "lfw").glob("*/*_0002.jpg"))[:8]
    prints = sorted((shared_data / "fingerprints" / "fvc2002_db3_b").glob("*_1.tif"))[:8]

    def check(i: int) -> int:
        with gateway.client(device_token) as c:
            files = {"face": ("f.jpg", photos[i].read_bytes()),
                     "finger_2": ("p.tif", prints[i].read_bytes())}
            return c.post("/v1/checks", files=files).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(check, range(8)))
    assert codes == [200] * 8
    with gateway.client(token=None) as c:
        assert c.get("/healthz").status_code == 200
