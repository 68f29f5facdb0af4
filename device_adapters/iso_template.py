"""ISO/IEC 19794-2:2005 finger minutiae records from devices that extract on board.

The body is one record or several records back to back; each record may hold several finger
views. Every view becomes one ``FingerTemplate`` holding a standalone single-view record (so the
matcher's ``matchers.iso19794.parse``, which reads the first view, sees exactly that finger).
Lengths are checked before slicing; errors name ``record[i].view[j].<field>``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from device_adapters._common import check_payload_size
from device_adapters.base import DeviceAdapter
from device_adapters.capture import Capture, FingerTemplate
from device_adapters.errors import MalformedPayload
from matchers import iso19794
from matchers.errors import TemplateError

HEADER = 24
VIEW_HEADER = 4
MAX_VIEWS = 20  # ten fingers, two views each


def split_records(payload: bytes) -> list[FingerTemplate]:
    """Split concatenated ISO 19794-2:2005 records into one single-view template per finger."""
    templates: list[FingerTemplate] = []
    offset, index = 0, 0
    if not payload:
        raise MalformedPayload("the body is empty", field="record[0]",
                               fix="send ISO/IEC 19794-2:2005 records ('FMR\\0', ' 20\\0')")
    while offset < len(payload):
        templates.extend(_split_one(payload, offset, index))
        offset += struct.unpack(">I", payload[offset + 8:offset + 12])[0]
        index += 1
    return templates


def _split_one(payload: bytes, offset: int, index: int) -> list[FingerTemplate]:
    where = f"record[{index}]"
    if len(payload) - offset < HEADER:
        raise MalformedPayload(f"{where}: {len(payload) - offset} bytes, a record header needs 24",
                               field=f"{where}.header")
    head = payload[offset:offset + HEADER]
    if head[:4] != b"FMR\x00":
        raise MalformedPayload(f"{where}.format: not 'FMR\\0' (not an ISO 19794-2 record)",
                               field=f"{where}.format")
    if head[4:8] != b" 20\x00":
        raise MalformedPayload(f"{where}.version: not ' 20\\0' (only the 2005 edition is read)",
                               field=f"{where}.version",
                               fix="send ISO/IEC 19794-2:2005 records")
    (length,) = struct.unpack(">I", head[8:12])
    if length < HEADER + VIEW_HEADER or offset + length > len(payload):
        _refuse_ansi_378(payload, offset, where)
        raise MalformedPayload(
            f"{where}.length: declares {length} bytes but {len(payload) - offset} remain",
            field=f"{where}.length", fix="set the record length to the record's size in bytes",
        )
    record = payload[offset:offset + length]
    width, height, xres, yres, nviews = struct.unpack(">HHHHB", head[14:23])
    if not 1 <= nviews <= MAX_VIEWS:
        raise MalformedPayload(f"{where}.views: {nviews} finger views (1..{MAX_VIEWS} accepted)",
                               field=f"{where}.views")
    templates = []
    pos = HEADER
    for view in range(nviews):
        vwhere = f"{where}.view[{view}]"
        if pos + VIEW_HEADER > length:
            raise MalformedPayload(f"{vwhere}: truncated view header", field=vwhere)
        position, _impression, quality, count = struct.unpack(">BBBB", record[pos:pos + 4])
        if position > 10:
            raise MalformedPayload(f"{vwhere}.position: {position} is not a finger code 0-10",
                                   field=f"{vwhere}.position")
        end = pos + VIEW_HEADER + 6 * count
        if end + 2 > length:
            raise MalformedPayload(
                f"{vwhere}.minutiae: {count} minutiae declared but the record ends first",
                field=f"{vwhere}.minutiae",
            )
        (extended,) = struct.unpack(">H", record[end:end + 2])
        if end + 2 + extended > length:
            raise MalformedPayload(f"{vwhere}.extended: {extended} bytes declared past the end",
                                   field=f"{vwhere}.extended")
        # A standalone single-view record: same header, view count 1, no extended data.
        body = record[pos:end] + b"\x00\x00"
        single = (b"FMR\x00 20\x00" + struct.pack(">I", HEADER + len(body)) + head[12:22]
                  + b"\x01\x00" + body)
        try:
            minutiae, _ = iso19794.parse(single)
        except TemplateError as exc:
            raise MalformedPayload(f"{vwhere}: {exc}", field=vwhere) from exc
        if len(minutiae) and (
            (width and float(minutiae[:, 0].max()) >= width)
            or (height and float(minutiae[:, 1].max()) >= height)
        ):
            raise MalformedPayload(
                f"{vwhere}.minutiae: a minutia lies outside the {width}x{height} image",
                field=f"{vwhere}.minutiae",
            )
        templates.append(FingerTemplate(position=position, iso_19794_2=single,
                                        device_quality=float(quality) if quality <= 100 else None))
        pos = end + 2 + extended
    if pos != length:
        raise MalformedPayload(
            f"{where}.length: declares {length} bytes but its views end at {pos}",
            field=f"{where}.length",
        )
    return templates


def _refuse_ansi_378(payload: bytes, offset: int, where: str) -> None:
    """Say so when the record is ANSI INCITS 378-2004, which shares ISO's first 8 bytes.

    ANSI 378 writes a 2-byte record length (or 0 and then 4 bytes) followed by a 4-byte CBEFF
    product id, so read as ISO the length is a nonsense number made of both.
    """
    remaining = len(payload) - offset
    short = struct.unpack(">H", payload[offset + 8:offset + 10])[0]
    extended = struct.unpack(">I", payload[offset + 10:offset + 14])[0] if short == 0 else None
    if 26 <= short <= remaining or (extended is not None and 26 <= extended <= remaining):
        declared = short or extended
        raise MalformedPayload(
            f"{where}: this is an ANSI INCITS 378-2004 minutiae record (2-byte record length "
            f"{declared} followed by a CBEFF product id), not ISO/IEC 19794-2:2005",
            field=f"{where}.format",
            fix="send ISO/IEC 19794-2:2005 records (most devices can be set to write ISO), or "
                "the finger images instead of templates",
        )


class IsoTemplateAdapter(DeviceAdapter):
    """ISO/IEC 19794-2:2005 minutiae records extracted on the device; matched without images."""

    name = "iso-template"
    content_types = ("application/x-iso-19794-2", "application/octet-stream")
    description = ("ISO/IEC 19794-2:2005 finger minutiae record(s) extracted on the device, "
                   "one template per finger view")

    def parse(self, payload: bytes, headers: Mapping[str, str]) -> Capture:
        self.check_content_type(headers)
        check_payload_size(payload)
        return Capture(templates=split_records(payload), adapter=self.name)
