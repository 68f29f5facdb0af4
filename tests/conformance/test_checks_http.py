"""Every corpus transaction and capture checked over real HTTP (empty watchlist): the decision,
or the 422 naming the record, written in tests/conformance/expectations.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conformance import expectations as ex
from tests.conformance.conftest import conformance_dir
from tests.conftest import LiveGateway

CASES = [("ansi-nist", name, "application/x-ansi-nist") for name in sorted(ex.ANSI_NIST)] + [
    ("mosip-sbi", name, "application/json") for name in sorted(ex.MOSIP_RCAPTURE)]


@pytest.fixture(scope="module")
def device(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    cert = corpus / "mosip-sbi" / "test-device-cert.pem"
    overrides = {"mosip_trusted_certs": cert} if cert.is_file() else {}
    with LiveGateway(tmp_path_factory.mktemp("gw"), **overrides) as gateway:
        with gateway.client(gateway.token("device", "CONFORMANCE-1")) as client:
            yield client


def _expected(folder: str, name: str) -> ex.Accepted | ex.Refused:
    return ex.ANSI_NIST[name] if folder == "ansi-nist" else ex.MOSIP_RCAPTURE[name]


@pytest.mark.parametrize(("folder", "name", "media"), CASES, ids=[c[1] for c in CASES])
def test_file_checked_over_http(device: httpx.Client, folder: str, name: str,
                                media: str) -> None:
    path = conformance_dir() / folder / name
    if not path.is_file():
        pytest.skip(f"{path} not in this corpus")
    r = device.post(f"/v1/adapters/{folder}/checks", content=path.read_bytes(),
                    headers={"Content-Type": media}, params={"purpose": "port entry"})
    expected = _expected(folder, name)
    if isinstance(expected, ex.Refused):
        assert r.status_code == expected.status, r.text
        problem = r.json()
        assert problem["field"] == expected.field and expected.words in problem["detail"]
        return
    if expected.check.startswith("422:"):
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["field"] == expected.check[4:], expected.why
        # Every skipped record is named with its reason, not "needs a face".
        for record, _reason in expected.skipped:
            assert record in problem["detail"]
        return
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["decision"] == expected.check, (expected.why, body["quality"])
    quality = body["quality"]
    finger_keys = [k for k in quality if k.startswith("finger_")]
    assert len(finger_keys) == len(expected.fingers)
    for record, reason in expected.skipped:
        assert quality[record]["status"] == "skipped" and quality[record]["reason"] == reason
