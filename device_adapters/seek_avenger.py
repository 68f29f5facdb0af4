"""Vendor-style JSON for the HID SEEK Avenger class of handhelds.

No public specification exists, so this is FieldCheck's own schema ``seek-avenger/1`` (documented
in docs/ADAPTERS.md). All knowledge of it sits in ``_read_*`` below: replacing it with the real
vendor format means rewriting these functions, not the rest of the gateway::

    {
      "schema": "seek-avenger/1",
      "device": {"serial": "SA4-00123", "model": "SEEK Avenger", "firmware": "4.2.1",
                 "operatorId": "MU-PF-0042"},
      "location": {"lat": -20.16, "lon": 57.50},
      "capturedAt": "2025-03-01T08:15:00Z",
      "purpose": "port entry",
      "fingers": [{"position": 2, "format": "wsq", "ppi": 500, "quality": 71,
                   "image": "<base64>"}],
      "face": {"format": "jpeg", "quality": 80, "image": "<base64>"},
      "mrz": ["P<UTOERIKSSON<<ANNA<MARIA<<<...", "L898902C36UTO7408122F1204159..."]
    }
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from device_adapters._common import (
    b64decode,
    check_payload_size,
    decode_checked,
    load_json,
    require,
)
from device_adapters.base import DeviceAdapter
from device_adapters.capture import Capture, DeviceInfo, FaceImage, FingerImage
from device_adapters.errors import MalformedPayload
from device_adapters.mrz import parse_mrz

SCHEMA = "seek-avenger/1"
MAX_FINGERS = 10
_FINGER_FORMATS = ("wsq", "jpeg", "jp2", "png")
_FACE_FORMATS = ("jpeg", "jp2", "png")


def _number(obj: dict, key: str, *, field: str, low: float, high: float) -> float | None:
    value = require(obj, key, (int, float), field=field, optional=True)
    if value is not None and not low <= value <= high:
        raise MalformedPayload(f"{field}.{key} must be in {low}..{high}", field=f"{field}.{key}")
    return None if value is None else float(value)


def _text(obj: dict, key: str, *, field: str) -> str | None:
    value = require(obj, key, str, field=field, optional=True)
    return value[:200] if value else None


def _timestamp(value: str | None, *, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedPayload(f"{field} is not an ISO 8601 time", field=field,
                               fix="send e.g. 2025-03-01T08:15:00Z") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _read_device(doc: dict) -> DeviceInfo:
    device = require(doc, "device", dict, field="", optional=True) or {}
    location = require(doc, "location", dict, field="", optional=True) or {}
    return DeviceInfo(
        serial=_text(device, "serial", field="device"),
        model=_text(device, "model", field="device") or "SEEK Avenger",
        firmware=_text(device, "firmware", field="device"),
        operator_id=_text(device, "operatorId", field="device"),
        latitude=_number(location, "lat", field="location", low=-90, high=90),
        longitude=_number(location, "lon", field="location", low=-180, high=180),
        captured_at=_timestamp(require(doc, "capturedAt", str, field="", optional=True),
                               field="capturedAt"),
    )


def _read_finger(item: Any, index: int) -> FingerImage:
    where = f"fingers[{index}]"
    position = require(item, "position", int, field=where)
    if not 0 <= position <= 10:
        raise MalformedPayload(f"{where}.position must be a finger code 0-10",
                               field=f"{where}.position")
    fmt = require(item, "format", str, field=where, optional=True) or "wsq"
    if fmt not in _FINGER_FORMATS:
        raise MalformedPayload(f"{where}.format must be one of {', '.join(_FINGER_FORMATS)}",
                               field=f"{where}.format")
    ppi = require(item, "ppi", int, field=where, optional=True) or 500
    if not 100 <= ppi <= 5000:
        raise MalformedPayload(f"{where}.ppi must be in 100..5000", field=f"{where}.ppi")
    data = b64decode(require(item, "image", str, field=where), field=f"{where}.image")
    decoded = decode_checked(data, field=f"{where}.image", mode="L", expected_format=fmt)
    return FingerImage(position=position, image=data, pixels=decoded.pixels, ppi=ppi,
                       device_quality=_number(item, "quality", field=where, low=0, high=100),
                       source_format=fmt)


def _read_face(item: Any) -> FaceImage:
    fmt = require(item, "format", str, field="face", optional=True) or "jpeg"
    if fmt not in _FACE_FORMATS:
        raise MalformedPayload(f"face.format must be one of {', '.join(_FACE_FORMATS)}",
                               field="face.format")
    data = b64decode(require(item, "image", str, field="face"), field="face.image")
    decode_checked(data, field="face.image", mode="RGB", expected_format=fmt)
    return FaceImage(image=data, device_quality=_number(item, "quality", field="face", low=0,
                                                        high=100), source_format=fmt)


def parse_seek(payload: bytes) -> Capture:
    check_payload_size(payload)
    doc = load_json(payload)
    if not isinstance(doc, dict):
        raise MalformedPayload("the body must be a JSON object", field="body")
    schema = require(doc, "schema", str, field="")
    if schema != SCHEMA:
        raise MalformedPayload(f"schema must be {SCHEMA!r}, got {schema[:40]!r}", field="schema",
                               fix=f"send {SCHEMA!r} documents to this adapter")
    fingers = require(doc, "fingers", list, field="", optional=True) or []
    if len(fingers) > MAX_FINGERS:
        raise MalformedPayload(f"at most {MAX_FINGERS} fingers per capture", field="fingers")
    capture = Capture(
        fingers=[_read_finger(item, i) for i, item in enumerate(fingers)],
        device=_read_device(doc),
        purpose=_text(doc, "purpose", field=""),
        adapter=SeekAvengerAdapter.name,
    )
    face = require(doc, "face", dict, field="", optional=True)
    if face is not None:
        capture.faces.append(_read_face(face))
    mrz = require(doc, "mrz", list, field="", optional=True)
    if mrz:
        capture.document = parse_mrz(mrz, field="mrz")
    return capture


class SeekAvengerAdapter(DeviceAdapter):
    """SEEK Avenger-class handheld JSON (FieldCheck schema seek-avenger/1)."""

    name = "seek-avenger"
    content_types = ("application/json", "application/vnd.fieldcheck.seek-avenger+json")
    description = ("SEEK Avenger-class handheld JSON (schema seek-avenger/1): WSQ fingers, "
                   "JPEG face, passport MRZ, operator and GPS")

    def parse(self, payload: bytes, headers: Mapping[str, str]) -> Capture:
        self.check_content_type(headers)
        return parse_seek(payload)
