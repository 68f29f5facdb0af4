"""One contract suite for every device adapter: valid fixtures, then a corpus of broken ones."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from device_adapters.ansi_nist import AnsiNistAdapter, write_transaction
from device_adapters.base import AdapterRegistry, DeviceAdapter
from device_adapters.capture import Capture
from device_adapters.errors import AdapterError, PayloadTooLarge, UnsupportedContentType
from device_adapters.iso_template import IsoTemplateAdapter
from device_adapters.mosip_sbi import MosipSbiAdapter
from device_adapters.seek_avenger import SeekAvengerAdapter
from tests.adapters import builders as b

JSON = {"content-type": "application/json"}
OCTET = {"content-type": "application/octet-stream"}


def adapters() -> dict[str, DeviceAdapter]:
    return {
        "ansi-nist": AnsiNistAdapter(),
        "mosip-sbi": MosipSbiAdapter(trusted_certificates=[b.public_key_pem(1)]),
        "seek-avenger": SeekAvengerAdapter(),
        "iso-template": IsoTemplateAdapter(),
    }


# name -> (payload builder, headers, check of the capture)
def _check_ansi(c: Capture) -> None:
    assert [f.position for f in c.fingers] == [2, 7]
    assert all(f.pixels is not None and f.ppi == 500 for f in c.fingers)
    assert len(c.faces) == 1 and c.document is not None and c.document.valid
    assert c.device.serial == "SA4-00123" and c.device.operator_id == "MU-PF-0042"


def _check_mosip(c: Capture) -> None:
    assert [f.position for f in c.fingers] == [7, 2]
    assert [f.source_format for f in c.fingers] == ["jp2", "wsq"]
    assert c.fingers[0].device_quality == 72.0 and len(c.faces) == 1
    assert c.device.serial == "MOSIP-SN-77" and c.device.captured_at is not None
    assert c.document is not None and c.document.document_number == "L898902C3"


def _check_seek(c: Capture) -> None:
    assert [f.position for f in c.fingers] == [2, 7] and len(c.faces) == 1
    assert c.device.latitude == -20.16 and c.device.firmware == "4.2.1"
    assert c.document is not None and c.document.surname == "ERIKSSON"


def _check_iso(c: Capture) -> None:
    assert [t.position for t in c.templates] == [2, 7] and not c.fingers
    assert c.templates[0].device_quality == 65.0


VALID: dict[str, tuple[Callable[[], bytes], dict[str, str], Callable[[Capture], None]]] = {
    "ansi-nist": (lambda: write_transaction(b.sample_capture()), OCTET, _check_ansi),
    "mosip-sbi": (lambda: b.sbi_sample(seed=1), JSON, _check_mosip),
    "seek-avenger": (lambda: json.dumps(b.seek_document()).encode(), JSON, _check_seek),
    "iso-template": (b.iso_templates, OCTET, _check_iso),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_fixture_parses(name: str) -> None:
    build, headers, check = VALID[name]
    adapter = adapters()[name]
    capture = adapter.parse(build(), headers)
    assert capture.adapter == name
    assert capture.has_biometrics
    check(capture)


@pytest.mark.parametrize("name", sorted(VALID))
def test_contract_attributes(name: str) -> None:
    adapter = adapters()[name]
    assert adapter.name == name and adapter.description
    assert adapter.content_types and all(";" not in t for t in adapter.content_types)
    if name in ("ansi-nist", "iso-template"):
        assert "application/octet-stream" in adapter.content_types


@pytest.mark.parametrize("name", sorted(VALID))
def test_wrong_content_type_is_415(name: str) -> None:
    build, _, _ = VALID[name]
    with pytest.raises(UnsupportedContentType) as info:
        adapters()[name].parse(build(), {"content-type": "text/plain"})
    assert info.value.status == 415 and info.value.field == "Content-Type"


def test_registry_refuses_duplicates() -> None:
    registry = AdapterRegistry()
    for adapter in adapters().values():
        registry.register(adapter)
    with pytest.raises(ValueError):
        registry.register(AnsiNistAdapter())
    assert [a.name for a in registry] == list(adapters())


def test_default_registry_lists_every_adapter() -> None:
    pytest.importorskip("device_adapters.multipart")
    from device_adapters.base import default_registry

    names = [a.name for a in default_registry()]
    assert names[0] == "multipart"
    assert set(VALID) <= set(names)


# --- the broken corpus ------------------------------------------------------------------------

def _ansi() -> bytes:
    return write_transaction(b.sample_capture())


def _replace(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data, old
    return data.replace(old, new, 1)


def _ansi_with_finger(image: bytes) -> bytes:
    """A valid transaction whose first Type-14 image bytes are swapped for ``image``.

    LEN fields are rewritten by nistitl, so only the image is broken.
    """
    capture = b.sample_capture(face=False)
    capture.fingers[0].image = image
    return write_transaction(capture)


def _wsq_truncated() -> bytes:
    data = b.encode(b.finger_pixels(2), "wsq")
    return data[: len(data) // 3]


def _jp2_garbage() -> bytes:
    data = b.encode(b.finger_pixels(2), "jp2")
    return data[:200] + bytes(range(256)) * 4


def _seek(**changes: object) -> bytes:
    doc = b.seek_document()
    for path, value in changes.items():
        target = doc
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        target[keys[-1]] = value
    return json.dumps(doc).encode()


def _sbi_doc() -> dict:
    return json.loads(b.sbi_sample(seed=1))


def _sbi_swapped() -> bytes:
    doc = _sbi_doc()
    doc["biometrics"][0], doc["biometrics"][1] = doc["biometrics"][1], doc["biometrics"][0]
    return json.dumps(doc).encode()


def _sbi_edit(index: int, key: str, value: object) -> bytes:
    doc = _sbi_doc()
    doc["biometrics"][index][key] = value
    return json.dumps(doc).encode()


def _sbi_payload_edit(key: str, value: object, *, resign: bool = True,
                      seed: int | None = 1) -> bytes:
    """Change one payload field of biometrics[0], keeping (or breaking) signature and chain."""
    doc = _sbi_doc()
    token = doc["biometrics"][0]["data"]
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    payload[key] = value
    if resign:
        doc["biometrics"][0]["data"] = b.jws_compact(payload, seed=seed)
    else:
        parts = token.split(".")
        parts[1] = b.b64url(json.dumps(payload).encode())
        doc["biometrics"][0]["data"] = ".".join(parts)
    return json.dumps(doc).encode()


def _iso_edit(offset: int, value: bytes) -> bytes:
    data = bytearray(b.iso_templates())
    data[offset:offset + len(value)] = value
    return bytes(data)


BROKEN: list[tuple[str, str, Callable[[], bytes], int, str]] = [
    # ANSI/NIST-ITL
    ("missing Type-1", "ansi-nist", lambda: _ansi()[_ansi().index(b"\x1c") + 1:], 422, "Type-1"),
    ("empty body", "ansi-nist", lambda: b"", 422, "Type-1"),
    ("truncated", "ansi-nist", lambda: _ansi()[: len(_ansi()) * 2 // 3], 422, ".001"),
    ("truncated in Type-1", "ansi-nist", lambda: _ansi()[:40], 422, "Type-1[0]"),
    ("wrong Type-2 length", "ansi-nist",
     lambda: _replace(_ansi(), b"\x1c2.001:", b"\x1c2.001:9"), 422, "Type-2[1]"),
    ("CNT count too high", "ansi-nist", lambda: _replace(_ansi(), b"1.003:1\x1f4", b"1.003:1\x1f5"),
     422, "Type-1[0].003"),
    ("CNT wrong record type", "ansi-nist",
     lambda: _replace(_ansi(), b"\x1e14\x1f1", b"\x1e13\x1f1"), 422, "Type-1[0].003"),
    ("CNT wrong IDC", "ansi-nist", lambda: _replace(_ansi(), b"\x1e14\x1f1", b"\x1e14\x1f9"),
     422, "Type-14[2].002"),
    ("bytes after the last record", "ansi-nist", lambda: _ansi() + b"trailing", 422,
     "Type-1[0].003"),
    ("garbage WSQ", "ansi-nist", lambda: _ansi_with_finger(_wsq_truncated()), 422,
     "Type-14[2].999"),
    ("garbage JPEG 2000", "ansi-nist", lambda: _ansi_with_finger(_jp2_garbage()), 422,
     "Type-14[2].999"),
    ("compression field lies", "ansi-nist",
     lambda: _replace(_ansi(), b"14.011:WSQ20", b"14.011:JPEGB"), 422, "Type-14[2].999"),
    ("unknown compression", "ansi-nist",
     lambda: _replace(_ansi(), b"14.011:WSQ20", b"14.011:LZW99"), 422, "Type-14[2].011"),
    ("non-numeric line length", "ansi-nist",
     lambda: _replace(_ansi(), b"14.006:300\x1d", b"14.006:3X0\x1d"), 422, "Type-14[2].006"),
    ("huge declared dimensions (bomb)", "ansi-nist",
     lambda: _type14_bomb(), 413, "Type-14[1].006"),
    ("Type-4 raw pixels of the wrong size", "ansi-nist", lambda: _type4_raw_short(), 422,
     "Type-4[1].DATA"),
    ("Type-4 bomb", "ansi-nist", lambda: _type4_bomb(), 413, "Type-4[1].HLL"),
    ("Type-4 record length past the end", "ansi-nist", lambda: _type4_len(10**6), 422,
     "Type-4[1].001"),
    ("Type-4 record length too small", "ansi-nist", lambda: _type4_len(7), 422, "Type-4[1].001"),
    ("bad MRZ line in Type-2", "ansi-nist", lambda: _replace(_ansi(), b"P<UTO", b"P<U#O"), 422,
     "Type-2[1].910"),
    # MOSIP SBI
    ("not JSON", "mosip-sbi", lambda: b"{biometrics: [", 422, "body"),
    ("not UTF-8", "mosip-sbi", lambda: b"\xff\xfe{}", 422, "body"),
    ("nesting bomb", "mosip-sbi", lambda: b"[" * 100000 + b"]" * 100000, 422, "body"),
    ("no biometrics", "mosip-sbi", lambda: b'{"biometrics": []}', 422, "biometrics"),
    ("JWS with two parts", "mosip-sbi", lambda: _sbi_edit(0, "data", "abc.def"), 422,
     "biometrics[0].data.format"),
    ("JWS bad base64url", "mosip-sbi", lambda: _sbi_edit(0, "data", "a*b.c.d"), 422,
     "biometrics[0].data.header"),
    ("unsigned while certs configured", "mosip-sbi",
     lambda: _sbi_payload_edit("qualityScore", "72", seed=None), 422,
     "biometrics[0].data.signature"),
    ("signed by an untrusted key", "mosip-sbi",
     lambda: _sbi_payload_edit("qualityScore", "72", seed=2), 422,
     "biometrics[0].data.signature"),
    ("payload altered after signing", "mosip-sbi",
     lambda: _sbi_payload_edit("bioSubType", "Right Thumb", resign=False), 422,
     "biometrics[0].data.signature"),
    ("hash chain: captures reordered", "mosip-sbi", _sbi_swapped, 422, "biometrics[0].hash"),
    ("hash chain: hash altered", "mosip-sbi", lambda: _sbi_edit(1, "hash", "00" * 32), 422,
     "biometrics[1].hash"),
    ("bioValue bad base64", "mosip-sbi", lambda: _sbi_payload_edit("bioValue", "@@@"), 422,
     "biometrics[0].data.payload.bioValue"),
    ("bioValue garbage JPEG 2000 in ISO", "mosip-sbi",
     lambda: _sbi_payload_edit("bioValue", b.b64url(b.iso_19794_4_2011(_jp2_garbage(), 300,
                                                                         300))), 422,
     "biometrics[0]"),
    ("bioValue truncated ISO record", "mosip-sbi",
     lambda: _sbi_payload_edit("bioValue", b.b64url(b.iso_19794_4_2011(b"x" * 50, 9, 9)[:40])),
     422, "biometrics[0]"),
    ("bioSubType unknown", "mosip-sbi", lambda: _sbi_payload_edit("bioSubType", "Left Toe"), 422,
     "biometrics[0].data.payload.bioSubType"),
    ("iris not checked here", "mosip-sbi", lambda: _sbi_payload_edit("bioType", "Iris"), 422,
     "biometrics[0].data.payload.bioType"),
    ("device error", "mosip-sbi",
     lambda: _sbi_edit(0, "error", {"errorCode": "701", "errorInfo": "finger not placed"}), 422,
     "biometrics[0].error"),
    ("encrypted bioValue", "mosip-sbi", lambda: _sbi_edit(0, "sessionKey", "c2Vzc2lvbg"), 422,
     "biometrics[0].sessionKey"),
    # SEEK Avenger
    ("wrong schema", "seek-avenger", lambda: _seek(schema="seek-avenger/9"), 422, "schema"),
    ("body is a list", "seek-avenger", lambda: b"[]", 422, "body"),
    ("bad base64", "seek-avenger", lambda: _seek(fingers__0__image="not base64!"), 422,
     "fingers[0].image"),
    ("finger position 11", "seek-avenger", lambda: _seek(fingers__1__position=11), 422,
     "fingers[1].position"),
    ("position is a string", "seek-avenger", lambda: _seek(fingers__0__position="2"), 422,
     "fingers[0].position"),
    ("garbage WSQ", "seek-avenger",
     lambda: _seek(fingers__0__image=base64.b64encode(_wsq_truncated()).decode()), 422,
     "fingers[0].image"),
    ("format lies", "seek-avenger", lambda: _seek(fingers__0__format="jp2"), 422,
     "fingers[0].image"),
    ("face not an image", "seek-avenger",
     lambda: _seek(face__image=base64.b64encode(b"hello world").decode()), 422, "face.image"),
    ("MRZ of the wrong shape", "seek-avenger", lambda: _seek(mrz=["P<UTO", "L898"]), 422, "mrz"),
    ("latitude out of range", "seek-avenger", lambda: _seek(location__lat=123.0), 422,
     "location.lat"),
    # ISO 19794-2
    ("empty", "iso-template", lambda: b"", 422, "record[0]"),
    ("not FMR", "iso-template", lambda: _iso_edit(0, b"FIR\x00"), 422, "record[0].format"),
    ("2011 edition", "iso-template", lambda: _iso_edit(4, b"030\x00"), 422, "record[0].version"),
    ("length past the end", "iso-template", lambda: _iso_edit(8, b"\x00\x00\xff\xff"), 422,
     "record[0].length"),
    ("too many minutiae", "iso-template", lambda: _iso_edit(27, b"\xff"), 422,
     "record[0].view[0].minutiae"),
    ("finger position 12", "iso-template", lambda: _iso_edit(24, b"\x0c"), 422,
     "record[0].view[0].position"),
    ("truncated", "iso-template", lambda: b.iso_templates()[:100], 422, "record[0].length"),
    ("trailing garbage", "iso-template", lambda: b.iso_templates() + b"FMR", 422, "record[2]"),
]


def _type4_raw_short() -> bytes:
    import struct

    import nistitl

    msg = nistitl.Message()
    record = nistitl.BinaryRecord(4)
    record.IDC = 1
    record.value = struct.pack(">B6sBHHB", 1, bytes([2, 255, 255, 255, 255, 255]), 0, 50, 40,
                               0) + b"\x80" * 1999
    msg += record
    return msg.NIST


def _type14_bomb() -> bytes:
    import nistitl

    msg = nistitl.Message()
    record = nistitl.AsciiRecord(14)
    record.IDC = 1
    record.HLL = "60000"
    record.VLL = "60000"
    record.CGA = "WSQ20"
    record.FGP = "2"
    record.DATA = b.encode(b.ridge_image(64, 64), "wsq")
    msg += record
    return msg.NIST


def _type4_bomb() -> bytes:
    import struct

    import nistitl

    msg = nistitl.Message()
    record = nistitl.BinaryRecord(4)
    record.IDC = 1
    record.value = struct.pack(">B6sBHHB", 1, bytes([2, 255, 255, 255, 255, 255]), 0, 65535,
                               65535, 0) + b"\x00" * 16
    msg += record
    return msg.NIST


def _type4_len(length: int) -> bytes:
    data = bytearray(b.type4_transaction(b.ridge_image(64, 64)))
    start = data.index(b"\x1c") + 1
    data[start:start + 4] = length.to_bytes(4, "big")
    return bytes(data)


@pytest.mark.parametrize(("case", "name", "build", "status", "where"), BROKEN,
                         ids=[f"{c[1]}: {c[0]}" for c in BROKEN])
def test_broken_input_is_a_precise_4xx(case: str, name: str, build: Callable[[], bytes],
                                       status: int, where: str) -> None:
    headers = JSON if name in ("mosip-sbi", "seek-avenger") else OCTET
    with pytest.raises(AdapterError) as info:
        adapters()[name].parse(build(), headers)
    error = info.value
    assert error.status == status, error.message
    assert error.field is not None and where in error.field, (error.field, error.message)
    assert error.message
    if status == 413:
        assert isinstance(error, PayloadTooLarge)


def test_unsigned_data_accepted_without_trusted_certs() -> None:
    capture = MosipSbiAdapter().parse(b.sbi_sample(seed=None), JSON)
    assert len(capture.fingers) == 2


def test_mosip_accepts_x509_certificate(tmp_path) -> None:
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-subj", "/CN=sbi-device", "-days", "1"],
                   check=True, capture_output=True)
    doc = json.loads(b.sbi_sample(seed=None))
    entry = doc["biometrics"][0]
    header = b.b64url(json.dumps({"alg": "RS256"}).encode())
    signing_input = f"{header}.{entry['data'].split('.')[1]}"
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key)],
                               input=signing_input.encode(), check=True,
                               capture_output=True).stdout
    entry["data"] = f"{signing_input}.{b.b64url(signature)}"
    doc["biometrics"] = [entry]
    adapter = MosipSbiAdapter(trusted_certificates=[cert.read_text()])
    capture = adapter.parse(json.dumps(doc).encode(), JSON)
    assert [f.position for f in capture.fingers] == [7]
    with pytest.raises(ValueError):
        MosipSbiAdapter(trusted_certificates=["not a pem"])


def test_mosip_raw_image_of_zero_width_is_422() -> None:
    # Found by the fuzz suite: a raw ISO 19794-4 image declaring 0 x 256 pixels.
    body = b.sbi_response([("Finger", "Left IndexFinger",
                            b.iso_19794_4_2011(b"", 0, 256, compression=0))], seed=None)
    with pytest.raises(AdapterError) as info:
        MosipSbiAdapter().parse(body, JSON)
    assert info.value.field == "biometrics[0].data.payload.bioValue"


def test_compressed_image_size_wins_over_hll_vll() -> None:
    """A compressed image's own header is its size (NIST's valid1.8 declares 1800x1000 for
    1600x976 WSQ slaps); the record is read, not refused. Raw pixels still must match (the
    'Type-4 raw pixels of the wrong size' case above)."""
    capture = AnsiNistAdapter().parse(
        _replace(_ansi(), b"14.006:300\x1d", b"14.006:301\x1d"), OCTET)
    assert capture.fingers[0].pixels.shape[1] == 300
