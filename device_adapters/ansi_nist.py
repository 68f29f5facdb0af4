"""ANSI/NIST-ITL 1-2011 traditional encoding (INT-I, EBTS): reader adapter and writer.

Reads Type-1 (with its CNT list), Type-2, Type-4 and Type-14 finger images (WSQ, JPEG, JPEG 2000,
PNG or uncompressed 8-bit greyscale, per the compression field) and Type-10 face images. Other
record types are length-checked and skipped. The reader is our own, strict and bounded: every
record length is checked against the bytes present before anything is sliced, the CNT list must
match the records one for one, and every error names the record as ``Type-<t>[<i>]`` where ``i``
is the record's position in the transaction (the Type-1 record is ``[0]``) plus the field
number (``"Type-14[3].011"``). ``nistitl`` is used only to write (it computes the LEN and CNT
fields); its parser is too lenient for untrusted input (it accepts a CNT list whose types and
IDCs both differ from the records, and raises KeyError on unknown record types).

Device metadata and MRZ lines travel in FieldCheck's user-defined Type-2 fields (see
docs/ADAPTERS.md): 2.901 serial, 2.902 model, 2.903 firmware, 2.904 operator id, 2.905 latitude,
2.906 longitude, 2.907 capture time (ISO 8601), 2.908 purpose, 2.910 MRZ lines (one subfield each).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from device_adapters._common import (
    MAX_PIXELS,
    check_dimensions,
    check_payload_size,
    decode_checked,
    encode_png,
    image_size,
    sniff_format,
)
from device_adapters.base import DeviceAdapter
from device_adapters.capture import (
    Capture,
    DeviceInfo,
    FaceImage,
    FingerImage,
    SkippedRecord,
)
from device_adapters.errors import MalformedPayload
from device_adapters.mrz import parse_mrz
from device_adapters.slaps import (
    PLAIN_THUMBS,
    SLAP_FINGERS,
    SLAP_NAMES,
    SegmentationError,
    segment_slap,
)

log = logging.getLogger(__name__)

FS, GS, RS, US = b"\x1c", b"\x1d", b"\x1e", b"\x1f"
MAX_RECORDS = 1000
BINARY_TYPES = {3, 4, 5, 6, 7, 8}  # 4-byte length + 1-byte IDC headers, no tagged fields
TYPE4_HEADER = 18
PPMM_500 = 19.69  # 500 ppi in pixels per millimetre, the ANSI/NIST spelling
LOW_RES_PPI = 250  # Type-3 records at the minimum scanning resolution (ISR 0)
# Record types that carry biometric data the gateway does not search (others: text, skipped).
NOT_SEARCHED = {7: "user-defined image", 8: "signature", 9: "minutiae", 13: "latent image",
                15: "palm print", 16: "user-defined test image", 17: "iris image",
                99: "CBEFF biometric data"}

# Compression: the binary Type-4 GCA byte and the text CGA of Type-10/14 (ANSI/NIST Table 15).
_BINARY_COMPRESSION = {0: None, 1: "wsq", 2: "jpeg", 3: "jpeg", 4: "jp2", 5: "jp2", 6: "png"}
_TEXT_COMPRESSION = {
    "NONE": None, "WSQ20": "wsq", "WSQ": "wsq", "JPEGB": "jpeg", "JPEGL": "jpeg",
    "JP2": "jp2", "JP2L": "jp2", "PNG": "png",
    # Pre-2007 transactions used the numeric codes in the text field too.
    "0": None, "1": "wsq", "2": "jpeg", "3": "jpeg", "4": "jp2", "5": "jp2", "6": "png",
}
_CGA_FOR = {"wsq": "WSQ20", "jpeg": "JPEGB", "jp2": "JP2", "png": "PNG"}

# FieldCheck's user-defined Type-2 tags.
T2_SERIAL, T2_MODEL, T2_FIRMWARE, T2_OPERATOR = 901, 902, 903, 904
T2_LAT, T2_LON, T2_CAPTURED, T2_PURPOSE, T2_MRZ = 905, 906, 907, 908, 910

_LEN_FIELD = re.compile(rb"(\d{1,2})\.0{0,6}1:(\d{1,10})\x1d")
_TAG = re.compile(rb"(\d{1,2})\.(\d{1,9}):")


@dataclass
class Record:
    """One record as read: tagged fields as raw bytes, or the body of a binary record."""

    type: int
    index: int
    idc: int
    fields: dict[int, bytes] = field(default_factory=dict)
    body: bytes = b""  # binary records: everything after LEN and IDC
    # Faults found while splitting that matter only if the field is used (a repeated 999 in a
    # latent record the gateway skips must not refuse the transaction).
    defects: dict[int, MalformedPayload] = field(default_factory=dict)

    def image_field(self) -> bytes:
        """The 999 field, raising its defect (if any) now that it is needed."""
        if 999 in self.defects:
            raise self.defects[999]
        if 999 not in self.fields:
            raise MalformedPayload(f"{self.where(999)} (the image) is missing",
                                   field=self.where(999))
        return self.fields[999]

    @property
    def label(self) -> str:
        return f"Type-{self.type}[{self.index}]"

    def where(self, tag: int | str) -> str:
        return f"{self.label}.{tag:03d}" if isinstance(tag, int) else f"{self.label}.{tag}"

    def text(self, tag: int) -> str | None:
        value = self.fields.get(tag)
        return None if value is None else value.decode("latin-1")

    def integer(self, tag: int, *, required: bool = True, low: int = 0, high: int = 10**9) -> int:
        value = self.text(tag)
        if value is None or value == "":
            if required:
                raise MalformedPayload(f"{self.where(tag)} is missing", field=self.where(tag))
            return -1
        if not value.isdigit() or not low <= int(value) <= high:
            raise MalformedPayload(
                f"{self.where(tag)} must be an integer in {low}..{high}, got {value[:20]!r}",
                field=self.where(tag),
            )
        return int(value)


# --- reading ----------------------------------------------------------------------------------

def read_records(payload: bytes) -> list[Record]:
    """Split a transaction into records, checking every length and the CNT list."""
    if not payload.startswith(b"1.001:") and not payload.startswith(b"1.01:"):
        raise MalformedPayload(
            "the transaction does not start with a Type-1 record (expected '1.001:')",
            field="Type-1[0]", fix="send an ANSI/NIST-ITL traditional-encoding transaction",
        )
    first = _read_tagged(payload, 0, 1, 0)
    cnt = _read_cnt(first)
    records = [first]
    offset = len(_record_bytes(payload, 0, first))
    for index, (rtype, idc) in enumerate(cnt, start=1):
        if offset >= len(payload):
            raise MalformedPayload(
                f"Type-1.003 (CNT) lists {len(cnt)} records after Type-1 but only {index - 1} "
                "are present (the transaction is truncated)", field="Type-1[0].003",
            )
        if rtype in BINARY_TYPES:
            record, size = _read_binary(payload, offset, rtype, index)
        else:
            record = _read_tagged(payload, offset, rtype, index)
            size = int(_LEN_FIELD.match(payload, offset).group(2))  # type: ignore[union-attr]
        if record.idc != idc:
            raise MalformedPayload(
                f"{record.label}: IDC {record.idc} does not match {idc} in the CNT list",
                field=record.where(2), fix="make Type-1.003 list each record's type and IDC",
            )
        records.append(record)
        offset += size
    if offset != len(payload):
        raise MalformedPayload(
            f"{len(payload) - offset} bytes follow the last record listed in Type-1.003 (CNT)",
            field="Type-1[0].003", fix="list every record in CNT, or remove the extra bytes",
        )
    return records


def _record_bytes(payload: bytes, offset: int, record: Record) -> bytes:
    match = _LEN_FIELD.match(payload, offset)
    assert match is not None  # _read_tagged already matched it
    return payload[offset:offset + int(match.group(2))]


def _read_tagged(payload: bytes, offset: int, rtype: int, index: int) -> Record:
    label = f"Type-{rtype}[{index}]"
    match = _LEN_FIELD.match(payload, offset)
    if match is None:
        raise MalformedPayload(
            f"{label} does not start with its length field '{rtype}.001:'",
            field=f"{label}.001", fix="check the record lengths and the CNT list",
        )
    if int(match.group(1)) != rtype:
        raise MalformedPayload(
            f"{label}: the CNT list says Type-{rtype} but the record is Type-"
            f"{int(match.group(1))}", field="Type-1[0].003",
        )
    length = int(match.group(2))
    if length < match.end() - offset + 1:
        raise MalformedPayload(f"{label}.001: record length {length} is too small",
                               field=f"{label}.001")
    if offset + length > len(payload):
        raise MalformedPayload(
            f"{label}.001 declares {length} bytes but only {len(payload) - offset} remain "
            "(truncated transaction or wrong record length)", field=f"{label}.001",
        )
    data = payload[offset:offset + length]
    if data[-1:] != FS:
        raise MalformedPayload(
            f"{label}.001: record length {length} does not end on the record separator (FS)",
            field=f"{label}.001", fix="set each record's LEN to its exact size in bytes",
        )
    record = Record(type=rtype, index=index, idc=0)
    pos, end = 0, length - 1
    while pos < end:
        tag_match = _TAG.match(data, pos)
        if tag_match is None or int(tag_match.group(1)) != rtype:
            raise MalformedPayload(
                f"{label}: malformed field tag at byte {pos} of the record",
                field=f"{label}", fix="each field must start with '<type>.<number>:'",
            )
        tag = int(tag_match.group(2))
        if tag in record.fields:
            raise MalformedPayload(f"{label}.{tag:03d} appears twice", field=f"{label}.{tag:03d}")
        start = tag_match.end()
        # The image field (999) is binary and runs to the end of the record: GS/FS may occur
        # inside it, so it is never split.
        if tag == 999:
            defect = _fields_after_image(data, start, end, rtype, label)
            if defect is not None:
                record.defects[999] = defect
        stop = end if tag == 999 else data.find(GS, start, end)
        if stop < 0:
            stop = end
        record.fields[tag] = data[start:stop]
        pos = stop + 1
    if rtype != 1:
        record.idc = record.integer(2, low=0, high=255)
    return record


_SHORT_TEXT_THEN_TAG = re.compile(rb"([^\x1c\x1d]{0,40})\x1d(\d{1,2})\.(\d{1,9}):")


def _fields_after_image(data: bytes, start: int, end: int, rtype: int,
                        label: str) -> MalformedPayload | None:
    """The 999 field must be the record's last and only image field.

    A record that repeats 999 (NIST's valid1.5-1.7, 1.11, 1.16) or puts fields after it would
    otherwise hand "<text>GS<type>.999:<image>" to the image decoder, refused as "not an image".
    """
    match = _SHORT_TEXT_THEN_TAG.match(data, start, end)
    if match is None or int(match.group(2)) != rtype or sniff_format(data[start:start + 16]):
        return None
    tag = int(match.group(3))
    if tag == 999:
        return MalformedPayload(
            f"{label}.999 appears more than once: the record has a 999 field holding "
            f"{match.group(1)[:20]!r}, then another {rtype}.999 field", field=f"{label}.999",
            fix="send one image field (999), as the last field of the record",
        )
    return MalformedPayload(
        f"{label}.999 is not the last field: {rtype}.{tag:03d} follows the image field",
        field=f"{label}.999", fix="write the image field (999) last in the record",
    )


def _read_binary(payload: bytes, offset: int, rtype: int, index: int) -> tuple[Record, int]:
    label = f"Type-{rtype}[{index}]"
    minimum = TYPE4_HEADER if rtype == 4 else 5
    if offset + minimum > len(payload):
        raise MalformedPayload(f"{label}: truncated record header", field=f"{label}.001")
    length = int.from_bytes(payload[offset:offset + 4], "big")
    if length < minimum:
        raise MalformedPayload(f"{label}.001: record length {length} is below {minimum}",
                               field=f"{label}.001")
    if offset + length > len(payload):
        raise MalformedPayload(
            f"{label}.001 declares {length} bytes but only {len(payload) - offset} remain "
            "(truncated transaction or wrong record length)", field=f"{label}.001",
        )
    record = Record(type=rtype, index=index, idc=payload[offset + 4],
                    body=payload[offset + 5:offset + length])
    return record, length


def _read_cnt(first: Record) -> list[tuple[int, int]]:
    raw = first.fields.get(3)
    where = "Type-1[0].003"
    if not raw:
        raise MalformedPayload("Type-1.003 (CNT, the record list) is missing", field=where)
    subfields = raw.split(RS)
    if len(subfields) - 1 > MAX_RECORDS:
        raise MalformedPayload(f"CNT lists more than {MAX_RECORDS} records", field=where)
    items = [sub.split(US) for sub in subfields]
    if any(len(pair) != 2 or not all(x.isdigit() and len(x) <= 3 for x in pair) for pair in items):
        raise MalformedPayload("CNT subfields must be '<type>US<number>' pairs of integers",
                               field=where)
    if int(items[0][0]) != 1 or int(items[0][1]) != len(items) - 1:
        raise MalformedPayload(
            f"CNT's first subfield must be 1US{len(items) - 1} (the number of records that "
            f"follow), got {items[0][0].decode()}US{items[0][1].decode()}", field=where,
        )
    listed = [(int(t), int(i)) for t, i in items[1:]]
    for rtype, _ in listed:
        if rtype in (0, 1) or rtype > 99:
            raise MalformedPayload(f"CNT lists an invalid record type {rtype}", field=where)
    return listed


# --- records to capture -----------------------------------------------------------------------

def _parse_gmt(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _float(value: str | None, low: float, high: float) -> float | None:
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return number if number is not None and low <= number <= high else None


def _ntr_ppi(type1: Record) -> int:
    for tag in (12, 11):  # NTR (transmitting), then NSR (native scanning)
        ppmm = _float(type1.text(tag), 1.0, 400.0)
        if ppmm:
            return round(ppmm * 25.4)
    return 500


def _finger_from_type4(record: Record, ntr_ppi: int, capture: Capture) -> list[FingerImage]:
    """Type-4 (500 ppi grey) or Type-3 (low-resolution grey): same 18-byte binary header."""
    body = record.body  # after LEN (4) and IDC (1)
    position = body[1]  # first FGP byte; 255 marks an unused slot
    isr = body[7]
    width = int.from_bytes(body[8:10], "big")
    height = int.from_bytes(body[10:12], "big")
    gca = body[12]
    data = body[13:]
    if gca not in _BINARY_COMPRESSION:
        raise MalformedPayload(f"{record.label}.GCA: unknown compression code {gca}",
                               field=record.where("GCA"))
    if record.type == 3:
        # Low-resolution records: half the high-resolution rate (ISR 0: the 250 ppi minimum).
        ppi = round(ntr_ppi / 2) if isr == 1 else LOW_RES_PPI
    else:
        ppi = ntr_ppi if isr == 1 else 500
    if not _usable_position(record, position, capture):
        return []
    finger = _finger(record, position, width, height, _BINARY_COMPRESSION[gca], data, ppi,
                     quality=None, size_field=record.where("HLL"))
    return _single_fingers(record, finger, capture, hints=())


def _usable_position(record: Record, position: int, capture: Capture) -> bool:
    """Single fingers (0-10), plain thumbs (11, 12) and slaps (13-15) are read; others noted."""
    if position <= 15:
        return True
    kind = ("an entire-joint image, not a fingertip impression" if position == 19 else
            "not a single finger, plain thumb or slap (palm, joint or unknown area)")
    log.info("%s: skipping finger position %d (%s)", record.label, position, kind)
    capture.skipped.append(SkippedRecord(
        field=record.label, reason="not_a_fingertip",
        detail=f"finger position {position} is {kind}; it is not matched"))
    return False


def _single_fingers(record: Record, finger: FingerImage, capture: Capture,
                    hints: Sequence[tuple[int, int, int, int, int]]) -> list[FingerImage]:
    """A plain thumb becomes its finger; a slap its segmented fingertips (or a skipped note)."""
    fgp = finger.position
    if fgp in PLAIN_THUMBS:
        finger.position = PLAIN_THUMBS[fgp]
        finger.origin = f"{record.label} plain thumb (FGP {fgp})"
        return [finger]
    if fgp not in SLAP_FINGERS:
        return [finger]
    try:
        tips = segment_slap(finger.pixels, fgp, finger.ppi, hints)  # type: ignore[arg-type]
    except SegmentationError as exc:
        capture.skipped.append(SkippedRecord(
            field=record.label, reason="slap_not_segmented",
            detail=f"{exc}; send the fingers as single-finger records, or the slap with its "
                   "finger boxes (14.021)"))
        return []
    return [FingerImage(position=tip.position, image=encode_png(tip.pixels), pixels=tip.pixels,
                        ppi=finger.ppi, device_quality=None, source_format=finger.source_format,
                        origin=f"{record.label} {SLAP_NAMES[fgp]} (FGP {fgp}), {tip.source} "
                               f"box {tip.box}")
            for tip in tips]


def _seg_hints(record: Record) -> list[tuple[int, int, int, int, int]]:
    """Type-14 field 021 (SEG): finger, left, right, top, bottom per subfield; [] if unusable."""
    hints = []
    for sub in (record.text(21) or "").split("\x1e"):
        items = sub.split("\x1f")
        if len(items) != 5 or not all(item.isdigit() for item in items):
            return []
        position, left, right, top, bottom = (int(item) for item in items)
        hints.append((position, left, right, top, bottom))
    return hints


def _finger_from_type14(record: Record, capture: Capture) -> list[FingerImage]:
    fgp = (record.text(13) or "").split("\x1e")[0].split("\x1f")[0]
    if not fgp.isdigit() or int(fgp) > 255:
        raise MalformedPayload(f"{record.where(13)} (FGP) must be a finger position code",
                               field=record.where(13))
    position = int(fgp)
    if not _usable_position(record, position, capture):
        return []
    width = record.integer(6, low=1, high=99999)
    height = record.integer(7, low=1, high=99999)
    slc = record.integer(8, required=False, low=0, high=2)
    thps = record.integer(9, required=False, low=1, high=99999)
    ppi = 500
    if slc == 1 and thps > 0:
        ppi = thps
    elif slc == 2 and thps > 0:
        ppi = round(thps * 2.54)
    cga = (record.text(11) or "NONE").strip().upper()
    if cga not in _TEXT_COMPRESSION:
        raise MalformedPayload(f"{record.where(11)} (CGA): unknown compression {cga[:20]!r}",
                               field=record.where(11), fix="use NONE, WSQ20, JPEGB, JPEGL, JP2, "
                               "JP2L or PNG")
    bpx = record.integer(12, required=False, low=1, high=16)
    if _TEXT_COMPRESSION[cga] is None and bpx not in (-1, 8):
        raise MalformedPayload(f"{record.where(12)}: only 8-bit uncompressed images are read",
                               field=record.where(12))
    image = record.image_field()
    quality = _fqm_quality(record, position)
    finger = _finger(record, position, width, height, _TEXT_COMPRESSION[cga],
                     image, ppi, quality=quality, size_field=record.where(6))
    return _single_fingers(record, finger, capture, hints=_seg_hints(record))


def _fqm_quality(record: Record, position: int) -> float | None:
    for sub in (record.text(24) or "").split("\x1e"):
        items = sub.split("\x1f")
        if len(items) >= 2 and items[0] == str(position) and items[1].isdigit():
            value = int(items[1])
            return float(value) if value <= 100 else None  # 254/255: not computed / failed
    return None


def _finger(record: Record, position: int, width: int, height: int, fmt: str | None,
            data: bytes, ppi: int, *, quality: float | None, size_field: str) -> FingerImage:
    check_dimensions(width, height, field=size_field)
    where = record.where(999) if record.type != 4 else record.where("DATA")
    if fmt is None:
        if len(data) != width * height:
            raise MalformedPayload(
                f"{where}: {len(data)} bytes of uncompressed pixels but the record declares "
                f"{width}x{height} = {width * height}", field=where,
                fix="make HLL x VLL match the 8-bit pixel data",
            )
        pixels = np.frombuffer(data, dtype=np.uint8).reshape(height, width).copy()
        return FingerImage(position=position, image=encode_png(pixels), pixels=pixels, ppi=ppi,
                           device_quality=quality, source_format="raw")
    # A compressed image carries its own size, checked against the pixel limit before decoding;
    # when HLL/VLL disagree with it (NIST's valid1.8 declares 1800x1000 for 1600x976 WSQ
    # slaps) the image's own header is the truth and the record is still read.
    decoded = decode_checked(data, field=where, mode="L", expected_format=fmt)
    if decoded.pixels.shape[:2] != (height, width):
        log.info("%s: the image is %dx%d, the record declares %dx%d; using the image's size",
                 record.label, decoded.pixels.shape[1], decoded.pixels.shape[0], width, height)
    return FingerImage(position=position, image=bytes(data), pixels=decoded.pixels, ppi=ppi,
                       device_quality=quality, source_format=fmt)


def _face_from_type10(record: Record) -> FaceImage | None:
    imt = (record.text(3) or "").strip().upper()
    if imt != "FACE":
        return None  # scars, marks and tattoos are not faces
    width = record.integer(6, low=1, high=99999)
    height = record.integer(7, low=1, high=99999)
    check_dimensions(width, height, field=record.where(6))
    cga = (record.text(11) or "").strip().upper()
    if cga not in _TEXT_COMPRESSION or _TEXT_COMPRESSION[cga] == "wsq":
        raise MalformedPayload(f"{record.where(11)} (CGA): unsupported face compression "
                               f"{cga[:20]!r}", field=record.where(11),
                               fix="use JPEGB, JP2, PNG or NONE")
    data = record.image_field()
    if not data:
        raise MalformedPayload(f"{record.where(999)} (the image) is missing",
                               field=record.where(999))
    fmt = _TEXT_COMPRESSION[cga]
    quality = None
    sqs = (record.text(24) or "").split("\x1e")[0].split("\x1f")[0]
    if sqs.isdigit() and int(sqs) <= 100:
        quality = float(sqs)
    if fmt is None:
        csp = (record.text(12) or "GRAY").strip().upper()
        channels = 1 if csp == "GRAY" else 3
        if len(data) != width * height * channels:
            raise MalformedPayload(
                f"{record.where(999)}: {len(data)} bytes of uncompressed pixels but the record "
                f"declares {width}x{height}x{channels}", field=record.where(999),
            )
        shape = (height, width) if channels == 1 else (height, width, 3)
        pixels = np.frombuffer(data, dtype=np.uint8).reshape(shape)
        return FaceImage(image=encode_png(pixels), device_quality=quality, source_format="raw")
    decode_checked(data, field=record.where(999), mode="RGB", expected_format=fmt,
                   expected_size=(width, height))
    return FaceImage(image=bytes(data), device_quality=quality, source_format=fmt)


def _device_and_document(records: list[Record], capture: Capture) -> None:
    type1 = records[0]
    device = DeviceInfo(captured_at=_parse_gmt(type1.text(14)))
    for record in records:
        if record.type != 2:
            continue
        device.serial = record.text(T2_SERIAL) or device.serial
        device.model = record.text(T2_MODEL) or device.model
        device.firmware = record.text(T2_FIRMWARE) or device.firmware
        device.operator_id = record.text(T2_OPERATOR) or device.operator_id
        device.latitude = _float(record.text(T2_LAT), -90, 90)
        device.longitude = _float(record.text(T2_LON), -180, 180)
        device.captured_at = _parse_iso(record.text(T2_CAPTURED)) or device.captured_at
        capture.purpose = record.text(T2_PURPOSE) or capture.purpose
        mrz = record.text(T2_MRZ)
        if mrz:
            capture.document = parse_mrz(mrz.split("\x1e"), field=record.where(T2_MRZ))
    capture.device = device


def parse_transaction(payload: bytes) -> Capture:
    """Read an ANSI/NIST-ITL transaction into a Capture (raises AdapterError only)."""
    check_payload_size(payload)
    records = read_records(payload)
    capture = Capture(adapter=AnsiNistAdapter.name)
    ntr = _ntr_ppi(records[0])
    for record in records[1:]:
        if record.type in (3, 4):
            capture.fingers.extend(_finger_from_type4(record, ntr, capture))
        elif record.type == 14:
            capture.fingers.extend(_finger_from_type14(record, capture))
        elif record.type == 10:
            face = _face_from_type10(record)
            if face is not None:
                capture.faces.append(face)
        elif record.type in (5, 6):
            # 1-bit images (binarised prints): the matchers are not validated on them.
            capture.skipped.append(SkippedRecord(
                field=record.label, reason="binary_image",
                detail=f"Type-{record.type} holds a binary (1-bit) finger image, which is not "
                       "matched; send the grey-level Type-4/14 record"))
        elif record.type in NOT_SEARCHED:
            # Length-checked by read_records; noted so a transaction of only these is refused
            # naming them, not as if it were empty.
            capture.skipped.append(SkippedRecord(
                field=record.label, reason="not_searched",
                detail=f"Type-{record.type} ({NOT_SEARCHED[record.type]}) is not searched at a "
                       "field check"))
    _device_and_document(records, capture)
    return capture


class AnsiNistAdapter(DeviceAdapter):
    """ANSI/NIST-ITL 1-2011 traditional encoding (INT-I, EBTS): Type-4/14 fingers, Type-10 face."""

    name = "ansi-nist"
    content_types = ("application/x-ansi-nist", "application/octet-stream")
    description = (
        "ANSI/NIST-ITL 1-2011 transaction (INT-I/EBTS): Type-4/14 fingers (WSQ, JPEG, JPEG 2000, "
        "PNG, raw), Type-10 face, device data and MRZ in Type-2"
    )

    def parse(self, payload: bytes, headers: Mapping[str, str]) -> Capture:
        self.check_content_type(headers)
        return parse_transaction(payload)


# --- writing ----------------------------------------------------------------------------------

def _clean(value: object) -> str:
    # Separator bytes inside a text value would split the field: drop them.
    return "".join(ch for ch in str(value) if ch not in "\x1c\x1d\x1e\x1f")


def _finger_payload(finger: FingerImage, compression: str) -> tuple[bytes, str, int, int]:
    """(image bytes, CGA, width, height) for one finger, keeping the original when allowed."""
    data = finger.image
    fmt = sniff_format(data) if data else None
    if compression == "keep" and fmt in _CGA_FOR and data is not None:
        width, height = image_size(data)
        return data, _CGA_FOR[fmt], width, height
    pixels = finger.pixels
    if pixels is None:
        if data is None:
            raise ValueError(f"finger {finger.position} has neither image bytes nor pixels")
        decoded = decode_checked(data, field=f"finger[{finger.position}]", mode="L")
        pixels = decoded.pixels
    pixels = np.asarray(pixels, dtype=np.uint8)
    height, width = pixels.shape[:2]
    if compression == "wsq":
        from PIL import Image

        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="WSQ")
        return out.getvalue(), "WSQ20", width, height
    return encode_png(pixels), "PNG", width, height


def write_transaction(
    capture: Capture, *, tot: str = "FCHK", ori: str = "FIELDCHECK", dai: str = "INTERPOL",
    tcn: str | None = None, finger_compression: str = "keep",
) -> bytes:
    """Write ``capture`` as an ANSI/NIST-ITL 1-2011 transaction (Type-1, 2, 14 per finger, 10).

    ``finger_compression``: "keep" writes WSQ/JPEG/JPEG 2000/PNG bytes unchanged and other
    formats as lossless PNG (so a round trip gives the same pixels); "wsq" re-encodes every
    finger as WSQ (what INT-I asks for at 500 ppi); "png" writes lossless PNG.
    Templates are not written (no Type-9 support yet).
    """
    import nistitl

    if finger_compression not in ("keep", "wsq", "png"):
        raise ValueError("finger_compression must be 'keep', 'wsq' or 'png'")
    if capture.templates:
        log.warning("write_transaction: %d minutiae templates not written (no Type-9 support)",
                    len(capture.templates))
    when = capture.device.captured_at or datetime.now(UTC)
    when_utc = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    msg = nistitl.Message()
    type1 = msg[0]
    type1.VER = "0500"
    type1.TOT = _clean(tot)
    type1.DAT = when_utc.strftime("%Y%m%d")
    type1.DAI = _clean(dai)
    type1.ORI = _clean(ori)
    if tcn:
        type1.TCN = _clean(tcn)
    type1.NSR = f"{PPMM_500:05.2f}"
    type1.NTR = f"{PPMM_500:05.2f}"
    type1.GMT = when_utc.strftime("%Y%m%d%H%M%SZ")

    type2 = nistitl.AsciiRecord(2)
    type2.IDC = 0
    device = capture.device
    for tag, value in (
        (T2_SERIAL, device.serial), (T2_MODEL, device.model), (T2_FIRMWARE, device.firmware),
        (T2_OPERATOR, device.operator_id), (T2_LAT, device.latitude),
        (T2_LON, device.longitude),
        (T2_CAPTURED, device.captured_at.isoformat() if device.captured_at else None),
        (T2_PURPOSE, capture.purpose),
    ):
        if value is not None and value != "":
            setattr(type2, f"_{tag}", _clean(value))
    if capture.document and capture.document.mrz_lines:
        type2 += nistitl.Field(2, T2_MRZ, [_clean(line) for line in capture.document.mrz_lines])
    msg += type2

    idc = 1
    for finger in capture.fingers:
        data, cga, width, height = _finger_payload(finger, finger_compression)
        record = nistitl.AsciiRecord(14)
        record.IDC = idc
        record.IMP = "0"  # live-scan plain
        record.SRC = _clean(ori)
        record.FCD = when_utc.strftime("%Y%m%d")
        record.HLL = str(width)
        record.VLL = str(height)
        record.SLC = "1"  # pixels per inch
        record.THPS = str(finger.ppi or 500)  # unstated resolution: the standard 500 ppi
        record.TVPS = str(finger.ppi or 500)
        record.CGA = cga
        record.BPX = "8"
        record.FGP = str(finger.position)
        if finger.device_quality is not None:
            quality = int(max(0, min(100, round(finger.device_quality))))
            record += nistitl.Field(14, 24, [[str(finger.position), str(quality), "0000", "0000"]])
        record.DATA = data
        msg += record
        idc += 1
    for face in capture.faces:
        fmt = sniff_format(face.image)
        data = face.image
        if fmt not in ("jpeg", "jp2", "png"):
            decoded = decode_checked(face.image, field="face", mode="RGB")
            data, fmt = encode_png(decoded.pixels), "png"
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            colour = image.mode not in ("L", "1", "I;16")
        record = nistitl.AsciiRecord(10)
        record.IDC = idc
        record.IMT = "FACE"
        record.SRC = _clean(ori)
        record.PHD = when_utc.strftime("%Y%m%d")
        record.HLL = str(width)
        record.VLL = str(height)
        record.SLC = "0"
        record.THPS = "1"
        record.TVPS = "1"
        record.CGA = _CGA_FOR[fmt or "png"]
        record.CSP = "SRGB" if colour else "GRAY"
        if face.device_quality is not None:
            quality = int(max(0, min(100, round(face.device_quality))))
            record += nistitl.Field(10, 24, [[str(quality), "0000", "0000"]])
        record.DATA = data
        msg += record
        idc += 1
    return msg.NIST


__all__ = [
    "AnsiNistAdapter", "MAX_PIXELS", "Record", "parse_transaction", "read_records",
    "write_transaction",
]
