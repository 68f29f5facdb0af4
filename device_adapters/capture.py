"""The canonical capture: what every device adapter produces and the gateway checks.

A ``Capture`` is plain data with no behaviour beyond validation helpers. Adapters fill it from
whatever the device sent (multipart form, ANSI/NIST-ITL, MOSIP SBI JSON, vendor JSON, ISO
templates); the gateway never looks at the original payload again.

Finger positions follow ANSI/NIST-ITL codes: 0 unknown, 1-5 right thumb..little,
6-10 left thumb..little.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

FINGER_POSITIONS: dict[int, str] = {
    0: "unknown",
    1: "right thumb",
    2: "right index",
    3: "right middle",
    4: "right ring",
    5: "right little",
    6: "left thumb",
    7: "left index",
    8: "left middle",
    9: "left ring",
    10: "left little",
}


@dataclass
class FingerImage:
    """One finger image as encoded bytes (PNG/JPEG/TIFF/WSQ/JP2/raw already decoded to PNG).

    ``image`` holds bytes that OpenCV or Pillow (with the ``wsq`` plugin) can decode, or
    ``pixels`` holds an already decoded 8-bit greyscale array (adapters for raw formats).
    """

    position: int
    image: bytes | None = None
    pixels: object | None = None  # numpy.ndarray (H, W) uint8, kept untyped to avoid a numpy import
    ppi: int | None = None  # None: the image's own declared resolution, else 500
    device_quality: float | None = None
    source_format: str = "unknown"
    origin: str | None = None  # e.g. "Type-14[2] right four-finger slap (FGP 13), ..."


@dataclass
class FingerTemplate:
    """A minutiae template extracted on the device (ISO/IEC 19794-2:2005 record bytes)."""

    position: int
    iso_19794_2: bytes
    device_quality: float | None = None


@dataclass
class FaceImage:
    """One face photo as encoded bytes (JPEG, PNG, JPEG 2000...)."""

    image: bytes
    device_quality: float | None = None
    source_format: str = "unknown"


@dataclass
class DocumentData:
    """Travel document data read from an ICAO 9303 machine-readable zone."""

    mrz_lines: list[str]
    document_type: str | None = None
    issuing_state: str | None = None
    document_number: str | None = None
    nationality: str | None = None
    surname: str | None = None
    given_names: str | None = None
    birth_date: str | None = None  # ISO 8601 date
    sex: str | None = None
    expiry_date: str | None = None  # ISO 8601 date
    valid: bool = True
    errors: list[str] = field(default_factory=list)  # e.g. ["document_number check digit"]
    mrz_format: str | None = None  # "TD1", "TD2", "TD3", "MRV-A", "MRV-B"

    def as_dict(self) -> dict[str, object]:
        """The document as a check answer shows it (no raw MRZ lines)."""
        return {
            "valid": self.valid, "errors": list(self.errors), "mrz_format": self.mrz_format,
            "document_type": self.document_type, "issuing_state": self.issuing_state,
            "document_number": self.document_number, "nationality": self.nationality,
            "surname": self.surname, "given_names": self.given_names,
            "birth_date": self.birth_date, "sex": self.sex, "expiry_date": self.expiry_date,
        }


@dataclass
class DeviceInfo:
    """Who captured, with what, where and when (all optional: devices differ)."""

    serial: str | None = None
    model: str | None = None
    firmware: str | None = None
    operator_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    captured_at: datetime | None = None


@dataclass
class SkippedRecord:
    """A biometric record the adapter read but could not turn into a capture, and why.

    The check reports these (``quality``), and names them when nothing else was usable, so a
    transaction of slaps the gateway cannot segment is not refused as if it had no fingers.
    """

    field: str  # the record, as adapter errors name it: "Type-14[4]"
    reason: str  # a code: "slap_not_segmented", "not_a_fingertip", "binary_image"...
    detail: str  # one sentence for the integrator


@dataclass
class Capture:
    """Everything one check carries, whatever device format it came in."""

    fingers: list[FingerImage] = field(default_factory=list)
    templates: list[FingerTemplate] = field(default_factory=list)
    faces: list[FaceImage] = field(default_factory=list)
    document: DocumentData | None = None
    device: DeviceInfo = field(default_factory=DeviceInfo)
    purpose: str | None = None
    adapter: str = "multipart"
    skipped: list[SkippedRecord] = field(default_factory=list)

    @property
    def has_biometrics(self) -> bool:
        return bool(self.fingers or self.templates or self.faces)
