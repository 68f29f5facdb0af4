"""Shared helpers for the watchlist tests: LFW photos and enrolment over HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest


def lfw_people(shared_data: Path) -> list[Path]:
    root = shared_data / "faces" / "lfw"
    if not root.is_dir():
        pytest.skip("LFW not in shared data")
    return sorted(p for p in root.iterdir() if p.is_dir())


def enrol(admin: httpx.Client, person: Path, *, photo: int = 0, **fields: object) -> str:
    """Create a subject named after the LFW identity and enrol one of its photos."""
    body = {"name": person.name.replace("_", " "), "category": "red", **fields}
    r = admin.post("/v1/subjects", json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    photos = sorted(person.glob("*.jpg"))
    for candidate in photos[photo:] + photos[:photo]:
        r = admin.post(
            f"/v1/subjects/{sid}/faces", files={"image": (candidate.name, candidate.read_bytes())}
        )
        if r.status_code == 201:
            return sid
    raise AssertionError(f"no photo of {person.name} could be enrolled")


def check_face(device: httpx.Client, photo: Path) -> dict:
    r = device.post("/v1/checks", files={"face": (photo.name, photo.read_bytes())},
                    data={"purpose": "port entry"})
    assert r.status_code == 200, r.text
    return r.json()
