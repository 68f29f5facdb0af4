"""Every file of ../shared/conformance read by the adapters, against tests/conformance/expectations.

Adapter level here (what each file yields or why it is refused); the check each file makes over
real HTTP is in test_checks_http.py.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from device_adapters.ansi_nist import AnsiNistAdapter
from device_adapters.errors import AdapterError, MalformedPayload
from device_adapters.mosip_sbi import MosipSbiAdapter
from tests.adapters import builders as b
from tests.conformance import expectations as ex
from tests.conformance.conftest import corpus_files

OCTET = {"content-type": "application/octet-stream"}
JSON = {"content-type": "application/json"}


def test_every_corpus_file_has_a_written_expectation(corpus: Path) -> None:
    names = {p.name for p in corpus_files()}
    assert names, f"no files under {corpus}"
    assert names - ex.expected_names() == set(), "files without an expectation"
    assert ex.expected_names() - names == set(), "expectations for files not in the corpus"


def _file(corpus: Path, *parts: str) -> bytes:
    path = corpus.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} not in this corpus")
    return path.read_bytes()


@pytest.mark.parametrize("name", sorted(ex.ANSI_NIST))
def test_ansi_nist_file(corpus: Path, name: str) -> None:
    payload = _file(corpus, "ansi-nist", name)
    expected = ex.ANSI_NIST[name]
    if isinstance(expected, ex.Refused):
        with pytest.raises(AdapterError) as info:
            AnsiNistAdapter().parse(payload, OCTET)
        assert (info.value.status, info.value.field) == (expected.status, expected.field)
        assert expected.words in info.value.message
        return
    capture = AnsiNistAdapter().parse(payload, OCTET)
    got = tuple((f.position, f.ppi, f.source_format) for f in capture.fingers)
    assert got == expected.fingers, expected.why
    for finger in capture.fingers:  # every finger image decoded once, as the contract says
        assert finger.pixels is not None and finger.pixels.ndim == 2
        assert min(finger.pixels.shape) >= 100
    assert tuple(f.source_format for f in capture.faces) == expected.faces
    assert tuple((s.field, s.reason) for s in capture.skipped) == expected.skipped
    if "captured_at" in expected.extra:
        assert capture.device.captured_at is not None
        assert capture.device.captured_at.isoformat() == expected.extra["captured_at"]


def _iso_compression(record: bytes) -> int | None:
    """The compression code of an ISO 19794-4:2011 record's first representation."""
    if record[:8] != b"FIR\x00020\x00":
        return None
    pos = 35 + 5 * record[34]
    if record[14]:
        pos += 1 + 3 * record[pos]
    return record[pos + 12]


@pytest.mark.parametrize("name", sorted(ex.MOSIP_ISO))
def test_mosip_iso_record_decodes(corpus: Path, name: str) -> None:
    record = _file(corpus, "mosip-sbi", "iso", name)
    expected = ex.MOSIP_ISO[name]
    assert _iso_compression(record) == expected.compression, expected.why
    body = b.sbi_response([(expected.bio_type, expected.subtype, record)], seed=None)
    capture = MosipSbiAdapter().parse(body, JSON)
    if expected.bio_type == "Finger":
        (finger,) = capture.fingers
        assert (finger.position, finger.ppi, finger.source_format) == (
            expected.position, 500, expected.fmt)
        assert finger.pixels.shape[::-1] == expected.size
    else:
        (face,) = capture.faces
        assert face.source_format == expected.fmt
        from matchers.images import decode_image

        assert decode_image(face.image, mode="RGB").shape[1::-1] == expected.size


def _trusted(corpus: Path) -> list[bytes]:
    return [_file(corpus, "mosip-sbi", "test-device-cert.pem")]


@pytest.mark.parametrize("name", sorted(ex.MOSIP_RCAPTURE))
def test_rcapture_accepted_and_signature_verified(corpus: Path, name: str) -> None:
    payload = _file(corpus, "mosip-sbi", name)
    expected = ex.MOSIP_RCAPTURE[name]
    for adapter in (MosipSbiAdapter(trusted_certificates=_trusted(corpus)), MosipSbiAdapter()):
        capture = adapter.parse(payload, JSON)
        assert tuple((f.position, f.ppi, f.source_format) for f in capture.fingers) == (
            expected.fingers), expected.why
        assert tuple(f.source_format for f in capture.faces) == expected.faces
    if "serial" in expected.extra:
        assert capture.device.serial == expected.extra["serial"]
        assert capture.device.model == expected.extra["model"]
        assert capture.fingers[0].device_quality == expected.extra["quality"]


