"""SIGTERM stops ``fieldcheck serve`` within a few seconds whatever is in flight (issue #20):
long polls and event streams that could stay open for minutes do not hold the stop."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from tests.gateway.enrol_load import ADMIN, serve_gateway

STOP_WITHIN_S = 8.0


def test_sigterm_does_not_wait_for_long_polls_and_event_streams(
    tmp_path: Path, shared_data: Path
) -> None:
    gateway = serve_gateway(tmp_path / "gw", env={
        # Central unreachable: the check stays queued, so its long poll has nothing to report.
        "FIELDCHECK_UPSTREAM_URL": "http://127.0.0.1:9",
    })
    try:
        with httpx.Client(base_url=gateway.url, timeout=30,
                          headers={"Authorization": f"Bearer {ADMIN}"}) as admin:
            token = admin.post("/v1/tokens", json={"role": "device", "name": "SEEK-STOP"}).json()
        device = httpx.Client(base_url=gateway.url, timeout=120,
                              headers={"Authorization": f"Bearer {token['token']}"})
        image = sorted((shared_data / "fingerprints" / "fvc2002_db1_b").glob("*_1.tif"))[0]
        check = device.post("/v1/checks", data={"purpose": "patrol"}, files={"finger_2": ("p.tif", image.read_bytes())})
        assert check.status_code == 200, check.text
        check_id = check.json()["check_id"]
        started = threading.Event()
        outcomes: list[str] = []

        def long_poll() -> None:
            started.set()
            try:
                device.get(f"/v1/checks/{check_id}/upstream", params={"wait": 60})
                outcomes.append("answered")
            except httpx.HTTPError as exc:
                outcomes.append(type(exc).__name__)

        def stream() -> None:
            try:
                with device.stream("GET", f"/v1/checks/{check_id}/events",
                                   params={"timeout": 300}) as r:
                    for _ in r.iter_lines():
                        pass
                outcomes.append("stream closed")
            except httpx.HTTPError as exc:
                outcomes.append(type(exc).__name__)

        waiters = [threading.Thread(target=long_poll), threading.Thread(target=stream)]
        for t in waiters:
            t.start()
        assert started.wait(10)
        threading.Event().wait(1.5)  # both requests are in the gateway now
        stop_s = gateway.stop(timeout_s=60)
        for t in waiters:
            t.join(10)
        device.close()
    finally:
        gateway.stop()
    assert stop_s < STOP_WITHIN_S, f"SIGTERM took {stop_s:.1f} s with a long poll open"
    assert len(outcomes) == 2  # neither client was left hanging
