"""Document-only checks (an MRZ, no biometrics) end to end: real gateway and central stub
processes on loopback, the stolen/lost list cached from the stub's feed, every adapter that can
carry an MRZ, central forwarding through the queue, the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from device_adapters.ansi_nist import write_transaction
from device_adapters.capture import Capture
from device_adapters.mrz import parse_mrz
from tests.adapters.test_mrz import MRV_A
from tests.upstream.procs import Gateway, Stub, gateway_running, stub_running, td3_mrz


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stub]:
    yield from stub_running(tmp_path_factory.mktemp("central"), subjects=50, documents=200)


@pytest.fixture(scope="module")
def gateway(stub: Stub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from gateway_running(tmp_path_factory.mktemp("gateway"), stub)


@pytest.fixture(scope="module")
def device(gateway: Gateway) -> Iterator[httpx.Client]:
    import time

    deadline = time.monotonic() + 60
    while gateway.status()["document_list_version"] == 0:  # the list is cached from the feed
        assert time.monotonic() < deadline, "the stolen/lost list never reached the gateway"
        time.sleep(0.3)
    with gateway.device() as client:
        yield client


PURPOSE = {"purpose": "port entry"}  # checks must name one of the configured purposes


def stolen() -> dict[str, str]:
    from gateway.upstream.stub.seed import synthetic_document

    return synthetic_document(1, 1)  # in the stub's seeded list (seed 1)


def clear_mrz() -> str:
    return td3_mrz(number="ZZ9876543", state="UTO")


def wait_completed(device: httpx.Client, check_id: str) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 60
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        view = device.get(f"/v1/checks/{check_id}/upstream", params={"wait": 5}).json()
        if view["upstream"]["status"] == "completed":
            return view
    raise AssertionError(f"central never answered check {check_id}: {view}")


def test_stolen_passport_alone_is_a_local_hit_then_central_confirms(
    gateway: Gateway, device: httpx.Client
) -> None:
    doc = stolen()
    r = device.post("/v1/checks", data={"mrz": td3_mrz(number=doc["document_number"],
                                                       state=doc["issuing_state"])},
                    files={"purpose": (None, "port entry")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["decision"] == "hit"
    assert "stolen or lost" in body["message"]
    local = body["document"]["check"]
    assert (local["source"], local["hit"], local["status"]) == ("local", True, doc["status"])
    assert body["candidates"] == [] and body["quality"] == {}
    assert body["review"]["status"] == "pending"
    view = wait_completed(device, body["check_id"])
    assert view["upstream"]["result"]["document"]["status"] == doc["status"]
    audit = gateway.admin.get("/v1/audit", params={"limit": 200}).json()
    if "items" not in audit:  # the admin may not be an auditor: use an auditor token
        token = gateway.admin.post("/v1/tokens", json={"role": "auditor", "name": "aud-doc"})
        auditor = httpx.Client(base_url=gateway.url, timeout=30, headers={
            "Authorization": f"Bearer {token.json()['token']}"})
        audit = auditor.get("/v1/audit", params={"limit": 200}).json()
    actions = {(e["action"], e["target_id"]) for e in audit["items"]}
    assert ("check.create", body["check_id"]) in actions


def _ansi(mrz: list[str]) -> tuple[str, bytes, str]:
    capture = Capture(document=parse_mrz(mrz), purpose="port entry")
    return "/v1/adapters/ansi-nist/checks", write_transaction(capture), "application/x-ansi-nist"


def _sbi(mrz: list[str]) -> tuple[str, bytes, str]:
    body = json.dumps({"biometrics": [], "mrz": mrz}).encode()
    return "/v1/adapters/mosip-sbi/checks", body, "application/json"


def _seek(mrz: list[str]) -> tuple[str, bytes, str]:
    body = json.dumps({"schema": "seek-avenger/1", "purpose": "port entry", "mrz": mrz}).encode()
    return "/v1/adapters/seek-avenger/checks", body, "application/json"


@pytest.mark.parametrize("build", [_ansi, _sbi, _seek], ids=["ansi-nist", "mosip-sbi", "seek"])
def test_every_adapter_carries_a_document_only_check(device: httpx.Client, build: Any) -> None:
    url, content, media = build(clear_mrz().split("\n"))
    r = device.post(url, content=content, headers={"Content-Type": media}, params=PURPOSE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["decision"] == "no_hit"
    assert body["document"]["valid"] and body["document"]["check"]["hit"] is False
    assert "not reported stolen or lost" in body["message"]
    # A stolen document through the same adapter is a hit.
    doc = stolen()
    url, content, media = build(td3_mrz(number=doc["document_number"],
                                        state=doc["issuing_state"]).split("\n"))
    hit = device.post(url, content=content, headers={"Content-Type": media},
                      params=PURPOSE).json()
    assert hit["decision"] == "hit" and hit["document"]["check"]["source"] == "local"


def test_visa_alone_is_read_as_a_visa(device: httpx.Client) -> None:
    r = device.post("/v1/checks", files={"mrz": (None, "\n".join(MRV_A))}, params=PURPOSE)
    assert r.status_code == 200, r.text
    document = r.json()["document"]
    assert document["valid"] and document["mrz_format"] == "MRV-A"
    assert document["expiry_date"] == "1996-12-10"


def test_document_with_bad_check_digits_says_so(device: httpx.Client) -> None:
    lines = clear_mrz().split("\n")
    lines[1] = lines[1][:9] + str((int(lines[1][9]) + 1) % 10) + lines[1][10:]
    body = device.post("/v1/checks", files={"mrz": (None, "\n".join(lines))},
                       params=PURPOSE).json()
    assert body["decision"] == "no_hit"
    assert body["document"]["valid"] is False
    assert "fails its checks" in body["message"] and "document_number" in body["message"]


def test_nothing_at_all_is_still_refused(device: httpx.Client) -> None:
    r = device.post("/v1/checks", files={"purpose": (None, "port entry")})
    assert r.status_code == 422
    problem = r.json()
    assert problem["field"] == "face" and "travel document" in problem["detail"]


def test_a_plain_form_with_only_the_mrz_is_a_document_check(device: httpx.Client) -> None:
    """Most HTTP clients send a form without files url-encoded (found by the load benchmark:
    every document-only check it sent that way was a 415)."""
    r = device.post("/v1/checks", data={"mrz": "\n".join(MRV_A), "purpose": "port entry"})
    assert r.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert r.status_code == 200, r.text
    assert r.json()["document"]["mrz_format"] == "MRV-A"


@pytest.mark.parametrize(("body", "field", "words"), [
    ("face=abc&purpose=port+entry", "face", "multipart/form-data"),
    ("mrz=a&mrz=b", "mrz", "sent twice"),
    ("purpose=%FF", "body", "cannot be read"),
    ("purpose=port%00entry", "purpose", "NUL"),
])
def test_a_plain_form_that_cannot_be_a_check_says_why(
    device: httpx.Client, body: str, field: str, words: str
) -> None:
    r = device.post("/v1/checks", content=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["field"] == field and words in problem["detail"] + problem.get("fix", ""), problem
