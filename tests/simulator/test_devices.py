"""Every virtual device's payload is read back by the gateway's own adapter for that format."""

from __future__ import annotations

from datetime import UTC, datetime

import cv2
import httpx
import numpy as np
import pytest

from device_adapters.ansi_nist import AnsiNistAdapter
from device_adapters.mosip_sbi import MosipSbiAdapter
from device_adapters.multipart import MultipartAdapter
from device_adapters.seek_avenger import SeekAvengerAdapter
from simulator.devices import CheckRecord, DeviceProfile, PlannedCheck, VirtualDevice, td3_mrz
from simulator.scenario import DeviceBehaviour

ADAPTERS = {"multipart": MultipartAdapter(), "ansi-nist": AnsiNistAdapter(),
            "mosip-sbi": MosipSbiAdapter(), "seek-avenger": SeekAvengerAdapter()}


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:300, 0:260]
    img = 128 + 90 * np.sin((x + y * 0.3) / 9.0 * 2 * np.pi) + rng.normal(0, 5, (300, 260))
    return cv2.imencode(".png", np.clip(img, 0, 255).astype(np.uint8))[1].tobytes()


def _jpeg() -> bytes:
    img = np.full((160, 120, 3), 150, np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def test_td3_mrz_has_valid_check_digits() -> None:
    from device_adapters.mrz import parse_mrz

    doc = parse_mrz(td3_mrz("ERIKSSON", "ANNA", "L898902C3", "UTO", "740812", "F", "120415"))
    assert doc.valid, doc.errors
    assert doc.document_number == "L898902C3"


@pytest.mark.parametrize("kind", list(ADAPTERS))
def test_device_payload_parses_with_its_adapter(kind: str) -> None:
    device = VirtualDevice(
        DeviceProfile(kind, f"SIM-{kind}-001", "Port Louis", 12.0, 20.0, "OFF-1"), "tok",
        "http://127.0.0.1:9", DeviceBehaviour(), lambda: 0.0, lambda t: False,
    )
    mrz = td3_mrz("DOE", "JOHN", "S1234567", "MUS", "800101", "M", "300101")
    plan = PlannedCheck(seq=1, device=device.profile.serial, person_index=0,
                        expected_subject=None, modality="both", quality="good",
                        fingers=[(2, _png(1)), (7, _png(2))], face=_jpeg(), mrz=mrz,
                        captured_t=5.0)
    start = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    req = device.request_of(plan, start)
    built = httpx.Request("POST", "http://x" + req.pop("url"), **req)
    capture = ADAPTERS[kind].parse(built.read(), {k.lower(): v for k, v in built.headers.items()})
    assert sorted(f.position for f in capture.fingers) == [2, 7]
    assert len(capture.faces) == 1
    assert capture.document is not None and capture.document.valid
    if kind != "multipart":  # the form carries no location or capture time
        assert capture.device.serial == device.profile.serial
    device.client.close()


def test_the_device_tells_a_refusal_at_capacity_from_other_503s_and_keeps_the_capture() -> None:
    # Admission's refusal is back-pressure (counted as a refusal, sent again after Retry-After);
    # a busy database is a fault the device also retries, but not a refusal.
    from gateway.checks.admission import AdmissionController
    from gateway.errors import DatabaseBusy, Unavailable, problem

    ctrl = AdmissionController(in_flight=1, waiting=0, max_wait_s=1)
    with ctrl.admit():  # the one slot taken: the next check is refused at once
        with pytest.raises(Unavailable) as refused:
            with ctrl.admit():
                pass

    def answer(exc: Unavailable) -> httpx.Response:
        r = problem(503, "Service unavailable", str(exc), slug=exc.type_slug, retry_after_s=0)
        return httpx.Response(503, headers=dict(r.headers), content=r.body)

    answers = [answer(refused.value), answer(DatabaseBusy("the write turn was not free")),
               httpx.Response(200, json={"check_id": "chk_1", "decision": "no_hit"})]
    device = VirtualDevice(
        DeviceProfile("multipart", "SIM-M-001", "Port Louis", 0.0, 0.0, "OFF-1"), "tok",
        "http://gw", DeviceBehaviour(backoff_s=0.0), lambda: 0.0, lambda t: False,
    )
    device.client = httpx.Client(base_url="http://gw",
                                 transport=httpx.MockTransport(lambda req: answers.pop(0)))
    plan = PlannedCheck(seq=1, device="SIM-M-001", person_index=0, expected_subject=None,
                        modality="face", quality="good", fingers=[], face=_jpeg(), mrz=None,
                        captured_t=0.0)
    record = CheckRecord(plan)
    device._deliver(record, datetime(2025, 3, 1, tzinfo=UTC), deadline_t=60.0)
    assert record.status == "acknowledged" and record.attempts == 3
    assert record.refusals == 1
    assert [e.split(" ", 1)[1] for e in record.attempt_log] == ["HTTP 503 at capacity",
                                                               "HTTP 503"]
    device.client.close()
