"""Fingerprint captures through the gateway: the image's own resolution, refusals that name the
resolution, and NFIQ 2 failures that are not low quality (issue 12)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import LiveGateway

PROBLEM = "application/problem+json"


def _fvc(shared_data: Path, name: str) -> np.ndarray:
    from matchers.images import decode_image

    path = shared_data / "fingerprints" / "fvc2002_db1_b" / name
    if not path.exists():
        pytest.skip("fvc2002_db1_b not in the shared data")
    return decode_image(path.read_bytes(), mode="L")


def _png(pixels: np.ndarray, dpi: int | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", **({"dpi": (dpi, dpi)} if dpi else {}))
    return buf.getvalue()


def _faint(pixels: np.ndarray) -> np.ndarray:
    """A very light print (like FVC2000 DB1 finger 110): NFIQ 2 fails to compute on it."""
    return (255 - (255 - pixels.astype(np.float32)) * 0.12).astype(np.uint8)


@pytest.fixture(scope="module")
def enrolled(gateway: LiveGateway, shared_data: Path) -> str:
    with gateway.client() as c:
        sid = c.post("/v1/subjects", json={"name": "Resolution Case", "category": "red"}).json()["id"]
        r = c.post(f"/v1/subjects/{sid}/fingerprints", data={"position": "2"},
                   files={"image": ("101_1.png", _png(_fvc(shared_data, "101_1.tif")))})
        assert r.status_code == 201, r.text
    return sid


def test_1000ppi_png_without_ppi_field_finds_the_subject(
    gateway: LiveGateway, device_token: str, enrolled: str, shared_data: Path
) -> None:
    px = _fvc(shared_data, "101_2.tif")
    double = cv2.resize(px, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", files={"finger_2": ("f.png", _png(double, 1000))},
                   data={"purpose": "port entry"})
    assert r.status_code in (200, 201), r.text
    body = r.json()
    assert body["decision"] in ("hit", "possible"), body
    assert body["candidates"][0]["subject_id"] == enrolled
    assert body["quality"]["finger_2"]["ppi"] == 1000


def test_low_resolution_is_a_422_naming_it_not_recapture(
    gateway: LiveGateway, device_token: str, shared_data: Path
) -> None:
    small = cv2.resize(_fvc(shared_data, "101_2.tif"), None, fx=0.6, fy=0.6)
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", files={"finger_3": ("f.png", _png(small, 300))},
                   data={"purpose": "port entry"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["field"] == "finger_3" and body["reason"] == "resolution_too_low"
    assert "300 ppi" in body["detail"]


def test_nfiq2_failure_is_reported_unknown_not_low_quality(
    gateway: LiveGateway, device_token: str, enrolled: str, shared_data: Path
) -> None:
    faint = _png(_faint(_fvc(shared_data, "101_2.tif")))
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", files={"finger_2": ("f.png", faint)},
                   data={"purpose": "port entry"})
    assert r.status_code in (200, 201), r.text
    q = r.json()["quality"]["finger_2"]
    assert q["nfiq2"] is None and q["minutiae"] >= 8
    assert q["status"] == "ok", q
    with gateway.client() as c:
        r = c.post(f"/v1/subjects/{enrolled}/fingerprints", data={"position": "7"},
                   files={"image": ("f.png", faint)})
    assert r.status_code == 201, r.text
