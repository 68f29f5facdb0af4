"""Defects found by reading other implementations' files (issue 13), each with a self-contained
test: the files themselves are exercised by tests/conformance/."""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np
import pytest

from device_adapters.ansi_nist import AnsiNistAdapter
from device_adapters.errors import MalformedPayload
from device_adapters.iso_template import IsoTemplateAdapter
from device_adapters.mosip_sbi import MosipSbiAdapter, chain_hash
from matchers import iso19794
from tests.adapters import builders as b

JSON = {"content-type": "application/json"}
OCTET = {"content-type": "application/octet-stream"}


# --- MOSIP SBI hash chain ---------------------------------------------------------------------

def test_chain_hash_is_mosips_rule_over_raw_digests() -> None:
    """hash_i = SHA-256(raw hash_{i-1} || raw SHA-256(bioValue)), seeded with raw SHA-256("")."""
    values = [b"first capture", b"second capture"]
    expected, previous = [], hashlib.sha256(b"").digest()
    for value in values:
        previous = hashlib.sha256(previous + hashlib.sha256(value).digest()).digest()
        expected.append(previous.hex().upper())
    seed = hashlib.sha256(b"").hexdigest().upper()
    first = chain_hash(seed, values[0])
    assert [first, chain_hash(first, values[1])] == expected


def test_sbi_response_with_mosip_chain_is_accepted_and_lower_case_hex_too() -> None:
    finger = b.encode(b.ridge_image(seed=3), "jp2")
    body = json.loads(b.sbi_response([("Finger", "Left IndexFinger", finger)], seed=None))
    body["biometrics"][0]["hash"] = body["biometrics"][0]["hash"].lower()
    capture = MosipSbiAdapter().parse(json.dumps(body).encode(), JSON)
    assert [f.position for f in capture.fingers] == [7]


def test_sbi_old_ascii_hex_chain_is_refused() -> None:
    """What FieldCheck used to compute (SHA-256 of the ASCII hex text) is not MOSIP's chain."""
    finger = b.encode(b.ridge_image(seed=3), "png")
    body = json.loads(b.sbi_response([("Finger", "Left IndexFinger", finger)], seed=None))
    seed = hashlib.sha256(b"").hexdigest().upper()
    ascii_rule = hashlib.sha256(
        (seed + hashlib.sha256(finger).hexdigest().upper()).encode()).hexdigest().upper()
    body["biometrics"][0]["hash"] = ascii_rule
    with pytest.raises(MalformedPayload) as info:
        MosipSbiAdapter().parse(json.dumps(body).encode(), JSON)
    assert info.value.field == "biometrics[0].hash"


# --- ANSI/NIST: a repeated 999 field ----------------------------------------------------------

def _tagged(rtype: int, fields: list[tuple[int, bytes]]) -> bytes:
    """A tagged record with a correct LEN (fields after 1: (tag, value) in order)."""
    def body(length: int) -> bytes:
        parts = [f"{rtype}.001:{length}".encode()] + [
            f"{rtype}.{tag:03d}:".encode() + value for tag, value in fields]
        return b"\x1d".join(parts) + b"\x1c"
    length = len(body(0))
    while len(body(length)) != length:
        length = len(body(length))
    return body(length)


def _transaction(records: list[tuple[int, bytes]]) -> bytes:
    cnt = b"\x1e".join([f"1\x1f{len(records)}".encode()] + [
        f"{t}\x1f{i + 1:02d}".encode() for i, (t, _) in enumerate(records)])
    type1 = _tagged(1, [(2, b"0500"), (3, cnt), (4, b"FCHK"), (5, b"20260101"), (7, b"DAI"),
                        (8, b"ORI"), (9, b"TCN1"), (11, b"19.69"), (12, b"19.69")])
    return type1 + b"".join(body for _, body in records)


def _face_record(idc: int, image_fields: list[bytes]) -> bytes:
    fields = [(2, f"{idc:02d}".encode()), (3, b"FACE"), (4, b"SRC"), (5, b"20260101"),
              (6, b"200"), (7, b"240"), (8, b"0"), (9, b"1"), (10, b"1"), (11, b"JPEGB"),
              (12, b"SRGB")]
    return _tagged(10, fields + [(999, value) for value in image_fields])


def test_repeated_999_field_is_named_as_such() -> None:
    jpeg = b.encode(np.full((240, 200, 3), 128, np.uint8), "jpeg")
    payload = _transaction([(10, _face_record(1, [b"010110", jpeg]))])
    with pytest.raises(MalformedPayload) as info:
        AnsiNistAdapter().parse(payload, OCTET)
    assert info.value.field == "Type-10[1].999"
    assert "appears more than once" in info.value.message
    assert "not an image" not in info.value.message


def test_single_999_field_still_read() -> None:
    jpeg = b.encode(np.full((240, 200, 3), 128, np.uint8), "jpeg")
    capture = AnsiNistAdapter().parse(_transaction([(10, _face_record(1, [jpeg]))]), OCTET)
    assert [f.source_format for f in capture.faces] == ["jpeg"]


# --- ISO template adapter: ANSI INCITS 378 sent as ISO ----------------------------------------

def ansi_378_record(minutiae: int = 12) -> bytes:
    """An ANSI INCITS 378-2004 record: 26-byte header with a 2-byte length and CBEFF id."""
    body = bytearray(struct.pack(">BBBB", 2, 0, 60, minutiae))
    for i in range(minutiae):
        body += struct.pack(">HHBB", (1 << 14) | (20 + 9 * i), 30 + 7 * i, i * 10 % 180, 60)
    body += b"\x00\x00"
    length = 26 + len(body)
    header = (b"FMR\x00 20\x00" + struct.pack(">H", length) + b"\x00\x33\x01\x02"
              + struct.pack(">HHHHHBB", 0, 300, 400, 197, 197, 1, 0))
    return header + bytes(body)


def test_ansi_378_template_is_recognised() -> None:
    with pytest.raises(MalformedPayload) as info:
        IsoTemplateAdapter().parse(ansi_378_record(), OCTET)
    assert info.value.field == "record[0].format"
    assert "ANSI INCITS 378" in info.value.message


def test_truncated_iso_record_is_not_called_ansi() -> None:
    record = iso19794.encode(np.array([[10, 10, 0.5, 0.8]] * 10, np.float32), width=300,
                             height=300)
    with pytest.raises(MalformedPayload) as info:
        IsoTemplateAdapter().parse(record[:-8], OCTET)
    assert info.value.field == "record[0].length"
