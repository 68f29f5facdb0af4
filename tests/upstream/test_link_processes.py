"""The central link with real processes on loopback: the stub and the gateway as subprocesses.

Fast scenarios share one stub and one gateway (module scope); kill -9, slow central and expiry
each need their own gateway and are marked slow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import shared_data_dir
from tests.upstream.procs import (
    Gateway,
    Stub,
    finger_check,
    gateway_running,
    stub_running,
    td3_mrz,
)

FVC = "fingerprints/fvc2002_db1_b"


@pytest.fixture(scope="module")
def prints() -> list[Path]:
    folder = shared_data_dir() / FVC
    if not folder.is_dir():
        pytest.skip(f"real fingerprints not found at {folder} (set FIELDCHECK_SHARED_DATA_DIR)")
    return sorted(folder.glob("*_1.tif")) + sorted(folder.glob("*_2.tif"))


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stub]:
    yield from stub_running(tmp_path_factory.mktemp("central"))


@pytest.fixture(scope="module")
def gateway(stub: Stub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from gateway_running(tmp_path_factory.mktemp("gateway"), stub)


@pytest.fixture()
def clean_stub(stub: Stub) -> Stub:
    stub.faults(outage=False, latency_ms=0, error_rate=0, timeout_rate=0, reject_rate=0,
                malformed_rate=0, wrong_check_rate=0)
    httpx.delete(stub.url + "/admin/deliveries", timeout=10)
    return stub


def wait_status(device: httpx.Client, check_id: str, want: str, *, timeout_s: float = 30) -> dict:
    """The device's way: long-poll until the check's central status is ``want``."""
    deadline = time.monotonic() + timeout_s
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = device.get(f"/v1/checks/{check_id}/upstream", params={"wait": 5})
        assert r.status_code == 200, r.text
        view = r.json()
        if view["upstream"]["status"] == want:
            return view
    raise AssertionError(f"check {check_id} never reached {want}: {view}")


def wait_until(predicate: Any, *, timeout_s: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_outage_then_back_delivers_each_check_once_and_cycles_the_circuit(
    gateway: Gateway, clean_stub: Stub, prints: list[Path]
) -> None:
    clean_stub.faults(outage=True)
    device = gateway.device()
    checks = [finger_check(device, p) for p in prints[:4]]
    # The officer's answer came at once, with the query queued for central.
    assert all(c["decision"] in ("no_hit", "possible", "hit", "recapture") for c in checks)
    assert all(c["upstream"]["status"] == "queued" for c in checks)
    wait_until(lambda: gateway.status()["circuit"] == "open", what="the circuit to open")
    down = gateway.status()
    assert down["link"] == "down" and down["queue_depth"] == 4
    assert any("503" in f["reason"] for f in down["recent_failures"])

    clean_stub.faults(outage=False)
    for c in checks:
        view = wait_status(device, c["check_id"], "completed")
        assert view["upstream"]["result"]["decision"] in ("hit", "possible", "no_hit")
    up = gateway.wait_drained()
    assert up["circuit"] == "closed" and up["circuit_opened"] >= 1
    assert clean_stub.deliveries()["unique"] == 4
    metrics = gateway.admin.get("/metrics").text
    assert "fieldcheck_upstream_queue_depth 0.0\n" in metrics


def test_central_hit_the_local_watchlist_lacks_upgrades_the_check(
    gateway: Gateway, clean_stub: Stub, prints: list[Path]
) -> None:
    from matchers import fingerprint

    probe = prints[6]
    template = fingerprint.extract(probe.read_bytes(), position=2)
    import base64

    r = httpx.post(clean_stub.url + "/admin/subjects", json={
        "id": "CENTRAL-ONLY-1", "surname": "RAKOTO", "given_names": "HERY", "category": "red",
        "fingers": [{"position": 2, "iso_19794_2": base64.b64encode(template.to_iso()).decode()}],
    }, timeout=30)
    assert r.status_code == 200, r.text
    device = gateway.device()
    check = finger_check(device, probe)
    assert check["local_decision"] == "no_hit" and check["decision"] == "no_hit"

    view = wait_status(device, check["check_id"], "completed")
    assert view["decision"] == "hit" and view["review"]["status"] == "pending"
    assert view["central"]["candidates"][0]["subject_id"] == "CENTRAL-ONLY-1"
    full = device.get(f"/v1/checks/{check['check_id']}").json()
    assert full["decision"] == "hit" and full["local_decision"] == "no_hit"
    assert full["upstream"]["result"]["candidates"][0]["subject_id"] == "CENTRAL-ONLY-1"
    assert full["review"]["status"] == "pending"


def test_stolen_document_is_caught_locally_at_once_and_by_central(
    gateway: Gateway, clean_stub: Stub, prints: list[Path]
) -> None:
    from gateway.upstream.stub.seed import synthetic_document

    wait_until(lambda: gateway.status()["document_list_version"] > 0, what="the feed")
    stolen = synthetic_document(1, 1)  # the stub's seed 1
    mrz = td3_mrz(number=stolen["document_number"], state=stolen["issuing_state"])
    device = gateway.device()
    check = finger_check(device, prints[1], mrz=mrz)
    local = check["document"]["check"]
    assert (local["status"], local["source"], local["hit"]) == (stolen["status"], "local", True)
    assert check["decision"] == "hit"
    view = wait_status(device, check["check_id"], "completed")
    assert view["upstream"]["result"]["document"]["status"] == stolen["status"]


def test_bad_answers_are_retried_never_applied(
    gateway: Gateway, clean_stub: Stub, prints: list[Path]
) -> None:
    clean_stub.faults(malformed_rate=1.0)
    device = gateway.device()
    first = finger_check(device, prints[2])
    wait_until(lambda: any("not JSON" in f["reason"] for f in gateway.status()["recent_failures"]),
               what="a malformed-answer failure")
    clean_stub.faults(malformed_rate=0.0, wrong_check_rate=1.0)
    second = finger_check(device, prints[3])
    # After the malformed answers the circuit is open and its probes carry the oldest item (the
    # first check), so the wrong-check answer may come for either check: both are refused.
    ours = (first["check_id"], second["check_id"])
    wait_until(lambda: any(f["reason"].startswith("central answered for check ")
                           and f["reason"].endswith(tuple(f"not '{c}'" for c in ours))
                           for f in gateway.status()["recent_failures"]),
               what="a wrong-check failure")
    assert device.get(f"/v1/checks/{second['check_id']}/upstream").json()["upstream"][
        "status"] in ("queued", "pending")
    clean_stub.faults(wrong_check_rate=0.0)
    for c in (first, second):
        view = wait_status(device, c["check_id"], "completed")
        assert view["upstream"]["result"]["search_id"].startswith("srch_")
    # Central acted once per check although it answered (badly) several times.
    assert clean_stub.deliveries()["unique"] == 2


def test_rejected_query_is_dead_lettered_at_once_and_can_be_requeued(
    gateway: Gateway, clean_stub: Stub, prints: list[Path]
) -> None:
    clean_stub.faults(reject_rate=1.0)
    device = gateway.device()
    check = finger_check(device, prints[4])
    view = wait_status(device, check["check_id"], "failed")
    assert "injected rejection" in view["upstream"]["result"]["error"]
    dead = gateway.admin.get("/v1/upstream/dead-letters").json()["items"]
    mine = [d for d in dead if d["check_id"] == check["check_id"]]
    assert len(mine) == 1 and mine[0]["attempts"] == 1 and "rejected" in mine[0]["reason"]
    # Devices and analysts may not requeue.
    assert device.post(f"/v1/upstream/dead-letters/{mine[0]['id']}/requeue").status_code == 403

    clean_stub.faults(reject_rate=0.0)
    r = gateway.admin.post(f"/v1/upstream/dead-letters/{mine[0]['id']}/requeue")
    assert r.status_code == 200 and r.json()["state"] == "pending"
    wait_status(device, check["check_id"], "completed")
    again = gateway.admin.post(f"/v1/upstream/dead-letters/{mine[0]['id']}/requeue")
    assert again.status_code == 409


def test_device_sees_only_its_own_check_and_sse_reports_completion(
    gateway: Gateway, clean_stub: Stub, prints: list[Path]
) -> None:
    clean_stub.faults(latency_ms=800)
    device, other = gateway.device(), gateway.device()
    check = finger_check(device, prints[5])
    assert other.get(f"/v1/checks/{check['check_id']}/upstream").status_code == 404
    events = []
    with device.stream("GET", f"/v1/checks/{check['check_id']}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1].get("upstream", {}).get("status") == "completed":
                    break
    assert events[-1]["upstream"]["status"] == "completed"
    assert events[0]["upstream"]["status"] in ("queued", "pending")


# ------------------------------------------------------------------------------------------
# Long scenarios: each with its own gateway.


@pytest.mark.slow
def test_kill_9_during_the_drain_loses_nothing_and_central_acts_once(
    clean_stub: Stub, prints: list[Path], tmp_path: Path
) -> None:
    data = tmp_path / "gw"
    data.mkdir()
    gw = Gateway(data, clean_stub.url, FIELDCHECK_UPSTREAM_DRAIN_PER_S="3")
    clean_stub.faults(outage=True)
    device = gateway_device = gw.device()
    ids = [finger_check(device, prints[i % len(prints)])["check_id"] for i in range(24)]
    clean_stub.faults(outage=False, latency_ms=300)  # deliveries in flight when the kill lands
    wait_until(lambda: clean_stub.deliveries()["unique"] >= 4, what="the drain to start")
    gateway_device.close()
    gw.kill9()
    killed_at = clean_stub.deliveries()["unique"]
    assert killed_at < 24

    gw2 = Gateway(data, clean_stub.url, port=gw.port)
    try:
        gw2.wait_drained(timeout_s=120)
        for check_id in ids:
            row = gw2.admin.get(f"/v1/checks/{check_id}").json()
            assert row["upstream"]["status"] == "completed", row
        counts = clean_stub.deliveries()
        assert counts["unique"] == 24  # every query reached central, and central acted once each
    finally:
        gw2.stop()


@pytest.mark.slow
def test_slow_central_timeouts_cause_no_duplicate_action(
    clean_stub: Stub, prints: list[Path], tmp_path: Path
) -> None:
    gw = Gateway(tmp_path, clean_stub.url)
    try:
        clean_stub.faults(timeout_rate=0.5, hang_s=3.0)  # gateway gives up after 1 s
        device = gw.device()
        ids = [finger_check(device, prints[i])["check_id"] for i in range(10)]
        for check_id in ids:
            view = wait_status(device, check_id, "completed", timeout_s=120)
            assert view["check_id"] == check_id
        counts = clean_stub.deliveries()
        assert counts["unique"] == 10 and counts["received"] >= 10
        assert any("timed out" in f["reason"] for f in gw.status()["recent_failures"]) or \
            counts["duplicates"] > 0
    finally:
        gw.stop()


@pytest.mark.slow
def test_items_past_their_ttl_go_to_the_dead_letter_list(
    clean_stub: Stub, prints: list[Path], tmp_path: Path
) -> None:
    gw = Gateway(tmp_path, clean_stub.url, FIELDCHECK_UPSTREAM_TTL_S="3")
    try:
        clean_stub.faults(outage=True)
        device = gw.device()
        ids = [finger_check(device, prints[i])["check_id"] for i in range(3)]
        for check_id in ids:
            view = wait_status(device, check_id, "expired", timeout_s=30)
            assert "expired" in view["upstream"]["result"]["error"]
        dead = gw.admin.get("/v1/upstream/dead-letters").json()["items"]
        assert {d["check_id"] for d in dead} == set(ids)
        assert all(d["reason"].startswith("expired") for d in dead)
        assert clean_stub.deliveries()["unique"] == 0
    finally:
        clean_stub.faults(outage=False)
        gw.stop()