@pytest.mark.parametrize("name", sorted(ex.MOSIP_RCAPTURE))
def test_rcapture_signed_by_an_untrusted_key_is_refused(corpus: Path, name: str) -> None:
    payload = _file(corpus, "mosip-sbi", name)
    rogue = MosipSbiAdapter(trusted_certificates=[b.public_key_pem(seed=5)])
    with pytest.raises(MalformedPayload) as info:
        rogue.parse(payload, JSON)
    assert info.value.field == "biometrics[0].data.signature"


def _changed(text: str, index: int) -> str:
    """``text`` with one character replaced by another of its alphabet (never a case twin)."""
    char = text[index]
    for candidate in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_":
        if candidate.lower() != char.lower():
            return text[:index] + candidate + text[index + 1:]
    raise AssertionError("unreachable")


@pytest.mark.parametrize("name", sorted(ex.MOSIP_RCAPTURE))
def test_rcapture_any_changed_byte_is_refused(corpus: Path, name: str) -> None:
    payload = _file(corpus, "mosip-sbi", name)
    adapter = MosipSbiAdapter(trusted_certificates=_trusted(corpus))
    doc = json.loads(payload)
    entry = doc["biometrics"][0]
    token, chain = entry["data"], entry["hash"]
    header_end, payload_end = token.index("."), token.rindex(".")
    # Positions across the whole token (header, payload incl. bioValue, signature and its
    # last character) and the hash.
    spots = sorted({0, header_end - 1, header_end + 1, payload_end - 1, payload_end + 1,
                    len(token) - 1, *range(0, len(token), max(1, len(token) // 40))}
                   - {header_end, payload_end})
    refused_fields = set()
    for spot in spots:
        entry["data"] = _changed(token, spot)
        with pytest.raises(AdapterError) as info:
            adapter.parse(json.dumps(doc).encode(), JSON)
        refused_fields.add(info.value.field)
    entry["data"] = token
    for spot in (0, 31, len(chain) - 1):
        entry["hash"] = _changed(chain, spot)
        with pytest.raises(MalformedPayload) as info:
            adapter.parse(json.dumps(doc).encode(), JSON)
        assert info.value.field == "biometrics[0].hash"
    assert "biometrics[0].data.signature" in refused_fields


def test_digital_id_gives_the_device(corpus: Path) -> None:
    digital_id = json.loads(_file(corpus, "mosip-sbi", "iso",
                                  "Biometric_Devices_Finger_Slap_DigitalId.json"))
    record = _file(corpus, "mosip-sbi", "iso", "Profile_Automatic_Registration_0001Right_Thumb.iso")
    body = json.loads(b.sbi_response([("Finger", "Right Thumb", record)], seed=None))
    token = body["biometrics"][0]["data"]
    part = token.split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    payload["digitalId"] = b.b64url(json.dumps(digital_id).encode())
    body["biometrics"][0]["data"] = b.jws_compact(payload, seed=None)
    capture = MosipSbiAdapter().parse(json.dumps(body).encode(), JSON)
    assert capture.device.serial == "1234567890" and capture.device.model == "MOSIP SLAP01"


def test_device_info_is_not_a_capture(corpus: Path) -> None:
    info_doc = _file(corpus, "mosip-sbi", "iso", "Biometric_Devices_Finger_Slap_DeviceInfo.json")
    with pytest.raises(MalformedPayload) as info:
        MosipSbiAdapter().parse(info_doc, JSON)
    assert info.value.field == "biometrics"


def test_certificate_loads_as_a_device_key(corpus: Path) -> None:
    adapter = MosipSbiAdapter(trusted_certificates=_trusted(corpus))
    assert len(adapter.trusted_keys) == 1 and adapter.trusted_keys[0].size == 256
