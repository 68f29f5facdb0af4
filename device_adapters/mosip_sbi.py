"""MOSIP Secure Biometric Interface: the JSON a device returns from CAPTURE / RCAPTURE.

Each ``biometrics[i]`` carries ``data`` (a compact JWS whose payload holds bioType, bioSubType,
bioValue, qualityScore, deviceCode, digitalId, timestamp...) and ``hash``, the capture hash chain::

    hash[i] = SHA256(hash[i-1] || SHA256(bioValue[i]))      hash[-1] = SHA256("")

over raw digest bytes (not their hex text) and the decoded bioValue bytes, sent as hex
(upper-case from MOSIP's devices; compared case-insensitively), exactly as MOSIP's reference
device service (MockMDS ``SBIServiceResponse.getBiometricData``) and its compliance toolkit
(``HashUtil.generateHash``) compute it.
The chain is always verified. Signatures are verified (RS256) when the adapter is given trusted
device certificates; then unsigned data is refused. ``bioValue`` is base64url ISO 19794-4
(finger) or 19794-5 (face) data, or a bare JPEG 2000 / JPEG / WSQ / PNG image. Encrypted
bioValues (CAPTURE for authentication, ``sessionKey`` set) cannot be read here and are refused.
A top-level ``"mrz": [lines]`` (a FieldCheck extension) carries the document's MRZ.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from device_adapters import jws
from device_adapters._common import (
    b64decode,
    check_dimensions,
    check_payload_size,
    decode_checked,
    encode_png,
    load_json,
    require,
    sniff_format,
)
from device_adapters.base import DeviceAdapter
from device_adapters.capture import Capture, FaceImage, FingerImage
from device_adapters.errors import MalformedPayload
from device_adapters.mrz import parse_mrz

MAX_BIOMETRICS = 12
SUBTYPES = {
    "UNKNOWN": 0, "": 0,
    "Right Thumb": 1, "Right IndexFinger": 2, "Right MiddleFinger": 3, "Right RingFinger": 4,
    "Right LittleFinger": 5, "Left Thumb": 6, "Left IndexFinger": 7, "Left MiddleFinger": 8,
    "Left RingFinger": 9, "Left LittleFinger": 10,
}
EMPTY_HASH = hashlib.sha256(b"").hexdigest().upper()
# ISO 19794-4 compression codes: 2005 edition, then 2011 (which added JPEG 2000 lossless at 5).
_FIR_2005 = {0: None, 2: "wsq", 3: "jpeg", 4: "jp2", 5: "png"}
_FIR_2011 = {0: None, 2: "wsq", 3: "jpeg", 4: "jp2", 5: "jp2", 6: "png"}


def chain_hash(previous: str, bio_value: bytes) -> str:
    """One link of the SBI capture hash chain: previous and result as upper-case hex.

    The digests are concatenated as raw bytes. (FieldCheck first hashed the ASCII text of the
    two hex strings, which no MOSIP device does: every conformant capture was refused.)
    """
    current = hashlib.sha256(bio_value).digest()
    return hashlib.sha256(bytes.fromhex(previous) + current).hexdigest().upper()


def _need(data: bytes, end: int, where: str) -> None:
    if end > len(data):
        raise MalformedPayload(f"{where}: the ISO record is truncated ({len(data)} bytes, "
                               f"{end} needed)", field=where)


def unwrap_finger(data: bytes, where: str) -> tuple[bytes, str | None, int, int, int]:
    """(image bytes, format, width, height, ppi) from an ISO 19794-4 record (2005 or 2011)."""
    version = data[4:8]
    if version == b"010\x00":
        _need(data, 46, where)
        scale, res = data[19], struct.unpack(">H", data[24:26])[0]
        compression = data[29]
        width, height = struct.unpack(">HH", data[41:45])
        (block,) = struct.unpack(">I", data[32:36])
        _need(data, 32 + block, where)
        image, table = data[46:32 + block], _FIR_2005
    elif version == b"020\x00":
        _need(data, 35, where)
        quality_blocks = data[34]
        pos = 35 + 5 * quality_blocks
        if data[14]:  # certification flag: a count and 3 bytes per block
            _need(data, pos + 1, where)
            pos += 1 + 3 * data[pos]
        _need(data, pos + 22, where)
        scale = data[pos + 2]
        res = struct.unpack(">H", data[pos + 7:pos + 9])[0]
        compression = data[pos + 12]
        width, height = struct.unpack(">HH", data[pos + 14:pos + 18])
        (length,) = struct.unpack(">I", data[pos + 18:pos + 22])
        _need(data, pos + 22 + length, where)
        image, table = data[pos + 22:pos + 22 + length], _FIR_2011
    else:
        raise MalformedPayload(f"{where}: ISO 19794-4 version {version!r} is not 010 or 020",
                               field=where)
    if compression not in table:
        raise MalformedPayload(f"{where}: ISO 19794-4 compression code {compression} is not "
                               "supported (bit-packed raw?)", field=where)
    ppi = res if scale == 1 else round(res * 2.54) if scale == 2 else 500
    return image, table[compression], width, height, ppi if 100 <= ppi <= 5000 else 500


def unwrap_face(data: bytes, where: str) -> bytes:
    """The JPEG / JPEG 2000 image inside an ISO 19794-5 record (any edition)."""
    # The image follows variable-length header blocks that differ between editions; its own
    # signature is unambiguous, so find it rather than parse every block.
    for signature in (b"\xff\xd8\xff", b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51"):
        pos = data.find(signature, 14)
        if pos >= 0:
            return data[pos:]
    raise MalformedPayload(f"{where}: no JPEG or JPEG 2000 image inside the ISO 19794-5 record",
                           field=where)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _digital_id(value: Any) -> dict:
    """digitalId is a JWS (signed by the device provider) or base64url JSON; best effort."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        return {}
    try:
        raw = jws.parse_compact(value).payload if value.count(".") == 2 else (
            b64decode(value, field="digitalId", urlsafe=True))
        decoded = json.loads(raw)
    except (jws.JwsError, MalformedPayload, ValueError, RecursionError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


class MosipSbiAdapter(DeviceAdapter):
    """MOSIP SBI CAPTURE/RCAPTURE response: JWS-signed, hash-chained ISO images."""

    name = "mosip-sbi"
    content_types = ("application/json",)
    description = ("MOSIP Secure Biometric Interface capture response: JWS-signed, hash-chained "
                   "ISO 19794-4/-5 finger and face images")

    def __init__(self, trusted_certificates: Sequence[str | bytes] | None = None) -> None:
        """``trusted_certificates``: PEM device certificates or public keys (RSA).

        When given, every ``data`` JWS must be RS256-signed by one of them. Raises ValueError at
        start-up for PEM text without a usable key.
        """
        self.trusted_keys: list[jws.RsaPublicKey] = []
        for pem in trusted_certificates or ():
            self.trusted_keys.extend(jws.load_public_keys(pem))

    def parse(self, payload: bytes, headers: Mapping[str, str]) -> Capture:
        self.check_content_type(headers)
        check_payload_size(payload)
        doc = load_json(payload)
        mrz = require(doc, "mrz", list, field="", optional=True)
        # A document-only check (the MRZ extension, no capture) may send an empty list.
        entries = require(doc, "biometrics", list, field="", optional=bool(mrz)) or []
        if (not entries and not mrz) or len(entries) > MAX_BIOMETRICS:
            raise MalformedPayload(f"biometrics must hold 1..{MAX_BIOMETRICS} captures",
                                   field="biometrics")
        capture = Capture(adapter=self.name)
        previous = EMPTY_HASH
        for index, entry in enumerate(entries):
            previous = self._entry(capture, entry, f"biometrics[{index}]", previous)
        if mrz:
            capture.document = parse_mrz(mrz, field="mrz")
        return capture

    def _entry(self, capture: Capture, entry: Any, where: str, previous: str) -> str:
        error = require(entry, "error", dict, field=where, optional=True)
        if error and str(error.get("errorCode", "0")) not in ("0", ""):
            raise MalformedPayload(
                f"{where}.error: the device reported error {str(error.get('errorCode'))[:20]}: "
                f"{str(error.get('errorInfo', ''))[:200]}", field=f"{where}.error",
                fix="capture again on the device",
            )
        if require(entry, "sessionKey", str, field=where, optional=True):
            raise MalformedPayload(
                f"{where}.sessionKey: the bioValue is encrypted for the MOSIP server and cannot "
                "be read here", field=f"{where}.sessionKey",
                fix="use RCAPTURE (registration capture), which returns unencrypted ISO data",
            )
        token = require(entry, "data", str, field=where)
        try:
            parsed = jws.parse_compact(token)
            if self.trusted_keys:
                jws.verify(parsed, self.trusted_keys)
        except jws.JwsError as exc:
            raise MalformedPayload(f"{where}.data: {exc}", field=f"{where}.data.{exc.part}",
                                   fix="send the data exactly as signed by a trusted device"
                                   ) from exc
        try:
            data = json.loads(parsed.payload)
        except (ValueError, RecursionError) as exc:
            raise MalformedPayload(f"{where}.data: the JWS payload is not JSON",
                                   field=f"{where}.data.payload") from exc
        field = f"{where}.data.payload"
        bio_value = b64decode(require(data, "bioValue", str, field=field),
                              field=f"{field}.bioValue", urlsafe=True)
        claimed = require(data, "previousHash", str, field=field, optional=True)
        if claimed is not None and claimed.strip().upper() != previous:
            raise MalformedPayload(f"{field}.previousHash does not match the previous capture's "
                                   "hash (broken hash chain)", field=f"{field}.previousHash")
        expected = chain_hash(previous, bio_value)
        actual = require(entry, "hash", str, field=where)
        if actual.strip().upper() != expected:
            raise MalformedPayload(
                f"{where}.hash does not match SHA256(previous hash || SHA256(bioValue)) over the "
                "raw digest bytes: the hash "
                "chain is broken (captures reordered, replaced or altered)", field=f"{where}.hash",
                fix="send the biometrics array exactly as the device service returned it",
            )
        self._biometric(capture, data, field, bio_value)
        return expected

    def _biometric(self, capture: Capture, data: dict, field: str, bio_value: bytes) -> None:
        bio_type = require(data, "bioType", str, field=field)
        quality = data.get("qualityScore")
        try:
            score = float(quality) if quality not in (None, "") else None
        except (TypeError, ValueError):
            score = None
        score = score if score is not None and 0 <= score <= 100 else None
        where = f"{field}.bioValue"
        if bio_type == "Finger":
            subtype = require(data, "bioSubType", str, field=field, optional=True) or ""
            if subtype not in SUBTYPES:
                raise MalformedPayload(f"{field}.bioSubType {subtype[:40]!r} is not a finger "
                                       "(e.g. 'Left IndexFinger')", field=f"{field}.bioSubType")
            width = height = None
            ppi = 500
            image, fmt = bio_value, sniff_format(bio_value)
            if bio_value[:4] == b"FIR\x00":
                image, fmt, width, height, ppi = unwrap_finger(bio_value, where)
            if fmt is None:
                if width is not None and height is not None:
                    check_dimensions(width, height, field=where)
                if width is None or height is None or len(image) != width * height:
                    raise MalformedPayload(f"{where}: raw pixels do not match the declared size",
                                           field=where)
                import numpy as np

                pixels = np.frombuffer(image, dtype=np.uint8).reshape(height, width).copy()
                image, source = encode_png(pixels), "raw"
            else:
                size = (width, height) if width and height else None
                pixels = decode_checked(image, field=where, mode="L", expected_format=fmt,
                                        expected_size=size).pixels
                source = fmt
            capture.fingers.append(FingerImage(position=SUBTYPES[subtype], image=image,
                                               pixels=pixels, ppi=ppi, device_quality=score,
                                               source_format=source))
        elif bio_type == "Face":
            image = unwrap_face(bio_value, where) if bio_value[:4] == b"FAC\x00" else bio_value
            decoded = decode_checked(image, field=where, mode="RGB")
            capture.faces.append(FaceImage(image=image, device_quality=score,
                                           source_format=decoded.format))
        else:
            raise MalformedPayload(f"{field}.bioType {bio_type[:20]!r} is not checked here "
                                   "(Finger or Face)", field=f"{field}.bioType",
                                   fix="send finger and face captures only")
        digital_id = _digital_id(data.get("digitalId"))
        device = capture.device
        device.serial = device.serial or _str(digital_id.get("serialNo"))
        device.model = device.model or " ".join(
            x for x in (_str(digital_id.get("make")), _str(digital_id.get("model"))) if x
        ) or _str(data.get("deviceCode"))
        device.firmware = device.firmware or _str(data.get("deviceServiceVersion"))
        device.captured_at = device.captured_at or _timestamp(data.get("timestamp"))
        capture.purpose = capture.purpose or _str(data.get("purpose"))


def _str(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) and value else None
