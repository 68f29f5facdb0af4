"""Shared helpers for the watchlist tests: LFW photos and enrolment over HTTP."""

from __future__ import annotations

import time
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


def network_settings(network: str | None) -> dict[str, str]:
    """Snapshot settings of a gateway in the test network ``network`` (None: no keys at all).

    Every gateway of one test network signs with the same Ed25519 key and trusts it, the way the
    old shared HMAC key worked, so the provenance tests keep their meaning; a different network
    name gives an unrelated key pair.
    """
    if network is None:
        return {}
    import hashlib

    from gateway.keys import PRIVATE_PREFIX, SnapshotKeys, _b64, public_text

    seed = hashlib.sha256(f"fieldcheck-test-network-{network}".encode()).digest()
    private = PRIVATE_PREFIX + _b64(seed)
    keys = SnapshotKeys.from_settings(private, None)
    assert keys.signing is not None
    return {"snapshot_signing_key": private,
            "snapshot_trusted_keys": public_text(keys.signing.public_key())}


def network_keys(network: str):  # type: ignore[no-untyped-def]
    """The parsed ``SnapshotKeys`` of ``network_settings(network)``."""
    from gateway.keys import SnapshotKeys

    cfg = network_settings(network)
    return SnapshotKeys.from_settings(cfg["snapshot_signing_key"], cfg["snapshot_trusted_keys"])


def wait_job(admin: httpx.Client, job_id: str, *, timeout_s: float = 180) -> dict:
    """Poll ``GET /v1/jobs/{id}`` until the import job is no longer queued or running."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = admin.get(f"/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"import job {job_id} did not finish in {timeout_s:.0f} s")
